"""Recurrent (GRU) MAPPO policies: they remember where feed-forward ones cannot, in training
(vector env runner), in exported policies (``load_policy``'s ``TorchPolicy``, per-row state) and
as frozen partners (state per env copy)."""

from __future__ import annotations

import numpy as np
import torch

from diverse_marl import load_policy
from diverse_marl.algorithms.mappo.config import MAPPOConfig
from diverse_marl.algorithms.mappo.export import TorchPolicy
from diverse_marl.algorithms.mappo.networks import MODEL_DEFAULTS, make_actor
from diverse_marl.algorithms.mappo.sampler import VectorMultiAgentEnvRunner
from diverse_marl.rollout import play_batched

VECTOR = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
MEMORY = {
    "num_agents": 2,
    "num_cues": 2,
    "delay": 1,
    "max_delay": 3,
}  # best memoryless team return: 2 x 1/2 = 1.0; perfect: 2.0
ITERATIONS = 8  # about 4,000 env steps


def _gru_policy(seed: int = 0) -> TorchPolicy:
    torch.manual_seed(seed)
    cfg = {**MODEL_DEFAULTS, "use_gru": True, "gru_hidden": 6, "actor_hiddens": [8], "actor_head_gain": 1.0}
    return TorchPolicy(make_actor(4, 3, cfg), policy_id="p", obs_shape=(4,), num_actions=3, gru_hidden=6)


def test_torch_policy_keeps_gru_state_per_row_key_and_resets_single_rows():
    rng = np.random.default_rng(0)
    seqs = rng.normal(size=(3, 5, 4)).astype(np.float32)  # 3 rows x 5 steps
    alone = []
    for r in range(3):  # reference: each row played alone from a fresh state
        p = _gru_policy()
        alone.append(np.stack([p.logits(seqs[r, t][None])[0] for t in range(5)]))
    p = _gru_policy()
    got = np.zeros((3, 5, 3), np.float32)
    for t in range(5):  # rows act in changing subsets and orders, keyed by row index
        for rows in ([2, 0], [1]):
            got[rows, t] = p.logits(seqs[rows, t], rows=rows)
    np.testing.assert_allclose(got, np.stack(alone), rtol=1e-5, atol=1e-6)
    p.reset(rows=[1])  # row 1 starts a new episode, rows 0 and 2 continue
    again = p.logits(seqs[:, 0], rows=[0, 1, 2])
    np.testing.assert_allclose(again[1], alone[1][0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(again[0], alone[0][0], atol=1e-4)


def _train(use_gru: bool, seed: int = 0):
    options = {
        "env_runner_cls": VECTOR,
        "use_gru": use_gru,
        "gru_hidden": 32,
        "hidden_sizes": [32],
        "max_seq_len": 4,
        "lr": 3e-3,
        "critic_lr": 3e-3,
        "num_envs_per_env_runner": 32,
        "train_batch_size": 512,
        "num_epochs": 8,
        "num_minibatches": 2,
    }
    algo = MAPPOConfig.from_options("memory_task", MEMORY, options, seed=seed).build_algo()
    returns = [algo.train()["env_runners"]["episode_return_mean"] for _ in range(ITERATIONS)]
    return algo, returns


def test_memory_task_is_solved_by_gru_not_by_feed_forward(ray_local, tmp_path):
    algo, ff = _train(use_gru=False)
    algo.stop()
    assert max(ff) <= 1.3, f"a memoryless policy cannot beat 1.0 on average: {ff}"
    algo, gru = _train(use_gru=True)
    try:
        assert np.mean(gru[-2:]) >= 1.8, f"GRU policy did not learn to remember the cue: {gru}"
        checkpoint = algo.save_to_path(str(tmp_path / "ckpt"))
    finally:
        algo.stop()

    # the exported policy remembers too: one GRU state per row of a batched rollout
    policy = load_policy(checkpoint, seed=0)
    episodes = play_batched(
        "memory_task", MEMORY, {"agent_0": policy, "agent_1": policy}, episodes=64, seed=3, deterministic=True
    )
    assert np.mean([sum(e["returns"].values()) for e in episodes]) >= 1.9

    # ... and as a frozen partner: two pool entries split the env copies anew every episode, so each
    # must keep its state per copy (and forget it when that copy's episode starts)
    cfg = MAPPOConfig.from_options(
        "memory_task", MEMORY, {"env_runner_cls": VECTOR, "num_envs_per_env_runner": 8, "hidden_sizes": [8]}, seed=1
    ).partners({"from": [checkpoint, checkpoint], "seats": ["agent_1"]})
    runner = VectorMultiAgentEnvRunner(config=cfg)
    try:
        runner.sample(num_timesteps=8 * 4 * 8, explore=False)
        m = runner.get_metrics()
        joint = np.mean([m[f"episode/partner_return/{name}"].peek() for name in ("ckpt", "ckpt#2")])
        partner_seat = joint - m["episode_return_mean"].peek()  # the module's seat: agent_0
        assert partner_seat >= 0.9, f"the GRU partner forgot its cue: {partner_seat:.2f} per episode"
    finally:
        runner.stop()

"""Tests for the batched env layer (envs/batched.py) and the fast MAPPO sampler (algorithms/mappo/sampler.py)."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo import ParallelEnv

from diverse_marl.envs import list_envs, register
from diverse_marl.envs.batched import SyncBatchedEnv, derive_seed, make_batched
from diverse_marl.errors import ConfigError

OBS_DIM = 3
N_ACTIONS = 3


class ToyEnv(ParallelEnv):
    """Three agents; "c" dies after ``c_life`` steps; the episode truncates at ``horizon``.

    Observations depend on the seed (random start) and on every action, so a wrong
    action routing or a wrong seed shows up in the numbers. Reward of agent k = its action
    times (k+1) plus a random part.
    """

    metadata = {"name": "toy_v0"}

    def __init__(self, horizon: int = 5, c_life: int = 2):
        self.possible_agents = ["a", "b", "c"]
        self.horizon, self.c_life = horizon, c_life
        self._obs_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self._act_space = gym.spaces.Discrete(N_ACTIONS)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def reset(self, seed=None, options=None):
        if seed is not None or not hasattr(self, "rng"):
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        self.x = self.rng.normal(size=OBS_DIM).astype(np.float32)
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def _obs(self, agent):
        k = self.possible_agents.index(agent)
        return (self.x + k).astype(np.float32)

    def step(self, actions):
        self.t += 1
        noise = float(self.rng.normal())
        for k, a in enumerate(self.possible_agents):
            if a in actions:
                self.x[k % OBS_DIM] += actions[a] + 0.1 * noise
        rew = {a: float(actions[a] * (k + 1)) + noise for k, a in enumerate(self.possible_agents) if a in actions}
        term = {a: (a == "c" and self.t >= self.c_life) for a in actions}
        trunc = {a: self.t >= self.horizon for a in actions}
        obs = {a: self._obs(a) for a in actions}
        self.agents = [a for a in self.agents if not (term[a] or trunc[a])]
        return obs, rew, term, trunc, {a: {} for a in actions}


if "test_toy" not in list_envs():
    register("test_toy", ToyEnv)


def _stack(per_env):
    return np.stack(per_env)


def test_sync_batched_equals_stepping_envs_one_by_one():
    n, seed, steps = 3, 11, 13
    batched = SyncBatchedEnv([lambda: ToyEnv(horizon=5, c_life=2) for _ in range(n)])
    refs = [ToyEnv(horizon=5, c_life=2) for _ in range(n)]
    obs, infos = batched.reset(seed=seed)
    ref_obs = [r.reset(seed=derive_seed(seed, i))[0] for i, r in enumerate(refs)]
    for a in batched.possible_agents:
        np.testing.assert_allclose(obs[a], _stack([o[a] for o in ref_obs]))
    rng = np.random.default_rng(0)
    for _ in range(steps):
        acts = {a: rng.integers(0, N_ACTIONS, n) for a in batched.possible_agents}
        obs, rew, term, trunc, infos = batched.step(acts)
        for i, r in enumerate(refs):
            acting = list(r.agents)
            o, rw, te, tr, _ = r.step({a: int(acts[a][i]) for a in acting})
            for a in acting:
                assert rew[a][i] == pytest.approx(rw[a], rel=1e-6)
                assert term[a][i] == te[a] and trunc[a][i] == tr[a]
            done = not r.agents
            assert infos["done"][i] == done
            if done:
                for a in acting:
                    np.testing.assert_allclose(infos["final_obs"][a][i], o[a])
                o, _ = r.reset()  # unseeded: continues the env's own random stream
                for a in batched.possible_agents:
                    np.testing.assert_allclose(obs[a][i], o[a])
            else:
                for a in batched.possible_agents:
                    if a in r.agents:
                        np.testing.assert_allclose(obs[a][i], o[a])
                    assert infos["alive"][a][i] == (a in r.agents)


def test_auto_reset_padding_and_episode_totals():
    batched = SyncBatchedEnv([lambda: ToyEnv(horizon=4, c_life=2) for _ in range(2)])
    obs, infos = batched.reset(seed=0)
    assert all(infos["alive"][a].all() for a in batched.possible_agents)
    returns = {a: np.zeros(2) for a in batched.possible_agents}
    ones = {a: np.ones(2, np.int64) for a in batched.possible_agents}
    for t in range(1, 5):
        obs, rew, term, trunc, infos = batched.step(ones)
        for a in batched.possible_agents:
            returns[a] += rew[a]
        if t == 2:  # "c" just terminated: last obs is real, it is not alive any more
            assert term["c"].all() and not infos["alive"]["c"].any()
            assert np.abs(obs["c"]).sum() > 0
        if t == 3:  # dead agent: padded with zeros, zero reward, terminated
            assert (obs["c"] == 0).all() and (rew["c"] == 0).all() and term["c"].all()
            assert infos["alive"]["a"].all() and not infos["done"].any()
    assert infos["done"].all() and trunc["a"].all()
    assert (infos["episode"]["length"] == 4).all()
    for a in batched.possible_agents:
        np.testing.assert_allclose(infos["episode"][f"return/{a}"], returns[a])
    # after the same-step reset every agent is alive again with a fresh observation
    assert all(infos["alive"][a].all() for a in batched.possible_agents)
    assert not np.allclose(obs["a"], infos["final_obs"]["a"])
    state = batched.state()  # all observations + one-hot agent id (MAPPO adapter's rule)
    assert state["a"].shape == (2, 3 * OBS_DIM + 3)
    joint = np.concatenate([obs["a"], obs["b"], obs["c"]], axis=1)
    np.testing.assert_allclose(state["a"], np.concatenate([joint, np.tile([1, 0, 0], (2, 1))], axis=1))
    np.testing.assert_allclose(state["c"][:, -3:], np.tile([0, 0, 1], (2, 1)))
    assert batched.state_space("a").shape == (3 * OBS_DIM + 3,)


def test_same_seed_same_numbers_and_illegal_action():
    runs = []
    for _ in range(2):
        b = make_batched("test_toy", 4, horizon=3)
        obs, _ = b.reset(seed=5)
        runs.append(obs["a"].copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0][0], runs[0][1])  # copies get different seeds
    b = make_batched("test_toy", 2)
    b.reset(seed=0)
    with pytest.raises(ConfigError, match="illegal action 7 for agent 'b'"):
        b.step({"a": np.zeros(2, int), "b": np.array([0, 7]), "c": np.zeros(2, int)})


class _NativeEnv(ToyEnv):
    """A ParallelEnv that advertises a native batched class via ``batched``."""

    @classmethod
    def batched(cls, num_envs, **kw):
        env = SyncBatchedEnv([lambda: cls(**kw) for _ in range(num_envs)])
        env.native = True
        return env


def test_make_batched_prefers_native_class_and_checks_options():
    if "test_native" not in list_envs():
        register("test_native", _NativeEnv)
    env = make_batched("test_native", 3, horizon=2)
    assert getattr(env, "native", False) and env.num_envs == 3
    assert not hasattr(make_batched("test_toy", 2), "native")
    with pytest.raises(ConfigError, match="unknown option 'bogus'"):
        make_batched("test_native", 2, bogus=1)
    with pytest.raises(ConfigError, match="num_envs"):
        make_batched("test_toy", 0)


def test_batched_envs_follow_the_protocol():
    from diverse_marl.envs.batched import BatchedEnv

    for env in (make_batched("test_toy", 2), make_batched("overcooked", 2), make_batched("hide_and_seek", 2)):
        assert isinstance(env, BatchedEnv), type(env).__name__
    assert not isinstance(ToyEnv(), BatchedEnv)  # a plain ParallelEnv has no num_envs / state()


class _GlobalStateToy(ToyEnv):
    """PettingZoo's classic global state: ``state_space`` is a Space, ``state()`` one array."""

    state_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)

    def state(self):
        return np.array([self.t, self.x.sum()], np.float32)


class _AgentStateToy(ToyEnv):
    """Per-agent states through ``state(agent)`` (a required argument) and ``state_space(agent)``."""

    def state_space(self, agent):
        return gym.spaces.Box(-np.inf, np.inf, (2, 2), np.float32)

    def state(self, agent):
        k = self.possible_agents.index(agent)
        return np.array([[self.t, k], [self.x[0], -k]], np.float32)


@pytest.mark.parametrize(
    "env_cls,source", [(ToyEnv, "concat"), (_GlobalStateToy, "env_global"), (_AgentStateToy, "env_agent")]
)
def test_one_global_state_rule_for_batched_env_and_mappo_adapter(env_cls, source):
    """SyncBatchedEnv and MAPPO's observation adapter compute the same critic input (one rule)."""
    from diverse_marl.algorithms.mappo.env import MAPPOObservationAdapter

    n = 2
    batched = SyncBatchedEnv([lambda: env_cls(horizon=4, c_life=2) for _ in range(n)])
    refs = [env_cls(horizon=4, c_life=2) for _ in range(n)]
    adapter = MAPPOObservationAdapter(refs[0], "state")
    assert adapter.state_source == source
    obs, _ = batched.reset(seed=3)
    ref_obs = [r.reset(seed=derive_seed(3, i))[0] for i, r in enumerate(refs)]
    for _ in range(3):  # "c" leaves after 2 steps: its observation turns to zeros in everyone's state
        states = batched.state()
        for i, r in enumerate(refs):
            ref = adapter(r, ref_obs[i])
            for a in batched.possible_agents:
                assert batched.state_space(a).shape == adapter.observation_space(a)["state"].shape
                if a in ref:
                    np.testing.assert_allclose(states[a][i], ref[a]["state"], rtol=1e-6)
        acts = {a: np.full(n, 1) for a in batched.possible_agents}
        obs, *_ = batched.step(acts)
        ref_obs = [r.step({a: 1 for a in r.agents})[0] for r in refs]  # as MAPPOEnv hands them over


class _StatsToy(ToyEnv):
    """Reports numeric episode totals on its last step, like built-in envs' ``episode_stats``."""

    def step(self, actions):
        obs, rew, term, trunc, infos = super().step(actions)
        if not self.agents:
            for a in infos:
                infos[a] = {
                    "episode_stats": {"moves": float(self.t * 10 + len(a)), "label": "not a number"},
                    "episode_events": {"hits": 2},
                }
        return obs, rew, term, trunc, infos


def test_sync_batched_env_keeps_user_episode_statistics():
    batched = SyncBatchedEnv([lambda: _StatsToy(horizon=3, c_life=5) for _ in range(2)])
    batched.reset(seed=0)
    for _ in range(3):
        _, _, _, _, infos = batched.step({a: np.zeros(2, int) for a in batched.possible_agents})
    assert infos["done"].all()
    np.testing.assert_array_equal(infos["episode"]["a/moves"], [31.0, 31.0])
    np.testing.assert_array_equal(infos["episode"]["c/hits"], [2.0, 2.0])
    assert "a/label" not in infos["episode"]


class _FeatureToy(ToyEnv):
    """Reports its action as a reward feature, so that ``reward_weights`` can replace its reward."""

    def step(self, actions):
        obs, rew, term, trunc, infos = super().step(actions)
        for a in infos:
            infos[a]["reward_features"] = {"action": float(actions[a])}
        return obs, rew, term, trunc, infos


def test_sync_batched_env_reports_original_rewards_beside_weighted_ones():
    if "test_feature_toy" not in list_envs():
        register("test_feature_toy", _FeatureToy)
    batched = make_batched("test_feature_toy", 2, horizon=3, c_life=5, reward_weights={"action": 2.0})
    ref = _FeatureToy(horizon=3, c_life=5)
    batched.reset(seed=4)
    ref.reset(seed=derive_seed(4, 0))
    total = 0.0
    for _ in range(3):
        acts = {a: np.array([1, 2]) for a in batched.possible_agents}
        _, rew, _, _, infos = batched.step(acts)
        _, ref_rew, *_ = ref.step({a: 1 for a in ref.agents})
        for a in batched.possible_agents:
            assert rew[a][0] == 2.0 and rew[a][1] == 4.0  # weighted: 2 * action
            assert infos["original_reward"][a][0] == pytest.approx(ref_rew[a], rel=1e-6)
            total += ref_rew[a]
    assert infos["done"].all()
    assert infos["episode"]["original_return"][0] == pytest.approx(total, rel=1e-5)
    assert infos["episode"]["return/a"][0] == 6.0


# ------------------------------------------------------------------------------------------
# VectorMultiAgentEnvRunner
# ------------------------------------------------------------------------------------------
import ray  # noqa: E402
from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode  # noqa: E402

from diverse_marl.algorithms.mappo.sampler import VectorMultiAgentEnvRunner  # noqa: E402

SHARED = "shared"


def _to_shared(agent_id, episode=None, **kwargs):
    return SHARED


def _ppo_config(num_envs=3, horizon=5, c_life=2, num_env_runners=0, batch=40):
    return (
        PPOConfig()
        .environment("test_toy", env_config={"horizon": horizon, "c_life": c_life})
        .env_runners(
            env_runner_cls=VectorMultiAgentEnvRunner, num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs
        )
        .multi_agent(policies={SHARED}, policy_mapping_fn=_to_shared)
        .training(train_batch_size_per_learner=batch, minibatch_size=batch, num_epochs=1)
        .debugging(seed=0)
    )


class Recorder:
    """Wraps a batched env and keeps every reset/step result (for building reference episodes)."""

    def __init__(self, env):
        self.env, self.log = env, []

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, seed=None):
        obs, infos = self.env.reset(seed=seed)
        self.log.append(("reset", obs, infos))
        return obs, infos

    def step(self, actions):
        out = self.env.step(actions)
        self.log.append(("step", {a: np.array(v) for a, v in actions.items()}, *out))
        return out


def _reference_episodes(log, agents, num_envs):
    """Per copy: complete/ongoing MultiAgentEpisodes built step by step with RLlib's own API."""
    eps = [[] for _ in range(num_envs)]
    alive = None
    for entry in log:
        if entry[0] == "reset":
            _, obs, infos = entry
            alive = {a: infos["alive"][a].copy() for a in agents}
            for i in range(num_envs):
                ep = MultiAgentEpisode(agent_to_module_mapping_fn=_to_shared)
                ep.add_env_reset(observations={a: obs[a][i] for a in agents if alive[a][i]})
                eps[i].append(ep)
            continue
        _, actions, obs, rew, term, trunc, infos = entry
        for i in range(num_envs):
            acting = [a for a in agents if alive[a][i]]
            done = bool(infos["done"][i])
            src = infos["final_obs"] if done else obs
            all_term = done and all(term[a][i] for a in acting)
            terms = {a: bool(term[a][i]) for a in acting}
            truncs = {a: bool(trunc[a][i]) and not terms[a] for a in acting}
            terms["__all__"], truncs["__all__"] = all_term, done and not all_term
            eps[i][-1].add_env_step(
                observations={a: src[a][i] for a in acting},
                actions={a: int(actions[a][i]) for a in acting},
                rewards={a: float(rew[a][i]) for a in acting},
                terminateds=terms,
                truncateds=truncs,
            )
            flags = eps[i][-1].custom_data.setdefault("env_flags", {})
            flags.update({a: (terms[a], truncs[a]) for a in acting})
            if done:
                ep = MultiAgentEpisode(agent_to_module_mapping_fn=_to_shared)
                ep.add_env_reset(observations={a: obs[a][i] for a in agents if infos["alive"][a][i]})
                eps[i].append(ep)
        alive = {a: infos["alive"][a].copy() for a in agents}
    return eps


def _joined(chunks, agent):
    """Concatenate one agent's data over the chunks of one episode."""
    obs, acts, rews = [], [], []
    for c in chunks:
        sa = c.agent_episodes.get(agent)
        if sa is None:
            continue
        o = np.asarray(sa.get_observations())
        obs.append(o if not obs else o[1:])
        acts.append(np.asarray(sa.get_actions()))
        rews.append(np.asarray(sa.get_rewards()))
    last = [c.agent_episodes[agent] for c in chunks if agent in c.agent_episodes][-1]
    return np.concatenate(obs), np.concatenate(acts), np.concatenate(rews), last


@pytest.fixture(scope="module")
def ray_local():
    # remote env runners import this file (ToyEnv, policy mapping) by module name
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    if ray.is_initialized():  # a Ray started by other tests lacks this runtime_env: restart it
        ray.shutdown()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": tests_dir + os.pathsep + os.environ.get("PYTHONPATH", "")}},
    )
    yield
    ray.shutdown()


def test_bulk_episodes_equal_rllib_step_by_step_episodes(ray_local):
    """Episodes built in bulk hold exactly what RLlib's add_env_step would have stored."""
    n = 3
    runner = VectorMultiAgentEnvRunner(config=_ppo_config(num_envs=n, horizon=5, c_life=2))
    runner.env = Recorder(runner.env)
    ours = []
    for num in (12, 9, 15):  # 4, 3, 5 batched steps: chunk cuts fall mid-episode
        ours += runner.sample(num_timesteps=num, explore=True)
    ref = _reference_episodes(runner.env.log, runner.agents, n)
    by_id = {}
    for ep in ours:
        by_id.setdefault(ep.id_, []).append(ep)
    ref_flat = [ep for per_env in ref for ep in per_env if ep.env_t > 0]
    assert len(by_id) == len(ref_flat)
    total_env_steps = sum(len(c) for chunks in by_id.values() for c in chunks)
    assert total_env_steps == (4 + 3 + 5) * n
    # match our episodes to reference ones by their first observation of agent "a"
    for chunks in by_id.values():
        chunks.sort(key=lambda c: c.env_t_started)
        first_obs = np.asarray(chunks[0].agent_episodes["a"].get_observations(0))
        matches = [
            r
            for r in ref_flat
            if np.array_equal(r.agent_episodes["a"].get_observations(0), first_obs)
            and len(r) == sum(len(c) for c in chunks)
        ]
        assert len(matches) >= 1
        r = matches[0]
        assert chunks[-1].is_done == r.is_done and chunks[-1].is_truncated == r.is_truncated
        for agent, sa_ref in r.agent_episodes.items():
            obs, acts, rews, last = _joined(chunks, agent)
            np.testing.assert_allclose(obs, np.asarray(sa_ref.get_observations()))
            np.testing.assert_array_equal(acts, np.asarray(sa_ref.get_actions()))
            np.testing.assert_allclose(rews, np.asarray(sa_ref.get_rewards()), rtol=1e-6)
            # Per-agent done flags are the env's own. (RLlib's add_env_step would also mark "a"/"b",
            # truncated by the horizon, as terminated once "c" terminated earlier - it then
            # declares the whole episode terminated - which would skip their value bootstrap.)
            assert (last.is_terminated, last.is_truncated) == r.custom_data["env_flags"][agent]
        for c in chunks:  # logp/dist inputs recorded per agent step
            for sa in c.agent_episodes.values():
                assert len(sa.get_extra_model_outputs(Columns.ACTION_LOGP)) == len(sa)
                assert sa.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS).shape == (len(sa), N_ACTIONS)
    # agent "c" dies after 2 steps: a complete episode has 2 steps of "c", terminated
    done_eps = [chunks for chunks in by_id.values() if chunks[-1].is_done and chunks[0].env_t_started == 0]
    assert done_eps
    for chunks in done_eps:
        _, acts, _, last = _joined(chunks, "c")
        assert len(acts) == 2 and last.is_terminated
    runner.stop()


def _peek(tree):
    """Reduced MetricsLogger output (Stats objects) -> plain numbers."""
    if isinstance(tree, dict):
        return {k: _peek(v) for k, v in tree.items()}
    return tree.peek() if hasattr(tree, "peek") else tree


def test_metrics_match_env_totals_and_weights_sync(ray_local):
    runner = VectorMultiAgentEnvRunner(config=_ppo_config(num_envs=4, horizon=3))
    runner.env = Recorder(runner.env)
    runner.sample(num_timesteps=4 * 7)
    m = _peek(runner.get_metrics())
    finished = [(e[6]["episode"], e[6]["done"]) for e in runner.env.log if e[0] == "step" and e[6]["done"].any()]
    returns = np.concatenate([sum(ep[f"return/{a}"] for a in runner.agents)[done] for ep, done in finished])
    assert m["num_env_steps_sampled"] == 28
    assert m["num_episodes"] == len(returns) == 8
    assert m["episode_return_mean"] == pytest.approx(returns.mean(), rel=1e-5)
    assert m["episode_len_mean"] == 3
    assert m["num_agent_steps_sampled"]["c"] == 8 * 2 + 4 * 1  # 8 done episodes + 4 running ones (1 step)
    # weights: set_state with a newer seq number replaces the module, an older one does not
    state = runner.get_state()
    params = state["rl_module"][SHARED]
    key = next(iter(params))
    bumped = {k: v + 1.0 for k, v in params.items()}
    runner.set_state({"rl_module": {SHARED: bumped}, "weights_seq_no": 3})
    np.testing.assert_allclose(runner.get_state()["rl_module"][SHARED][key], params[key] + 1.0)
    runner.set_state({"rl_module": {SHARED: params}, "weights_seq_no": 2})
    np.testing.assert_allclose(runner.get_state()["rl_module"][SHARED][key], params[key] + 1.0)
    runner.stop()


def test_runner_logs_user_env_episode_statistics(ray_local):
    if "test_stats_toy" not in list_envs():
        register("test_stats_toy", _StatsToy)
    cfg = _ppo_config(num_envs=2, horizon=3).environment("test_stats_toy", env_config={"horizon": 3, "c_life": 5})
    runner = VectorMultiAgentEnvRunner(config=cfg)
    runner.sample(num_timesteps=2 * 6)
    m = _peek(runner.get_metrics())
    assert m["episode/a/moves"] == 31.0 and m["episode/b/hits"] == 2.0
    assert "episode/a/label" not in m
    runner.stop()


def test_train_local_runner_reports_rllib_keys(ray_local):
    algo = _ppo_config(num_envs=4, horizon=5, batch=40).build_algo()
    try:
        results = [algo.train() for _ in range(2)]
        er = results[-1]["env_runners"]
        assert er["num_env_steps_sampled"] == 40
        assert np.isfinite(er["episode_return_mean"]) and er["episode_len_mean"] == 5
        assert np.isfinite(results[-1]["learners"][SHARED]["policy_loss"])
    finally:
        algo.stop()


def test_train_with_remote_runner_syncs_weights(ray_local):
    algo = _ppo_config(num_envs=4, horizon=5, num_env_runners=1, batch=40).build_algo()
    try:
        res = algo.train()
        assert res["env_runners"]["num_env_steps_sampled"] == 40
        learner_w = algo.learner_group.get_state(components="learner/rl_module/shared")
        learner_w = learner_w["learner"]["rl_module"][SHARED]
        remote_w = algo.env_runner_group.foreach_env_runner(
            lambda r: r.get_state(components="rl_module")["rl_module"][SHARED], local_env_runner=False
        )[0]
        for k, v in remote_w.items():
            np.testing.assert_allclose(v, learner_w[k], rtol=1e-6)
    finally:
        algo.stop()


def test_mappo_config_with_vector_runner_matches_mappo_env_observations(ray_local):
    """MAPPO's dict observations (actor obs + centralized state) are the same on both sampling paths."""
    from diverse_marl.algorithms.mappo.config import MAPPOConfig
    from diverse_marl.algorithms.mappo.env import MAPPOEnv
    from diverse_marl.envs.testbeds import CreditAssignmentEnv

    env_config = {"num_agents": 2, "episode_length": 6, "early_termination": True}
    cfg = MAPPOConfig.from_options(
        "credit_assignment",
        env_config,
        {
            "env_runner_cls": "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner",
            "num_envs_per_env_runner": 4,
            "train_batch_size": 48,
            "num_epochs": 1,
        },
        seed=3,
    )
    algo = cfg.build_algo()
    try:
        runner = algo.env_runner
        episodes = runner.sample(num_timesteps=4 * 6, explore=True)
        firsts = {}
        for ep in episodes:
            assert ep.env_t_started == 0 and ep.is_done  # 6 steps = one whole episode per copy
            firsts[ep.id_] = {a: sa.get_observations(0) for a, sa in ep.agent_episodes.items()}
        refs = []
        for i in range(4):
            ref_env = MAPPOEnv(CreditAssignmentEnv(**env_config), critic_input="state")
            refs.append(ref_env.reset(seed=derive_seed(3, i))[0])
        for first in firsts.values():
            match = [r for r in refs if all(np.array_equal(r[a]["state"], first[a]["state"]) for a in r)]
            assert match, "episode start differs from MAPPOEnv's observation dicts"
            for a in first:
                np.testing.assert_array_equal(first[a]["obs"], match[0][a]["obs"])
        # the second agent leaves halfway: 3 agent steps, terminated; the first one is truncated at 6
        lens = {a: len(sa) for a, sa in episodes[0].agent_episodes.items()}
        assert sorted(lens.values()) == [3, 6]
        res = algo.train()
        assert res["env_runners"]["num_env_steps_sampled"] == 24 + 48  # our manual sample() + the iteration
        assert np.isfinite(res["learners"]["shared"]["vf_loss"])
    finally:
        algo.stop()


from ray.rllib.callbacks.callbacks import RLlibCallback  # noqa: E402


class CountEpisodeEnds(RLlibCallback):
    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs):
        metrics_logger.log_value("ended_env_steps", len(episode), reduce="sum")


def test_sample_num_episodes_returns_complete_episodes(ray_local):
    runner = VectorMultiAgentEnvRunner(config=_ppo_config(num_envs=3, horizon=4).callbacks(CountEpisodeEnds))
    episodes = runner.sample(num_episodes=5, explore=False)
    assert len(episodes) == 5
    assert all(ep.is_done and ep.env_t_started == 0 and len(ep) == 4 for ep in episodes)
    # 3 copies run 2 episodes each (6 end, 5 are returned); the callback saw every end
    assert _peek(runner.get_metrics())["ended_env_steps"] == 6 * 4
    runner.stop()


def _per_episode_mapping(agent_id, episode=None, **kwargs):
    """Random-looking per-episode assignment of agents to two policies (as in population play)."""
    import zlib

    return f"p{(zlib.crc32(episode.id_.encode()) + ord(agent_id)) % 2}"


def test_per_episode_policy_mapping_acts_with_the_mapped_module(ray_local):
    import torch

    cfg = _ppo_config(num_envs=3, horizon=3).multi_agent(policies={"p0", "p1"}, policy_mapping_fn=_per_episode_mapping)
    runner = VectorMultiAgentEnvRunner(config=cfg)
    episodes = runner.sample(num_timesteps=3 * 7, explore=True)  # episodes start mid-rollout
    used = set()
    for ep in episodes:
        for a, sa in ep.agent_episodes.items():
            assert sa.module_id == _per_episode_mapping(a, ep)
            used.add(sa.module_id)
            obs = torch.as_tensor(np.asarray(sa.get_observations())[:-1])
            with torch.no_grad():
                logits = runner.module[sa.module_id].forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
            np.testing.assert_allclose(
                sa.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS), logits.numpy(), rtol=1e-5, atol=1e-6
            )
    assert used == {"p0", "p1"}
    runner.stop()


# ---- recurrent modules and action masks: the vector runner's episodes equal RLlib's stock runner's ----
MEMORY_ENV = {"num_agents": 2, "num_cues": 3, "delay": 2}  # 4-step episodes, random cues at reset only


def _memory_algo(use_gru: bool, action_masking: bool):
    from diverse_marl.algorithms.mappo.config import MAPPOConfig

    options = {
        "use_gru": use_gru,
        "gru_hidden": 8,
        "hidden_sizes": [8],
        "max_seq_len": 3,
        "num_envs_per_env_runner": 1,
        "train_batch_size": 40,
        "num_epochs": 1,
    }
    return MAPPOConfig.from_options(
        "memory_task", {**MEMORY_ENV, "action_masking": action_masking}, options, seed=0
    ).build_algo()


def _episode_data(chunks):
    """Per agent: observations (dict of arrays), actions, rewards, dist inputs, state_out over the chunks."""
    out = {}
    for agent in chunks[0].agent_episodes:
        parts = [c.agent_episodes[agent] for c in chunks if agent in c.agent_episodes]
        obs = [sa.get_observations() for sa in parts]
        d = {
            "obs": {k: np.concatenate([obs[0][k]] + [o[k][1:] for o in obs[1:]]) for k in obs[0]},
            "actions": np.concatenate([sa.get_actions() for sa in parts]),
            "rewards": np.concatenate([sa.get_rewards() for sa in parts]),
            "logits": np.concatenate([sa.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS) for sa in parts]),
            "terminated": parts[-1].is_terminated,
        }
        if Columns.STATE_OUT in parts[0].extra_model_outputs:
            outs = [sa.get_extra_model_outputs(Columns.STATE_OUT) for sa in parts]
            d["state_out"] = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
        out[agent] = d
    return out


def _start_key(data):
    return tuple(tuple(np.asarray(d["obs"]["obs"][0]).tolist()) for _, d in sorted(data.items()))


@pytest.mark.parametrize(
    "use_gru,action_masking", [(True, False), (False, True), (True, True)], ids=["gru", "masked", "gru+masked"]
)
def test_vector_runner_episodes_equal_stock_runner_episodes(ray_local, use_gru, action_masking):
    """Same module weights, greedy actions, deterministic dynamics after the (random) reset: an episode
    is fixed by its start, so the vector runner's episodes - cut into chunks mid-episode, with the
    recurrent state carried per copy and reset at each copy's episode boundary - must hold exactly
    what RLlib's stock MultiAgentEnvRunner stores for the episode with the same start."""
    algo = _memory_algo(use_gru, action_masking)
    try:
        stock = algo.env_runner
        reference = {}
        for ep in stock.sample(num_episodes=60, explore=False):
            ep.to_numpy()
            data = _episode_data([ep])
            reference.setdefault(_start_key(data), data)
        cfg = algo.config.copy(copy_frozen=False).env_runners(
            env_runner_cls=VectorMultiAgentEnvRunner, num_envs_per_env_runner=3
        )
        fast = VectorMultiAgentEnvRunner(config=cfg)
        fast.module.set_state(stock.module.get_state())
        chunks = []
        for num in (6, 9, 15, 9):  # 2, 3, 5, 3 steps per copy: cuts fall mid-episode
            chunks += fast.sample(num_timesteps=num, explore=False)
        by_id = {}
        for c in chunks:
            by_id.setdefault(c.id_, []).append(c)
        compared = continued = 0
        for eps in by_id.values():
            eps.sort(key=lambda c: c.env_t_started)
            if eps[0].env_t_started != 0 or not eps[-1].is_done:
                continue
            for c in eps:  # RLlib's env-step accessors work on every chunk (they map to global agent steps)
                last_obs, infos = c.get_observations(-1), c.get_infos()
                for agent, sa in c.agent_episodes.items():
                    np.testing.assert_array_equal(last_obs[agent]["obs"], sa.get_observations(-1)["obs"])
                    assert len(infos[agent]) == len(sa) + 1
            data = _episode_data(eps)
            ref = reference.get(_start_key(data))
            if ref is None:
                continue
            compared += 1
            for agent, d in data.items():
                r = ref[agent]
                for k in r["obs"]:
                    np.testing.assert_allclose(d["obs"][k], r["obs"][k], rtol=1e-6, atol=1e-6)
                np.testing.assert_array_equal(d["actions"], r["actions"])
                np.testing.assert_array_equal(d["rewards"], r["rewards"])
                np.testing.assert_allclose(d["logits"], r["logits"], rtol=1e-5, atol=1e-5)
                assert d["terminated"] == r["terminated"]
                assert ("state_out" in d) == use_gru == ("state_out" in r)
                if use_gru:
                    for k in r["state_out"]:
                        np.testing.assert_allclose(d["state_out"][k], r["state_out"][k], rtol=1e-5, atol=1e-6)
                    for c in eps[1:]:  # a continued chunk carries the state before its first step
                        sa = c.agent_episodes.get(agent)
                        if sa is None or sa.t_started == 0:
                            continue
                        continued += 1
                        prev = sa.get_extra_model_outputs(Columns.STATE_OUT, -1, neg_index_as_lookback=True)
                        for k in prev:
                            np.testing.assert_allclose(prev[k], r["state_out"][k][sa.t_started - 1], rtol=1e-5)
        assert compared >= 3
        assert continued > 0 or not use_gru
        fast.stop()
    finally:
        algo.stop()


def test_vector_runner_never_samples_masked_actions_and_trains(ray_local, tmp_path):
    """Exploring (and random) actions stay legal - the env raises on an illegal one - and a GRU
    MAPPO module trains on the vector runner's masked episodes."""
    from diverse_marl.algorithms.mappo.config import MAPPOConfig

    options = {
        "use_gru": True,
        "gru_hidden": 8,
        "hidden_sizes": [8],
        "max_seq_len": 3,
        "num_envs_per_env_runner": 4,
        "train_batch_size": 48,
        "num_epochs": 2,
        "env_runner_cls": "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner",
    }
    algo = MAPPOConfig.from_options("memory_task", {**MEMORY_ENV, "action_masking": True}, options, seed=1).build_algo()
    try:
        runner = algo.env_runner
        episodes = runner.sample(num_timesteps=4 * 60, explore=True) + runner.sample(
            num_timesteps=40, random_actions=True
        )
        legal = 0
        for ep in episodes:
            for sa in ep.agent_episodes.values():
                masks = np.asarray(sa.get_observations()["action_mask"])[:-1]
                acts = np.asarray(sa.get_actions())
                assert (masks[np.arange(len(acts)), acts] > 0).all()
                legal += len(acts)
        assert legal >= 2 * (4 * 60 + 40) // 4 * 4 - 8  # nearly every step of both agents was checked
        res = algo.train()
        assert np.isfinite(res["learners"]["shared"]["policy_loss"])
        checkpoint = algo.save_to_path(str(tmp_path / "ckpt"))
    finally:
        algo.stop()
    # the exported policy masks too: sampled (not greedy) actions in a batched rollout stay legal
    from diverse_marl import load_policy
    from diverse_marl.rollout import play_batched

    policy = load_policy(checkpoint, seed=0)
    episodes = play_batched(
        "memory_task",
        {**MEMORY_ENV, "action_masking": True},
        {"agent_0": policy, "agent_1": policy},
        episodes=64,
        seed=2,
    )
    assert len(episodes) == 64 and all(e["length"] == MEMORY_ENV["delay"] + 2 for e in episodes)

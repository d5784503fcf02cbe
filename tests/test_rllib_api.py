"""RLlib users' way in, and the private RLlib surface MAPPO depends on.

- The docs' RLlib-style block (docs/configs.md, "The RLlib way") runs exactly as written (builder chain, ``build_algo``,
  ``tune.Tuner(MAPPO, param_space=config)``), with a tiny budget.
- Registered names and ``pkg.module:factory`` resolve in the builder chain; every MAPPO option
  is settable through ``.training(...)``; bad values fail with a ConfigError.
- ``ray[rllib]`` is pinned to the tested minor release (setup.py); the private RLlib methods
  MAPPO overrides or calls keep the signatures it was written against, and the private
  attributes it reads exist. A failure names the override to revisit.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from diverse_marl.algorithms.mappo.config import OPTIONS, MAPPOConfig
from diverse_marl.algorithms.mappo.sampler import VectorMultiAgentEnvRunner
from diverse_marl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DOCS_MARKER = "<!-- tests/test_rllib_api.py runs this block as written -->"
DOCS_PAGE = ROOT / "docs" / "configs.md"
TESTED_RAY_MINOR = "2.60"


def docs_snippet() -> str:
    text = DOCS_PAGE.read_text(encoding="utf-8")
    assert DOCS_MARKER in text, f"{DOCS_PAGE.name} lost the RLlib-style block this test runs"
    after = text.split(DOCS_MARKER, 1)[1]
    match = re.match(r"\s*```python\n(.*?)\n```", after, re.S)
    assert match, "the marker must be followed by a ```python block"
    return match.group(1)


# ---- the docs block ---------------------------------------------------------------------------
def test_docs_rllib_snippet_runs_as_written(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the block writes Tune results under ./runs/tune
    namespace: dict = {"__name__": "docs_snippet"}
    exec(compile(docs_snippet(), str(DOCS_PAGE), "exec"), namespace)

    algo, results = namespace["algo"], namespace["results"]
    assert namespace["result"]["env_runners"]["num_env_steps_sampled"] >= 2000
    assert algo.config.env_runner_cls is VectorMultiAgentEnvRunner  # the default where it applies
    assert algo.config.mappo_env == {"env": "overcooked", "critic_input": "state"}
    assert not results.errors
    assert sorted(r.config["entropy_coeff"] for r in results) == [0.0, 0.01]
    assert all(r.metrics["env_runners"]["num_env_steps_sampled"] >= 2000 for r in results)
    assert (tmp_path / "runs" / "tune").is_dir()
    assert "env steps" in capsys.readouterr().out


# ---- builder chain ------------------------------------------------------------------------------
def test_builder_resolves_registered_names_with_mappo_options():
    config = (
        MAPPOConfig()
        .environment("stag_hunt", env_config={"horizon": 5})
        .training(
            lr=1e-3, train_batch_size=100, hidden_sizes=[16, 8], critic_input="obs", value_norm=False, critic_lr=2e-3
        )
    )
    config.validate()
    assert config.env.startswith("diverse_marl_mappo/stag_hunt")
    assert config.train_batch_size_per_learner == 100 and config.lr == 1e-3 and config.critic_lr == 2e-3
    spec = config.rl_module_spec.rl_module_specs["shared"]
    assert spec.model_config["actor_hiddens"] == [16, 8] and spec.model_config["value_norm"] is False
    assert "state" not in spec.observation_space.spaces  # critic_input="obs": no global state
    assert config.env_runner_cls is VectorMultiAgentEnvRunner
    config.validate()  # resolving twice is harmless
    # the YAML path builds the same config
    same = MAPPOConfig.from_options(
        "stag_hunt",
        {"horizon": 5},
        {
            "lr": 1e-3,
            "train_batch_size": 100,
            "hidden_sizes": [16, 8],
            "critic_input": "obs",
            "value_norm": False,
            "critic_lr": 2e-3,
        },
        seed=0,
    )
    assert same.option_values() == config.option_values()
    assert same.mappo_export == config.mappo_export


def test_tune_trial_config_round_trip_resolves_module_options():
    """What a Tune trial does with ``param_space=config``: ``to_dict()``, search spaces replaced by
    the trial's values, ``update_from_dict`` on a fresh default config, ``validate()``."""
    from ray import tune

    from diverse_marl.algorithms.mappo.config import MAPPO

    config = (
        MAPPOConfig()
        .environment("stag_hunt", env_config={"horizon": 5})
        .training(hidden_sizes=tune.grid_search([[8], [32, 32]]), lr=tune.grid_search([1e-3, 1e-4]))
    )
    trial = config.to_dict()
    trial["mappo_build"]["hidden_sizes"], trial["lr"] = [32, 32], 1e-4  # what Tune resolves for one trial
    resolved = MAPPO.get_default_config().update_from_dict(trial)
    resolved.validate()
    assert resolved.lr == 1e-4
    assert resolved.rl_module_spec.rl_module_specs["shared"].model_config["actor_hiddens"] == [32, 32]
    assert resolved.env_runner_cls is VectorMultiAgentEnvRunner


def test_builder_import_path_env_trains(ray_local):
    config = (
        MAPPOConfig()
        .environment("diverse_marl.envs.matrix_games:StagHuntEnv", env_config={"horizon": 5})
        .training(train_batch_size=80, num_epochs=1, hidden_sizes=[8], num_envs_per_env_runner=4)
        .debugging(seed=1)
    )
    algo = config.build_algo()
    try:
        result = algo.train()
    finally:
        algo.stop()
    assert result["env_runners"]["num_env_steps_sampled"] >= 80
    assert "shared" in result["learners"]


def test_runner_default_is_fast_where_it_applies():
    def runner(**options):
        return MAPPOConfig.from_options("stag_hunt", {"horizon": 5}, options, seed=0).env_runner_cls

    assert OPTIONS["env_runner_cls"][0] == "auto"
    assert runner() is VectorMultiAgentEnvRunner
    assert runner(env_runner_cls=None) is None  # RLlib's MultiAgentEnvRunner
    recurrent_ok = getattr(VectorMultiAgentEnvRunner, "supports_recurrent", False)
    assert (runner(use_gru=True) is VectorMultiAgentEnvRunner) == recurrent_ok


def test_user_env_by_import_path_trains_on_the_fast_runner_by_default(ray_local, monkeypatch):
    """The default config on a user's own env (examples/user_env/rendezvous_env.py, by import path): the fast
    runner, with episodes (10 steps) cut across sample calls (8 steps per copy) and the episode
    callback reading the chunk that ends each one."""
    from diverse_marl.config import load_config

    monkeypatch.syspath_prepend(str(ROOT / "examples" / "user_env"))
    cfg = load_config(
        {
            "algorithm": "mappo",
            "env": "rendezvous_env:RendezvousEnv",
            "seed": 0,
            "training": {"train_batch_size": 64, "num_epochs": 1, "hidden_sizes": [8]},
        }
    )
    config = cfg.to_rllib()
    assert config.env_runner_cls is VectorMultiAgentEnvRunner and config.num_envs_per_env_runner == 8
    algo = config.build_algo()
    try:
        results = [algo.train() for _ in range(3)]
    finally:
        algo.stop()
    runners = results[-1]["env_runners"]
    assert sum(r["env_runners"]["num_env_steps_sampled"] for r in results) >= 3 * 64
    assert runners["num_episodes_lifetime"] >= 8 and "episode/original_return" in runners


@pytest.mark.parametrize(
    "options,match",
    [
        ({"policy_mapping": "everyone"}, "unknown policy_mapping 'everyone'; allowed: shared, team, agent"),
        ({"hidden_sizes": []}, "hidden_sizes"),
        ({"env_runner_cls": "no_such_module:Runner"}, "cannot import env_runner_cls"),
    ],
)
def test_builder_bad_option_values_fail_at_build(options, match):
    config = MAPPOConfig().environment("stag_hunt").training(**options)
    with pytest.raises(ConfigError, match=match):
        config.validate()


def test_builder_unknown_training_keyword_names_the_options():
    with pytest.raises(ConfigError, match=r"learning_rate.*MAPPO options: .*hidden_sizes"):
        MAPPOConfig().training(learning_rate=1e-3)


# ---- pinned RLlib and its private surface ------------------------------------------------------
def test_setup_pins_the_tested_ray_minor():
    import ray

    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    assert '"ray[rllib]>=2.60.0,<2.61"' in setup
    assert ray.__version__.startswith(TESTED_RAY_MINOR + "."), (
        f"tests run on ray {ray.__version__}; MAPPO is tested on {TESTED_RAY_MINOR}.x (setup.py pin)"
    )


# (owner "module:Class", method, expected parameters without annotations, who depends on it)
PRIVATE_METHODS = [
    (
        "ray.rllib.core.learner.learner:Learner",
        "_create_iterator_if_necessary",
        "(self, *, training_data, num_total_minibatches=0, num_epochs=1, minibatch_size=None, "
        "shuffle_batch_per_epoch=False, **kwargs)",
        "MAPPOTorchLearner._create_iterator_if_necessary overrides it (MAPPO's epoch minibatching)",
    ),
    (
        "ray.rllib.core.learner.learner:Learner",
        "_make_batch_if_necessary",
        "(self, training_data)",
        "MAPPOTorchLearner._create_iterator_if_necessary calls it",
    ),
    (
        "ray.rllib.core.learner.learner:Learner",
        "_set_slicing_by_batch_id",
        "(self, batch, *, value)",
        "MAPPOTorchLearner._create_iterator_if_necessary calls it",
    ),
    # public but young: async_sampling's request bookkeeping relies on their tag semantics
    (
        "ray.rllib.env.env_runner_group:EnvRunnerGroup",
        "foreach_env_runner_async",
        "(self, func, tag=None, *, kwargs=None, healthy_only=True, remote_worker_ids=None)",
        "overlapped_sampling.OverlappedSampler.launch calls it",
    ),
    (
        "ray.rllib.env.env_runner_group:EnvRunnerGroup",
        "fetch_ready_async_reqs",
        "(self, *, tags=None, timeout_seconds=0.0, return_obj_refs=False, mark_healthy=False)",
        "overlapped_sampling.OverlappedSampler.collect calls it",
    ),
]


def plain_signature(fn) -> str:
    """A signature without annotations: names, kinds and defaults are what callers depend on."""
    parts, star = [], False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if p.kind is p.VAR_POSITIONAL:
            parts.append("*" + p.name)
            star = True
        elif p.kind is p.VAR_KEYWORD:
            parts.append("**" + p.name)
        else:
            parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return "(" + ", ".join(parts) + ")"


def resolve(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("owner,method,expected,who", PRIVATE_METHODS, ids=[m for _, m, _, _ in PRIVATE_METHODS])
def test_private_rllib_signatures_unchanged(owner, method, expected, who):
    fn = getattr(resolve(owner), method, None)
    assert fn is not None, f"RLlib's {owner}.{method} is gone; {who}: port that code to the new RLlib"
    got = plain_signature(fn)
    assert got == expected, (
        f"RLlib changed the signature of private {owner}.{method}: {got}, was {expected}; "
        f"{who}: review that override against the new RLlib"
    )


def test_mappo_override_matches_and_is_still_called():
    from ray.rllib.core.learner.learner import Learner

    from diverse_marl.algorithms.mappo.learner import MAPPOTorchLearner

    ours = plain_signature(MAPPOTorchLearner._create_iterator_if_necessary)
    assert ours == plain_signature(Learner._create_iterator_if_necessary), (
        "MAPPOTorchLearner._create_iterator_if_necessary no longer matches RLlib's signature"
    )
    assert "self._create_iterator_if_necessary(" in inspect.getsource(Learner.update), (
        "RLlib's Learner.update no longer calls _create_iterator_if_necessary: MAPPO's minibatching "
        "override (MAPPOTorchLearner._create_iterator_if_necessary) would be silently skipped"
    )


def test_private_rllib_attributes_exist(ray_local):
    """Private attributes MAPPO reads, on real objects (a tiny built MAPPO algorithm)."""
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
    from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
    from ray.rllib.policy.sample_batch import SampleBatch
    from ray.tune import registry

    algo = MAPPOConfig.from_options(
        "stag_hunt", {"horizon": 5}, {"train_batch_size": 40, "hidden_sizes": [8]}, seed=0
    ).build_algo()
    try:
        learner = algo.learner_group._learner  # MAPPO.learner_module, safe_checkpoint
        pipeline = getattr(learner, "_learner_connector", None)
        pieces = [type(piece).__name__ for piece in getattr(pipeline, "connectors", [])]
        checks = {
            "LearnerGroup._learner (MAPPO.learner_module)": learner is not None,
            "Learner._learner_connector (MAPPOTorchLearner.build swaps GAE)": pipeline is not None,
            "PPO's 'GeneralAdvantageEstimation' piece, replaced by MAPPOTorchLearner.build": (
                "GeneralAdvantageEstimation"
            )
            not in pieces
            and "MAPPOGeneralAdvantageEstimation" in pieces,
            "Learner._module (MAPPOTorchLearner.configure_optimizers_for_module)": hasattr(learner, "_module"),
            "MultiRLModule._rl_modules (VectorMultiAgentEnvRunner.make_module)": hasattr(
                algo.env_runner.module, "_rl_modules"
            ),
        }
    finally:
        algo.stop()
    checks.update(
        {
            "AlgorithmConfig._env_to_module_connector / _module_to_env_connector (VectorMultiAgentEnvRunner)": all(
                hasattr(AlgorithmConfig(), a) for a in ("_env_to_module_connector", "_module_to_env_connector")
            ),
            "MultiAgentEpisode._agent_to_module_mapping (runner_episodes.EpisodeAssembler)": hasattr(
                MultiAgentEpisode(), "_agent_to_module_mapping"
            ),
            "SampleBatch._slice_seq_lens_in_B (EpochMinibatchIterator)": hasattr(
                SampleBatch({}), "_slice_seq_lens_in_B"
            ),
            "ray.tune.registry._global_registry (runner_env.make_batched_env_from_config)": hasattr(
                registry, "_global_registry"
            ),
        }
    )
    missing = [name for name, ok in checks.items() if not ok]
    assert not missing, f"private RLlib attributes MAPPO reads are gone: {missing}"

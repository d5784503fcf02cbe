"""Algorithm families: what the trainer needs from an algorithm, as one Protocol.

A family turns an :class:`~diverse_marl.config.ExperimentConfig` into an RLlib
``AlgorithmConfig``, lists its ``training:`` options, and reads its trained policies back.
The trainer, the config validator and the CLI ask the family; none of them branch on the
algorithm's name.

    family = get_family("mappo")
    rllib_config = family.build(cfg)
    policy = family.load_policy("runs/cramped-mappo", "agent_0")

This module imports no heavy dependency: each family imports its RLlib classes on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from diverse_marl.algorithms.bc.family import BC
from diverse_marl.errors import ConfigError, did_you_mean

if TYPE_CHECKING:  # type hints only
    from diverse_marl.config import ExperimentConfig


@runtime_checkable
class AlgorithmFamily(Protocol):
    """One trainable algorithm (MAPPO, stock PPO, ...)."""

    name: str

    def build(self, cfg: ExperimentConfig) -> Any:
        """The RLlib ``AlgorithmConfig`` that trains ``cfg`` (options already validated)."""

    def option_defaults(self) -> dict[str, Any]:
        """Every ``training:`` option -> its default."""

    def option_docs(self) -> dict[str, str]:
        """Every ``training:`` option -> one line of documentation."""

    def load_policy(self, path: Any, policy_id: str | None = None) -> Any:
        """A run dir or checkpoint -> a callable torch policy ``p(obs_batch, deterministic) -> actions``."""


@dataclass(frozen=True)
class OptionsFamily:
    """A family whose RLlib config class offers ``option_defaults``, ``option_docs`` and
    ``from_options(env, env_config, options, seed, num_env_runners)``; both built-in families do."""

    name: str
    config_path: str  # "package.module:Class"
    policy_loader: str  # "package.module:function", called as f(path, policy_id)

    def config_class(self) -> type:
        """The ``AlgorithmConfig`` subclass ``build`` returns."""
        return _import(self.config_path)

    def build(self, cfg: ExperimentConfig) -> Any:
        return self.config_class().from_options(
            env=cfg.env,
            env_config=dict(cfg.env_config),
            options=dict(cfg.training),
            seed=cfg.seed,
            num_env_runners=cfg.num_env_runners,
        )

    def option_defaults(self) -> dict[str, Any]:
        return self.config_class().option_defaults()

    def option_docs(self) -> dict[str, str]:
        return self.config_class().option_docs()

    def schedule_options(self) -> tuple[str, ...]:
        """Options that also take a schedule ``[[env_step, value], ...]``."""
        return tuple(getattr(self.config_class(), "SCHEDULE_OPTIONS", ()))

    def load_policy(self, path: Any, policy_id: str | None = None) -> Any:
        return _import(self.policy_loader)(path, policy_id)


MAPPO = OptionsFamily(
    name="mappo",
    config_path="diverse_marl.algorithms.mappo.config:MAPPOConfig",
    policy_loader="diverse_marl.algorithms.mappo.export:load_policy",
)
PPO = OptionsFamily(
    name="ppo",
    config_path="diverse_marl.algorithms.ppo_baseline:SharedPPOConfig",
    policy_loader="diverse_marl.algorithms.ppo_baseline:load_ppo_policy",
)

# MEP's stage 1 (algorithms/population_entropy/): N MAPPO members trained together with a population-entropy bonus
MAPPO_POPULATION_ENTROPY = OptionsFamily(
    name="mappo_population_entropy",
    config_path="diverse_marl.algorithms.population_entropy.config:PopulationEntropyMAPPOConfig",
    policy_loader="diverse_marl.algorithms.mappo.export:load_policy",
)

# the values of the config's ``algorithm:`` key (bc: behaviour cloning of human play, no RLlib)
ALGORITHMS: dict[str, AlgorithmFamily] = {family.name: family for family in (MAPPO, PPO, BC, MAPPO_POPULATION_ENTROPY)}


def get_family(name: str) -> AlgorithmFamily:
    """The family called ``name``; an unknown name raises ConfigError listing the known ones."""
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        did = did_you_mean(name, ALGORITHMS)
        raise ConfigError(f"unknown algorithm {name!r}{did}; allowed: {', '.join(sorted(ALGORITHMS))}") from None


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)

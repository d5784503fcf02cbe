"""Reward features and reward weights: one protocol for every env.

An env reports, at every step, ``infos[agent]["reward_features"]``: a dict feature name -> float
for that agent and step (Overcooked's events, Stag Hunt's joint outcome, ...). The env option
``reward_weights: {name: w}`` replaces each agent's reward by ``w . features`` (names not listed
weigh 0); the env's own reward stays in ``infos[agent]["original_reward"]``. This is how reward
randomization (RPG, HSP) builds its members' rewards without touching the env's code.

A name may be one agent's: ``agent_0/potting_onion: 3`` pays only agent_0 for its potting (seat-specific
incentives, e.g. one cook paid to pot and the other to serve); a plain name pays every agent. An agent's
weight on a feature is the plain weight plus its own. Built-in envs that accept such names list their
agents in ``WEIGHT_AGENTS``; user envs (the wrapper) take any agent they report.

Built-in envs do it natively (also in their batched forms, as one matrix product) and expose
their feature names statically (a ``reward_feature_names(**env_config)`` classmethod). A user's
PettingZoo env only has to report the features: ``diverse_marl.envs.make`` wraps it in
:class:`RewardWeightsWrapper` when ``reward_weights`` is given and its factory does not name
that keyword itself (a factory taking only ``**kwargs`` is wrapped too).

Envs whose reward parameters can change during training expose ``set_reward_params(**values)``
(``reward_weights`` and the names in the class attribute ``REWARD_PARAMS``, e.g. Overcooked's
``shaping_factor``); the trainer's reward schedule (``diverse_marl.reward_schedule``) calls it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

import numpy as np

from diverse_marl.errors import ConfigError, did_you_mean
from diverse_marl.metrics import ORIGINAL_RETURN

FEATURES_KEY = "reward_features"  # infos[agent][FEATURES_KEY]: {name: float} of this step
ORIGINAL_KEY = "original_reward"  # infos[agent][ORIGINAL_KEY]: the env's own reward of this step
WEIGHTS_OPTION = "reward_weights"  # env option {name: w}
ORIGINAL_RETURN_KEY = ORIGINAL_RETURN  # batched infos["episode"][...]: team sum of original rewards
DIVERSITY_STATE_KEY = "diversity_state"  # infos[agent][...]: optional compact state SIPO measures distances on
PROBE_SEED = 0  # seed of the reset + random step that reveals a user env's features
AGENT_SEPARATOR = "/"  # "agent_0/potting_onion": a weight on one agent's feature only


def split_weight_name(name: str, names: Container[str]) -> tuple[str | None, str]:
    """``"agent_0/potting_onion"`` -> ``("agent_0", "potting_onion")``; a feature name (even one with a
    slash) -> ``(None, name)``: the weight is every agent's."""
    if name in names or AGENT_SEPARATOR not in name:
        return None, name
    agent, feature = name.split(AGENT_SEPARATOR, 1)
    return agent, feature


def check_reward_weights(
    weights: Any,
    names: Sequence[str],
    env: str,
    where: str = "reward_weights",
    agents: Sequence[str] | None = None,
) -> dict[str, float]:
    """``weights`` as ``{name: float}``; every name must be one of the env's feature ``names``, or
    ``agent/feature`` for one agent's (``agent`` one of ``agents``; None: not checked here)."""
    if not isinstance(weights, Mapping):
        raise ConfigError(f"{where} must be a mapping feature name -> weight, got {weights!r}")
    if not names:
        raise ConfigError(
            f"{where}: env {env!r} reports no reward features "
            f"(infos[agent][{FEATURES_KEY!r}]), so rewards cannot be weighted"
        )
    out = {}
    for name, value in weights.items():
        agent, feature = split_weight_name(str(name), names)
        if feature not in names:
            raise ConfigError(
                f"unknown reward feature {feature!r} in {where}{did_you_mean(feature, names)}; "
                f"features of env {env!r}: {', '.join(names)}"
            )
        if agent is not None and agents is not None and agent not in agents:
            allowed = f"agents: {', '.join(agents)}" if agents else "this env takes no per-agent weights"
            raise ConfigError(f"unknown agent {agent!r} in {where}.{name}{did_you_mean(agent, agents)}; {allowed}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConfigError(f"{where}.{name}: expected a number, got {value!r}")
        out[str(name)] = float(value)
    return out


def check_reward_params(values: Mapping[str, Any], allowed: Sequence[str], env: str) -> None:
    """Names given to ``set_reward_params`` must be ``reward_weights`` or one of ``allowed``."""
    names = [WEIGHTS_OPTION, *allowed]
    for key in values:
        if key not in names:
            raise ConfigError(
                f"unknown reward parameter {key!r} for env {env!r}{did_you_mean(key, names)}; "
                f"allowed: {', '.join(names)}"
            )


def dot(weights: Mapping[str, float], features: Mapping[str, float], agent: str | None = None) -> float:
    """``w . features`` for ``agent``'s feature dict: plain names and ``agent/...`` ones (names missing
    from ``features`` count as 0)."""
    total = 0.0
    for name, w in weights.items():
        owner, feature = split_weight_name(name, features)
        if owner is None or owner == agent:
            total += w * float(features.get(feature, 0.0))
    return float(total)


class RewardWeights:
    """Validated weights over an env's feature names: the dict, and per agent a vector aligned with the names.

    ``matrix`` is (len(agents), len(names)): row i is agent i's weights (plain ones plus its own);
    ``vector`` the plain weights (every agent's, for envs that take no agent-specific names).
    """

    def __init__(
        self, weights: Mapping[str, float], names: Sequence[str], env: str, agents: Sequence[str] = ()
    ) -> None:
        self.names, self.agents = tuple(names), tuple(agents)
        self.weights = check_reward_weights(weights, self.names, env, agents=self.agents)
        index = {n: i for i, n in enumerate(self.names)}
        self.matrix = np.zeros((max(len(self.agents), 1), len(self.names)), dtype=np.float64)
        for name, w in self.weights.items():
            agent, feature = split_weight_name(name, self.names)
            if agent is None:
                self.matrix[:, index[feature]] += w
            else:
                self.matrix[self.agents.index(agent), index[feature]] += w
        self.vector = np.array([self.weights.get(n, 0.0) for n in self.names], dtype=np.float64)

    def dot(self, features: Mapping[str, float], agent: str | None = None) -> float:
        """``w . features`` for one agent's feature dict."""
        return dot(self.weights, features, agent)


def optional_weights(
    weights: Mapping[str, float] | None, names: Sequence[str], env: str, agents: Sequence[str] = ()
) -> RewardWeights | None:
    return None if weights is None else RewardWeights(weights, names, env, agents)


class WeightedReward:
    """Mixin for env classes with built-in features: static names, optional weights, ``set_reward_params``.

    A class sets ``FEATURE_NAMES`` and ``REWARD_PARAMS`` (float attributes the trainer may set),
    calls ``self._init_weights(reward_weights)`` in ``__init__`` and uses ``self.weights``. Classes
    that apply per-agent rows (``weights.matrix``) list their agents in ``WEIGHT_AGENTS``; the others
    reject ``agent/feature`` names.
    """

    FEATURE_NAMES: tuple[str, ...] = ()
    REWARD_PARAMS: tuple[str, ...] = ()
    WEIGHT_AGENTS: tuple[str, ...] = ()

    @classmethod
    def reward_feature_names(cls, **env_config: Any) -> list[str]:
        """Names of the reward features (known without building or stepping the env)."""
        return list(cls.FEATURE_NAMES)

    def _init_weights(self, reward_weights: Mapping[str, float] | None) -> None:
        self.weights = optional_weights(reward_weights, self.FEATURE_NAMES, type(self).__name__, self.WEIGHT_AGENTS)

    def set_reward_params(self, **values: Any) -> None:
        """Set ``reward_weights`` (None: the env's own reward again) and/or the class's ``REWARD_PARAMS``."""
        check_reward_params(values, self.REWARD_PARAMS, type(self).__name__)
        for key, value in values.items():
            if key == WEIGHTS_OPTION:
                self._init_weights(value)
            else:
                setattr(self, key, float(value))


# ---- user envs: the wrapper applied by ``make`` --------------------------------------------------
class EnvProxy:
    """A wrapper that is its env in everything it does not override: attributes, spaces, ``unwrapped``."""

    env: Any

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not yet set (e.g. during unpickling): avoid recursion
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def unwrapped(self) -> Any:
        return getattr(self.env, "unwrapped", self.env)


class RewardWeightsWrapper(EnvProxy):
    """A PettingZoo ``ParallelEnv`` whose rewards are ``w . infos[agent]["reward_features"]``.

    Everything else (spaces, ``state``, ``render``, attributes) is the wrapped env's. The env's
    own reward moves to ``infos[agent]["original_reward"]``. An agent without reported features
    gets a clear ConfigError at that step (it cannot be weighted).
    """

    def __init__(self, env: Any, weights: Mapping[str, float], env_name: str = "") -> None:
        self.env = env
        self._name = env_name or type(env).__name__
        self.reward_weights: dict[str, float] | None = dict(weights)
        self._checked = False

    def reset(self, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: dict[str, Any]):
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        if self.reward_weights is None:  # weights switched off by set_reward_params
            return obs, rewards, terms, truncs, infos
        new_rewards = {}
        for agent, reward in rewards.items():
            info = infos.setdefault(agent, {})
            features = info.get(FEATURES_KEY) if isinstance(info, dict) else None
            if not isinstance(features, Mapping):
                raise ConfigError(
                    f"env {self._name!r} reports no infos[{agent!r}][{FEATURES_KEY!r}]; "
                    f"reward_weights need a dict feature name -> value at every step"
                )
            if not self._checked:  # names are checked once, against what the env really reports
                agents = list(getattr(self.env, "possible_agents", None) or rewards)
                check_reward_weights(self.reward_weights, list(features), self._name, agents=agents)
                self._checked = True
            info[ORIGINAL_KEY] = reward
            new_rewards[agent] = dot(self.reward_weights, features, agent)
        return obs, new_rewards, terms, truncs, infos

    def set_reward_params(self, **values: Any) -> None:
        """``reward_weights`` (None: the env's own rewards) is applied here; other parameters go to the wrapped env."""
        if WEIGHTS_OPTION in values:
            weights = values.pop(WEIGHTS_OPTION)
            self.reward_weights = None if weights is None else dict(weights)
            self._checked = False
        if not values:
            return
        inner = getattr(self.env, "set_reward_params", None)
        if inner is None:
            check_reward_params(values, (), self._name)  # raises: the env takes no other parameters
        else:
            inner(**values)


def names_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Does ``fn`` name keyword ``name`` in its signature (``**kwargs`` does not count)?

    ``make`` passes ``reward_weights`` only to factories that name it: a ``**kwargs`` factory
    usually forwards its options to an env class that has never heard of reward weights.
    """
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Does ``fn`` take keyword ``name`` (explicitly or through ``**kwargs``)?"""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) or p.kind == p.VAR_KEYWORD
        for p in params
    )


# ---- what an env class offers ---------------------------------------------------------------------
def reward_params(factory: Callable[..., Any]) -> tuple[str, ...]:
    """Reward parameters (besides ``reward_weights``) that ``set_reward_params`` of this env accepts."""
    return tuple(getattr(factory, "REWARD_PARAMS", ()))


def probe_feature_names(env: Any) -> list[str]:
    """Feature names a built env reports: reset with a fixed seed, one step of seeded random actions."""
    env.reset(seed=PROBE_SEED)
    actions = {}
    for i, agent in enumerate(env.agents):
        space = env.action_space(agent)
        space.seed(PROBE_SEED + i)
        actions[agent] = space.sample()
    *_, infos = env.step(actions)
    names: dict[str, None] = {}
    for info in infos.values():
        features = info.get(FEATURES_KEY) if isinstance(info, Mapping) else None
        if isinstance(features, Mapping):
            names.update(dict.fromkeys(map(str, features)))
    return list(names)

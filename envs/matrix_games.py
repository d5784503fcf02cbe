"""Repeated 2-player matrix games where equilibrium selection matters (Stag Hunt).

In Stag Hunt both hunting the stag pays most, but hunting it alone is punished, so plain
policy gradient tends to the safe "hare" equilibrium — the classic motivating case for RPG.

Payoff presets (``payoff_preset`` option; a, b, c, d as in :class:`StagHuntEnv`):

- ``classic``: a=4, b=3, d=1, c=-10 (this package's original default).
- ``rpg``: a=4, b=3, d=1, c=-50: the iterated Stag Hunt of the RPG paper (Tang et al., "Discovering
  Diverse Multi-Agent Strategic Behavior via Reward Randomization", ICLR 2021), as set in the
  authors' released code (stored there scaled by 0.1, i.e. [[0.4, -5.0], [0.3, 0.1]]; a comment
  beside it says c=-100, the value used is -50). Same 10-step horizon as there.

:data:`RPG_RANDOMIZED_WEIGHTS` are the four randomized games the same code trains RPG's members
on (scaled back by 10), as ``reward_weights`` over this env's features: a ready explicit list for
reward randomization. They are not stag hunts, which is why any payoffs are accepted (a payoff
matrix outside the stag-hunt order only raises :class:`PayoffOrderWarning`, naming its class).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl.envs.reward import FEATURES_KEY, ORIGINAL_KEY, WeightedReward
from diverse_marl.errors import ConfigError

STAG, HARE = 0, 1
ACTION_NAMES = ("stag", "hare")
# reward features: one-hot joint outcome as the agent sees it (own action first)
FEATURE_NAMES = tuple(f"{mine}_{other}" for mine in ACTION_NAMES for other in ACTION_NAMES)
PAYOFF_NAMES = ("stag_reward", "hare_reward", "both_hare_reward", "alone_penalty")  # a, b, d, c
PAYOFF_PRESETS: dict[str, dict[str, float]] = {
    "classic": {"stag_reward": 4.0, "hare_reward": 3.0, "both_hare_reward": 1.0, "alone_penalty": -10.0},
    "rpg": {"stag_reward": 4.0, "hare_reward": 3.0, "both_hare_reward": 1.0, "alone_penalty": -50.0},
}
# RPG's randomized games (module docstring), as weights over FEATURE_NAMES (own action first)
RPG_RANDOMIZED_WEIGHTS: tuple[dict[str, float], ...] = (
    {"stag_stag": 4.0, "stag_hare": 0.0, "hare_stag": 0.0, "hare_hare": 0.0},
    {"stag_stag": 0.0, "stag_hare": 0.0, "hare_stag": 0.0, "hare_hare": 4.0},
    {"stag_stag": 0.0, "stag_hare": 4.0, "hare_stag": 4.0, "hare_hare": 0.0},
    {"stag_stag": 4.0, "stag_hare": 1.0, "hare_stag": 4.0, "hare_hare": 0.0},
)
# per-episode statistics (infos[agent]["episode_stats"] on the last step): rate of each joint outcome
# as the agent sees it, and of its own stag actions
STAT_NAMES = (*(f"{name}_rate" for name in FEATURE_NAMES), "stag_rate")


class PayoffOrderWarning(UserWarning):
    """The payoffs are not ordered as a stag hunt (a > b >= d > c); the game is still played."""


def list_payoff_presets() -> list[str]:
    return list(PAYOFF_PRESETS)


def game_class(a: float, b: float, c: float, d: float) -> str:
    """Name of the symmetric 2x2 game with row payoffs (stag, stag)=a, (hare, stag)=b, (stag, hare)=c,
    (hare, hare)=d, reading "stag" as cooperate and "hare" as defect."""
    if a > b >= d > c:
        return "stag hunt"
    if b > a > d > c:
        return "prisoner's dilemma"
    if b > a > c > d:
        return "chicken"
    if b > d > a > c:
        return "deadlock"
    if a >= b and c >= d:
        return "harmony game (stag is never worse)"
    if b >= a and d >= c:
        return "game where hare is never worse"
    if a > b and d > c:
        return "coordination game (a > b and d > c, but not a > b >= d > c)"
    return "anti-coordination game"


class StagHuntEnv(WeightedReward, ParallelEnv):
    """Iterated Stag Hunt for ``agent_0`` and ``agent_1``.

    Payoffs (row player first): (stag, stag) -> (a, a); (stag, hare) -> (c, b);
    (hare, stag) -> (b, c); (hare, hare) -> (d, d), with a = ``stag_reward``, b = ``hare_reward``,
    d = ``both_hare_reward``, c = ``alone_penalty``. ``payoff_preset`` names the preset (``classic`` or
    ``rpg``, see the module docstring) the values not given are taken from. A stag hunt has
    a > b >= d > c; other values are played as given, with a :class:`PayoffOrderWarning`.
    Observation: one-hot of the previous joint action (4) + "first step" flag + time fraction.
    Reward features: ``stag_stag``, ``stag_hare``, ``hare_stag``, ``hare_hare`` (one-hot of the joint
    outcome, own action first); ``reward_weights`` over them replace the payoffs (RPG's randomized games).
    Episode statistics (``infos[agent]["episode_stats"]`` on the last step, so training metrics and
    evaluation report them): ``<outcome>_rate`` for each feature (``stag_stag_rate`` is the
    stag-stag rate) and ``stag_rate`` (share of the agent's own stag actions), of the episode's steps.
    """

    FEATURE_NAMES = FEATURE_NAMES
    ACTION_NAMES = ACTION_NAMES  # what the analysis calls the actions

    metadata = {"name": "stag_hunt_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        horizon: int = 10,
        payoff_preset: str = "classic",
        stag_reward: float | None = None,
        hare_reward: float | None = None,
        both_hare_reward: float | None = None,
        alone_penalty: float | None = None,
        reward_weights: dict[str, float] | None = None,
        render_mode: str | None = None,
    ):
        a, b, d, c = _payoffs(payoff_preset, stag_reward, hare_reward, both_hare_reward, alone_penalty)
        kind = game_class(a, b, c, d)
        if kind != "stag hunt":
            warnings.warn(
                f"{type(self).__name__}: payoffs a={a} (stag, stag), b={b} (hare vs stag), "
                f"c={c} (stag vs hare), d={d} (hare, hare) do not satisfy a > b >= d > c (not a stag hunt); "
                f"game class: {kind}",
                PayoffOrderWarning,
                stacklevel=2,
            )
        if horizon < 1:
            raise ConfigError(f"horizon must be >= 1, got {horizon}")
        if render_mode not in (None, "ansi"):
            raise ConfigError(f"unknown render_mode {render_mode!r}; allowed: None, 'ansi'")
        self.horizon = horizon
        self.render_mode = render_mode
        # payoff[a0, a1] -> (r0, r1)
        self.payoff = np.array([[[a, a], [c, b]], [[b, c], [d, d]]], dtype=np.float32)
        self._init_weights(reward_weights)
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(0.0, 1.0, shape=(6,), dtype=np.float32)
        self._act_space = spaces.Discrete(2)
        self._t = 0
        self._last: tuple[int, int] | None = None
        self._counts = np.zeros((2, len(FEATURE_NAMES)), dtype=np.int64)  # agent x joint outcome (own first)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def _obs(self) -> dict[str, np.ndarray]:
        out = {}
        for i, agent in enumerate(self.possible_agents):
            o = np.zeros(6, dtype=np.float32)
            if self._last is None:
                o[4] = 1.0
            else:
                mine, other = self._last[i], self._last[1 - i]
                o[2 * mine + other] = 1.0
            o[5] = self._t / self.horizon
            out[agent] = o
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        self._t = 0
        self._last = None
        self._counts[:] = 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        acts = []
        for agent in self.possible_agents:
            a = actions.get(agent)
            if a is None or int(a) not in (0, 1):
                raise ConfigError(f"illegal action {a!r} for {agent}; allowed: 0 (stag), 1 (hare)")
            acts.append(int(a))
        r = self.payoff[acts[0], acts[1]]
        self._t += 1
        self._last = (acts[0], acts[1])
        done = self._t >= self.horizon
        rewards, infos = {}, {}
        for i, agent in enumerate(self.possible_agents):
            mine, other = acts[i], acts[1 - i]
            features = {name: 0.0 for name in FEATURE_NAMES}
            features[FEATURE_NAMES[2 * mine + other]] = 1.0
            self._counts[i, 2 * mine + other] += 1
            original = float(r[i])
            rewards[agent] = original if self.weights is None else self.weights.dot(features)
            infos[agent] = {
                "joint_action": tuple(ACTION_NAMES[x] for x in acts),
                FEATURES_KEY: features,
                ORIGINAL_KEY: original,
            }
            if done:
                infos[agent]["episode_stats"] = self.episode_stats(i)
        obs = self._obs()
        terms = {a: False for a in self.possible_agents}
        truncs = {a: done for a in self.possible_agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def episode_stats(self, agent_index: int) -> dict[str, float]:
        """Rates of the joint outcomes (own action first) and of own stag actions, so far this episode."""
        counts = self._counts[agent_index] / max(self._t, 1)
        rates = {f"{name}_rate": float(counts[k]) for k, name in enumerate(FEATURE_NAMES)}
        rates["stag_rate"] = rates["stag_stag_rate"] + rates["stag_hare_rate"]
        return rates

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        last = "-" if self._last is None else "/".join(ACTION_NAMES[x] for x in self._last)
        return f"t={self._t}/{self.horizon} last={last}"


def _payoffs(preset: str, *values: float | None) -> tuple[float, float, float, float]:
    """(a, b, d, c): the given values, the rest from the named preset."""
    if preset not in PAYOFF_PRESETS:
        raise ConfigError(f"unknown payoff_preset {preset!r} for env 'stag_hunt'; allowed: {', '.join(PAYOFF_PRESETS)}")
    base = PAYOFF_PRESETS[preset]
    out = []
    for name, value in zip(PAYOFF_NAMES, values):
        if value is None:
            value = base[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConfigError(f"stag_hunt option {name} must be a number, got {value!r}")
        out.append(float(value))
    return out[0], out[1], out[2], out[3]

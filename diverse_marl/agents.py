"""The Agent interface used by evaluation, cross-play and mixed teams.

An agent turns one observation into one action. RL policies (loaded from checkpoints without
Ray), scripted, random and LLM-backed agents all meet this interface, so any of them can
fill any seat of a team. Agents that can act for many env copies at once also offer
``act_batch``; batched evaluation and cross-play use it (see :class:`BatchActor`). Agents that
read the game as text (LLM agents) say so with ``reads_text = True``: the rollout code then
passes each row's :class:`TextObservation` (the env's ``text_observation(agent, i)``) along.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

MASK_KEY = "action_mask"
STATE_VIEW = "state"  # an agent with ``view = STATE_VIEW`` acts on the env's global state, not its observation


def wants_state(player: Any) -> bool:
    """Whether ``player`` reads the env's agent-specific global state (``env.state(agent)``) instead of
    its observation: privileged scripted agents (e.g. Overcooked's roles) that need the full kitchen."""
    return getattr(player, "view", None) == STATE_VIEW


@runtime_checkable
class Agent(Protocol):
    """``act(obs) -> action`` for one agent of one env; ``reset()`` at each episode start."""

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: Any) -> int: ...


@runtime_checkable
class BatchedAgent(Agent, Protocol):
    """An Agent that also acts for a batch of env copies: ``act_batch(obs (B, ...)) -> (B,)``.

    Implement it when one call can serve many rows faster than a Python loop; stateful agents
    then keep per-row state themselves (batched play does not copy them).
    """

    def act_batch(self, obs: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class TextObservation:
    """One seat's view of one env copy as text: what an LLM agent reads.

    ``text`` describes the state (map, objects, what each agent holds, time left, the legal
    actions); ``actions[k]`` is the name of action ``k`` (replies are parsed against them);
    ``legal`` marks the actions allowed now (all by default).
    """

    agent: str
    text: str
    actions: tuple[str, ...]
    step: int
    horizon: int
    legal: tuple[bool, ...] | None = None


@runtime_checkable
class TextAgent(Protocol):
    """An Agent that reads the env's text view: ``reads_text = True`` and a ``texts`` argument.

    ``act(obs, text)`` / ``act_batch(obs, texts)`` receive the :class:`TextObservation` of the
    seat (one per row; ``None`` for rows whose episode already ended, which need no decision).
    """

    reads_text: bool

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: Any, text: TextObservation | None = None) -> int: ...

    def act_batch(self, obs: Any, texts: Sequence[TextObservation | None] | None = None) -> np.ndarray: ...


def reads_text(player: Any) -> bool:
    """Whether ``player`` wants the env's text view passed to it."""
    return bool(getattr(player, "reads_text", False))


def batch_rows(obs: Any) -> int:
    """Number of rows of a batched observation (an array or a dict of arrays)."""
    first = next(iter(obs.values())) if isinstance(obs, dict) else obs
    return int(np.shape(first)[0])


def obs_row(obs: Any, i: int) -> Any:
    """Row ``i`` of a batched observation (an array or a dict of arrays)."""
    return {k: np.asarray(v)[i] for k, v in obs.items()} if isinstance(obs, dict) else np.asarray(obs)[i]


class RandomAgent:
    """Uniform over legal actions (respects an ``action_mask`` in dict observations)."""

    def __init__(self, num_actions: int, seed: int | None = None):
        self.num_actions = num_actions
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def act(self, obs: Any) -> int:
        if isinstance(obs, dict) and MASK_KEY in obs:
            legal = np.flatnonzero(np.asarray(obs[MASK_KEY]) > 0)
            return int(self.rng.choice(legal))
        return int(self.rng.integers(self.num_actions))

    def act_batch(self, obs: Any) -> np.ndarray:
        n = batch_rows(obs)
        if isinstance(obs, dict) and MASK_KEY in obs:
            legal = (np.asarray(obs[MASK_KEY]) > 0).astype(np.float64)
            cum = np.cumsum(legal / legal.sum(axis=1, keepdims=True), axis=1)
            u = self.rng.random((n, 1))
            return np.minimum((cum < u).sum(axis=1), legal.shape[1] - 1).astype(np.int64)
        return self.rng.integers(self.num_actions, size=n).astype(np.int64)


class PolicyAgent:
    """Wraps a torch policy from :func:`diverse_marl.load_policy` (numpy batches in, actions out).

    Give every seat its own policy object: recurrent policies keep per-seat hidden state.
    """

    def __init__(self, policy: Any, deterministic: bool = False):
        self.policy = policy
        self.deterministic = deterministic

    def reset(self, seed: int | None = None) -> None:
        if hasattr(self.policy, "reset"):
            self.policy.reset()
        if seed is not None and hasattr(self.policy, "seed"):
            self.policy.seed(seed)

    def act(self, obs: Any) -> int:
        batch = {k: np.asarray(v)[None] for k, v in obs.items()} if isinstance(obs, dict) else np.asarray(obs)[None]
        return int(self.act_batch(batch)[0])

    def act_batch(self, obs: Any) -> np.ndarray:
        return np.asarray(self.policy(obs, deterministic=self.deterministic)).reshape(-1).astype(np.int64)


class BatchActor:
    """Anything that can fill a seat, acting on batches of rows: a torch policy or an Agent.

    ``start(seed)`` begins a batch of episodes (resets recurrent state, seeds sampling);
    ``act(obs)`` maps a batch of observations to one action per row (rows keep their order
    from step to step). A policy is called once per batch (one forward pass); a
    :class:`BatchedAgent` through ``act_batch``; any other Agent is copied once per row at the
    first step (each copy reset with its own seed), so per-episode state stays per row.
    """

    def __init__(self, player: Any, deterministic: bool = False):
        self.player = player
        self.deterministic = deterministic
        self.is_agent = isinstance(player, Agent)
        self.wants_state = wants_state(player)
        if not self.is_agent and not callable(player):
            raise TypeError(f"{player!r} is neither a policy (callable on observation batches) nor an Agent")
        self._seed = 0
        self._row_agents: list[Any] = []

    def start(self, seed: int) -> None:
        self._seed, self._row_agents = seed, []
        if self.is_agent:
            self.player.reset(seed)
            return
        if hasattr(self.player, "reset"):
            self.player.reset()
        if hasattr(self.player, "seed"):
            self.player.seed(seed)

    def restart_rows(self, positions: np.ndarray) -> None:
        """Rows at ``positions`` of the batch start new episodes: forget their per-row state
        (a recurrent policy's hidden state, a per-row Agent copy's episode state)."""
        if len(positions) == 0:
            return
        if not self.is_agent:
            if _takes_rows(getattr(self.player, "reset", None)):
                self.player.reset(rows=positions)
            return
        for p in np.asarray(positions).tolist():
            if p < len(self._row_agents):
                self._row_agents[p].reset(int(np.random.SeedSequence([self._seed, p, 1]).generate_state(1)[0]))

    @property
    def reads_text(self) -> bool:
        return reads_text(self.player)

    def act(self, obs: Any, texts: Sequence[TextObservation | None] | None = None) -> np.ndarray:
        if not self.is_agent:
            return np.asarray(self.player(obs, deterministic=self.deterministic)).reshape(-1).astype(np.int64)
        if texts is not None and self.reads_text:
            return np.asarray(self.player.act_batch(obs, texts)).reshape(-1).astype(np.int64)
        if isinstance(self.player, BatchedAgent):
            return np.asarray(self.player.act_batch(obs)).reshape(-1).astype(np.int64)
        n = batch_rows(obs)
        if len(self._row_agents) != n:
            self._row_agents = [copy.deepcopy(self.player) for _ in range(n)]
            for i, agent in enumerate(self._row_agents):
                agent.reset(int(np.random.SeedSequence([self._seed, i]).generate_state(1)[0]))
        return np.array([agent.act(obs_row(obs, i)) for i, agent in enumerate(self._row_agents)], dtype=np.int64)


def _takes_rows(fn: Any) -> bool:
    """Does ``fn`` take a ``rows`` keyword (policies with per-row recurrent state)?"""
    try:
        return callable(fn) and "rows" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False

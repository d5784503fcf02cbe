"""Frozen partners in the vector runner: who plays which seat of each env copy, and their actions.

At the start of every episode of every copy one draw decides: with probability ``self_play`` the
trained module plays every seat; otherwise a pool entry plays ``spec.seats``: uniformly, or with
``priority > 0`` by MEP's rank rule (``diverse_marl.partners.rank_priorities``) on each entry's mean
joint return over its last ``PRIORITY_WINDOW`` episodes in this runner (harder partners more often).
The draws come from one RNG seeded by (config seed, worker index), so runs are reproducible.
Partners act with one call per pool entry and seat over the rows it plays; their steps never
reach the learner (the runner leaves them out of the episodes), and nothing updates them.

Metrics: RLlib's ``episode_return_mean`` counts the seats the trained module played; the joint
return of all seats (the env's own rewards when ``reward_weights`` replace them) is
``episode/partner_return/<partner name>`` (``.../self_play`` for
self-play episodes), and ``episode/self_play`` is the share of self-play episodes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from diverse_marl.partners import PartnerSpec, load_partners, rank_priorities

SELF_PLAY = -1
SELF_PLAY_NAME = "self_play"
PRIORITY_WINDOW = 20  # episodes per pool entry whose mean joint return ranks it for prioritized draws


class PartnerSeats:
    """The partner drawn for each env copy's current episode (``SELF_PLAY`` or a pool index)."""

    def __init__(
        self,
        spec: PartnerSpec,
        agents: list[str],
        num_envs: int,
        env_config: Mapping[str, Any] | None,
        seed: int,
        worker_index: int,
    ) -> None:
        spec.check_seats(agents)
        self.spec = spec
        self.agents = agents
        self.pool = load_partners(spec, num_envs, env_config, seed=seed)
        self._rng = np.random.default_rng([seed, worker_index])
        self.drawn = np.full(num_envs, SELF_PLAY, np.int64)
        self._joint_return = np.zeros(num_envs, np.float64)
        self._recent = [deque(maxlen=PRIORITY_WINDOW) for _ in self.pool]  # joint returns per pool entry

    def probabilities(self) -> np.ndarray:
        """The current draw probability of each pool entry (uniform unless ``spec.priority > 0``)."""
        means = [float(np.mean(r)) if r else float("nan") for r in self._recent]
        return rank_priorities(means, self.spec.priority)

    def draw(self, copies: np.ndarray) -> None:
        """New episodes start in ``copies``: draw self-play or a pool entry for each."""
        copies = np.asarray(copies, np.int64)
        self_play = self._rng.random(len(copies)) < self.spec.self_play
        if self.spec.priority > 0:
            picks = self._rng.choice(len(self.pool), size=len(copies), p=self.probabilities())
        else:
            picks = self._rng.integers(0, len(self.pool), len(copies))
        self.drawn[copies] = np.where(self_play, SELF_PLAY, picks)
        self._joint_return[copies] = 0.0
        for c, k in zip(copies.tolist(), self.drawn[copies].tolist()):
            if k != SELF_PLAY:
                episode_seed = int(self._rng.integers(2**31))
                for player in self.pool[k].seats.values():
                    player.start_episode(c, episode_seed)

    def module_plays(self, agent: str) -> np.ndarray:
        """(N,) bool: the trained module acts for ``agent`` in that copy's current episode."""
        if agent not in self.spec.seats:
            return np.ones(len(self.drawn), bool)
        return self.drawn == SELF_PLAY

    def act(self, agent: str, obs: Any, alive: np.ndarray, actions: np.ndarray, deterministic: bool) -> None:
        """Write the partners' actions for ``agent`` into ``actions`` (rows grouped by partner).

        ``obs``: (N, ...) observations, or ``{"obs": ..., "action_mask": ...}`` of (N, ...) arrays
        for agents with action masks. Recurrent partners keep their state per copy (``rows``)."""
        if agent not in self.spec.seats:
            return
        for k in np.unique(self.drawn[alive & (self.drawn != SELF_PLAY)]).tolist():
            rows = np.nonzero(alive & (self.drawn == k))[0]
            part = {key: v[rows] for key, v in obs.items()} if isinstance(obs, dict) else obs[rows]
            actions[rows] = self.pool[k].seats[agent].act(part, rows, deterministic)

    def add_rewards(self, rewards: Mapping[str, np.ndarray]) -> None:
        """Accumulate the joint (all seats) return of every copy's current episode; ``rewards``: agent -> (N,)."""
        for a in self.agents:
            self._joint_return += np.asarray(rewards[a], np.float64)

    def finished(self, done: np.ndarray) -> list[tuple[str, float]]:
        """(partner name or "self_play", joint return) of the episodes that just ended."""
        out = []
        for c in np.nonzero(done)[0].tolist():
            k = int(self.drawn[c])
            if k != SELF_PLAY:
                self._recent[k].append(float(self._joint_return[c]))
            out.append((SELF_PLAY_NAME if k == SELF_PLAY else self.pool[k].name, float(self._joint_return[c])))
        return out

"""The intrinsic-reward terms the learner connector applies to a batch of episode chunks.

Both take the chunks (RLlib ``SingleAgentEpisode`` s, numpy) and return their new rewards plus
metrics; their state (multipliers, critics) goes into the learner's checkpoint.

- :class:`SIPOTerms`: ``reward + sum_j lambda_j r_j(s)`` with ``r_j`` from ``distances.py``
  (RBF or Wasserstein), then one dual-ascent step of the lambdas on ``mean r_j >= delta``.
- :class:`RSPOTerms` (Zhou et al., ICLR 2022, reward switching): a chunk that an earlier policy j
  would likely have produced is trained on the novelty reward ``novelty_coef * -log pi_j(a|s)``
  instead of the task reward; other chunks keep the task reward. "Likely" is a likelihood-ratio
  test against the policy that acted: the chunk's per-step geometric-mean ratio
  ``pi_j(a|s) / mu(a|s)`` (``mu``: the stored ``action_logp``) above ``threshold``. An absolute
  likelihood does not separate stochastic policies (a near-uniform policy makes every chunk look
  unlikely, a peaked one every chunk likely); the ratio asks whether j explains the actions about
  as well as the policy that took them, i.e. whether the chunk follows j's strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ray.rllib.core.columns import Columns

from diverse_marl.algorithms.diversity.archive import load_archive
from diverse_marl.algorithms.diversity.distances import (
    WassersteinCritic,
    median_bandwidth,
    rbf_intrinsic,
    rbf_self_distance,
)
from diverse_marl.algorithms.diversity.lagrange import DualAscent
from diverse_marl.algorithms.diversity.spec import DiversitySpec
from diverse_marl.algorithms.diversity.states import episode_states, resolve_source
from diverse_marl.algorithms.mappo.module import MASK_KEY, OBS_KEY
from diverse_marl.loading import load_policy


class SIPOTerms:
    """State-distance terms against every archived policy, weighted by their Lagrange multipliers."""

    def __init__(self, spec: DiversitySpec) -> None:
        self.spec = spec
        self.archives = [load_archive(p)[0] for p in spec.archives]
        self.dual = DualAscent(
            len(self.archives), delta=spec.delta, lr=spec.lambda_lr, lambda_max=spec.lambda_max, init=spec.lambda_init
        )
        self.bandwidths = [spec.bandwidth or median_bandwidth(a, spec.seed) for a in self.archives]
        self.self_distances = [rbf_self_distance(a, h) for a, h in zip(self.archives, self.bandwidths)]
        self.critics = []
        if spec.distance == "wasserstein":
            self.critics = [
                WassersteinCritic(
                    a.shape[1],
                    a,
                    hidden=spec.wd_hidden,
                    lr=spec.wd_lr,
                    steps=spec.wd_steps,
                    gp_coef=spec.wd_gp,
                    seed=spec.seed + j,
                )
                for j, a in enumerate(self.archives)
            ]
        self.source: str | None = None

    def distances(self, states: np.ndarray) -> np.ndarray:
        """(J, N) ``r_j(s)`` of every archived policy j and state row, clipped to ``max_intrinsic``: the
        per-state cap, so that a state already far enough from j pays no more than one barely far enough."""
        if self.critics:
            for critic in self.critics:
                critic.fit(states)
            r = [c.intrinsic(states) for c in self.critics]
        else:
            r = [
                rbf_intrinsic(states, a, h) - c for a, h, c in zip(self.archives, self.bandwidths, self.self_distances)
            ]
        return np.clip(
            np.asarray(r).reshape(len(self.archives), len(states)), -self.spec.max_intrinsic, self.spec.max_intrinsic
        )

    def __call__(self, chunks: Sequence[Any]) -> tuple[list[np.ndarray], dict[str, float]]:
        if not self.archives or not chunks:
            return [c.get_rewards() for c in chunks], {}
        states = []
        for c in chunks:
            obs, infos = c.get_observations(), c.get_infos()
            if self.source is None:
                first = {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]
                self.source = resolve_source(self.spec.state, infos[0], first)
            states.append(episode_states(self.source, obs, infos, len(c)))
        rows = np.concatenate(states)
        r = self.distances(rows)
        lambdas = self.dual.lambdas.copy()
        bonus = lambdas @ r
        dist = r.mean(axis=1)
        self.dual.update(dist)
        ends = np.cumsum([len(s) for s in states])[:-1]
        out = [c.get_rewards() + b for c, b in zip(chunks, np.split(bonus, ends))]
        stats = {"intrinsic_mean": float(bonus.mean())}
        for j, (d, lam) in enumerate(zip(dist, self.dual.lambdas)):
            stats[f"distance_{j}"] = float(d)
            stats[f"lambda_{j}"] = float(lam)
        return out, stats

    def get_state(self) -> dict[str, Any]:
        return {"dual": self.dual.get_state(), "critics": [c.get_state() for c in self.critics]}

    def set_state(self, state: dict[str, Any]) -> None:
        self.dual.set_state(state["dual"])
        for c, s in zip(self.critics, state.get("critics", [])):
            c.set_state(s)


class RSPOTerms:
    """Reward switching: likely-under-an-earlier-policy chunks train on a novelty reward."""

    def __init__(self, spec: DiversitySpec) -> None:
        self.spec = spec
        self._policies: dict[tuple[int, str], Any] = {}

    def _policy(self, j: int, module_id: str) -> Any:
        key = (j, module_id)
        if key not in self._policies:
            self._policies[key] = load_policy(self.spec.references[j], module_id)
        return self._policies[key]

    def log_likelihoods(self, chunk: Any) -> np.ndarray:
        """(J, T) ``log pi_j(a_t | s_t)`` of the chunk's actions under every earlier policy."""
        k = len(chunk)
        obs = chunk.get_observations()
        actor_obs = {OBS_KEY: obs[OBS_KEY][:k]}
        if MASK_KEY in obs:
            actor_obs[MASK_KEY] = obs[MASK_KEY][:k]
        actions = np.asarray(chunk.get_actions(), np.int64)
        out = []
        for j in range(len(self.spec.references)):
            logits = self._policy(j, chunk.module_id).logits(actor_obs)
            logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
            out.append(logp[np.arange(k), actions])
        return np.asarray(out).reshape(len(self.spec.references), k)

    def __call__(self, chunks: Sequence[Any]) -> tuple[list[np.ndarray], dict[str, float]]:
        if not self.spec.references or not chunks:
            return [c.get_rewards() for c in chunks], {}
        out, switched, ratios = [], 0, []
        for c in chunks:
            logp = self.log_likelihoods(c)
            behaviour = np.asarray(c.get_extra_model_outputs(Columns.ACTION_LOGP), np.float64)[: len(c)]
            ratio = np.exp((logp - behaviour).mean(axis=1))  # geometric-mean pi_j / mu per earlier policy
            ratios.append(ratio)
            similar = ratio > self.spec.threshold
            if similar.any():
                switched += 1
                novelty = np.clip(-logp[similar], 0.0, self.spec.max_intrinsic).mean(axis=0)
                out.append((self.spec.novelty_coef * novelty).astype(np.float32))
            else:
                out.append(c.get_rewards())
        stats = {"switched_fraction": switched / len(chunks)}
        for j, ratio in enumerate(np.mean(ratios, axis=0)):
            stats[f"likelihood_ratio_{j}"] = float(ratio)
        return out, stats

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass


def build_terms(spec: DiversitySpec) -> SIPOTerms | RSPOTerms:
    return SIPOTerms(spec) if spec.kind == "sipo" else RSPOTerms(spec)

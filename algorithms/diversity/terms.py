"""The intrinsic-reward terms the learner connector applies to a batch of episode chunks.

Both take the chunks (RLlib ``SingleAgentEpisode`` s, numpy) and return their new rewards plus
metrics; their state (multipliers, critics, measured scales) goes into the learner's checkpoint.

**The rule both keep: the intrinsic term never makes not finishing worth more than finishing.**
A per-step bonus breaks it wherever episodes end at a goal: SIPO's per-state reward (the paper's
Lagrangian form, ``reward + sum_j lambda_j r_j(s)`` every step) summed over a 40-step episode
that never finishes outweighs a terminal reward of 1, and the policy learns to wander. So the
intrinsic return of an episode is bounded by a *budget* ``B = intrinsic_share * return_scale``,
on the scale of the task return (``return_scale``: the earlier policies' mean ``|episode return|``
per agent, measured when they were archived). With ``intrinsic_share < 1/2``, an episode that
finishes keeps more than ``R - B > B`` and one that does not gains at most ``B``.

- :class:`SIPOTerms` (Fu et al., NeurIPS 2023): a *per-trajectory* constraint. Per archived policy j,
  ``u_j(s) = clip(r_j(s) / D_j, -max_intrinsic, max_intrinsic)`` with ``r_j`` from ``distances.py``
  (RBF or Wasserstein) and ``D_j`` the distance scale: the mean ``r_j`` over the first batch, i.e.
  how far an untrained policy's early states are from j (Wasserstein: their mean distance to the
  nearest archived state, as the critic has barely trained then) (so ``delta`` = 0.5 asks for half a random
  policy's distance, whatever the units of the env's state). The episode's intrinsic return is
  ``B * clip(sum_j lambda_j (mean_t u_j(s_t) - delta), -1, 1)``: the Lagrangian term of the
  episode's mean distance, length-independent, so neither a long nor a short episode is paid for
  its length. It is paid densely as the telescoping increments of that quantity over the
  episode's running mean (step t gets ``F(mean_{<=t}) - F(mean_{<t})``; the steps of an episode
  add up to the episode's value exactly, across chunk boundaries). The multipliers take one
  projected dual-ascent step per batch on ``mean u_j >= delta``. Each batch's ``B`` is scaled by the
  share of the archived policies' task reward per step that the current policy earns (at most 1):
  measured on the terminal multi-goal grid, a full budget from the first batch left 6 of 12 later
  iterations never finishing (0 of 5 plain MAPPO runs): while the task reward is rare, advantage
  normalization makes even a small intrinsic term the main learning signal.
- :class:`RSPOTerms` (Zhou et al., ICLR 2022, reward switching): a chunk that an earlier policy j
  would likely have produced is trained on a novelty reward instead of the task reward; other
  chunks keep the task reward. "Likely" is a likelihood-ratio test against the policy that acted:
  the chunk's per-step geometric-mean ratio ``pi_j(a|s) / mu(a|s)`` (``mu``: the stored
  ``action_logp``) above ``threshold``. An absolute likelihood does not separate stochastic
  policies (a near-uniform policy makes every chunk look unlikely, a peaked one every chunk
  likely); the ratio asks whether j explains the actions about as well as the policy that took
  them. The novelty reward ``-log pi_j(a|s)``, capped at ``max_intrinsic`` and divided by it, is
  paid as ``novelty_coef * B / L`` per step (``L``: the longest episode seen), so a switched
  episode earns at most about ``B``: repeating an old strategy pays a fraction of what finishing
  elsewhere pays. (Before, the novelty was paid unscaled, up to 10 per step against a goal reward of
  1, and switched iterations learned to act unlike j rather than to reach a new goal.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from diverse_marl.algorithms.diversity.archive import LENGTH_KEY, RETURN_KEY, load_archive
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
from diverse_marl.run_dir import RunDir

MIN_DISTANCE_SCALE = 1e-3  # floor of a measured distance scale (a new policy sitting on the archive)
FALLBACK_RETURN_SCALE = 1.0  # return_scale when the earlier policies never scored (documented in spec.py)
MAX_OPEN_EPISODES = 100_000  # running sums kept for unfinished episodes (oldest dropped beyond this)
AGENT_RETURN_PREFIX = "agent_episode_returns_mean/"  # per-agent returns in a run's metrics.csv


def budget(spec: DiversitySpec, measured: Sequence[float]) -> tuple[float, float]:
    """``(return_scale, B)``: the spec's return scale, else the mean of the positive measured ones
    (else :data:`FALLBACK_RETURN_SCALE`); ``B = intrinsic_share * return_scale``."""
    positive = [float(m) for m in measured if m is not None and np.isfinite(m) and m > 0]
    scale = spec.return_scale or (float(np.mean(positive)) if positive else FALLBACK_RETURN_SCALE)
    return scale, spec.intrinsic_share * scale


class SIPOTerms:
    """Per-trajectory state-distance terms against every archived policy (module docstring)."""

    def __init__(self, spec: DiversitySpec) -> None:
        self.spec = spec
        loaded = [load_archive(p) for p in spec.archives]
        self.archives = [a for a, _ in loaded]
        self.return_scale, self.budget = budget(spec, [m.get(RETURN_KEY) for _, m in loaded])
        lengths = [m[LENGTH_KEY] for _, m in loaded if m.get(LENGTH_KEY)]
        # the archived policies' task reward per agent step: what "finishing as well as they did" earns
        self.reference_rate = self.return_scale / float(np.mean(lengths)) if lengths else None
        self.dual = DualAscent(
            len(self.archives), delta=spec.delta, lr=spec.lambda_lr, lambda_max=spec.lambda_max, init=spec.lambda_init
        )
        self.bandwidths = [spec.bandwidth or median_bandwidth(a, spec.seed) for a in self.archives]
        self.self_distances = [rbf_self_distance(a, h) for a, h in zip(self.archives, self.bandwidths)]
        self.scales: list[float] | None = None if spec.distance_scale is None else [spec.distance_scale] * len(loaded)
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
        # per unfinished episode (chunk id): (sum of u_j over its states so far, their count, paid so far)
        self.open: dict[str, tuple[np.ndarray, int, float]] = {}

    def raw_distances(self, states: np.ndarray) -> np.ndarray:
        """(J, N) ``r_j(s)`` of every archived policy j and state row (centred RBF or Wasserstein critic)."""
        if self.critics:
            for critic in self.critics:
                critic.fit(states)
            r = [c.intrinsic(states) for c in self.critics]
        else:
            r = [
                rbf_intrinsic(states, a, h) - c for a, h, c in zip(self.archives, self.bandwidths, self.self_distances)
            ]
        return np.asarray(r, np.float64).reshape(len(self.archives), len(states))

    def distances(self, states: np.ndarray) -> np.ndarray:
        """(J, N) ``u_j(s)``: ``r_j(s)`` in units of the distance scale, clipped to ``+-max_intrinsic`` (the
        per-state cap: a state far from j pays no more than one ``max_intrinsic`` scales away). The first call
        measures the scales when the spec gives none."""
        r = self.raw_distances(states)
        if self.scales is None:
            first = r.mean(axis=1) if not self.critics else [nearest_distance(states, a).mean() for a in self.archives]
            self.scales = [max(float(x), MIN_DISTANCE_SCALE) for x in first]
        cap = self.spec.max_intrinsic
        return np.clip(r / np.asarray(self.scales)[:, None], -cap, cap)

    def episode_value(self, running_mean: np.ndarray, lambdas: np.ndarray, budget: float) -> np.ndarray:
        """``F(m) = B * clip(sum_j lambda_j (m_j - delta), -1, 1)`` for (J, T) running means -> (T,)."""
        return budget * np.clip(lambdas @ (running_mean - self.spec.delta), -1.0, 1.0)

    def batch_budget(self, chunks: Sequence[Any]) -> float:
        """This batch's budget: ``B`` times the share of the archived policies' task reward per step that the
        current policy earns (at most 1), so the term is ~0 while the policy cannot finish the task yet (then
        advantage normalization would make even a small intrinsic term the main learning signal) and reaches
        ``B`` once it earns as much as they did."""
        if self.reference_rate is None or self.reference_rate <= 0:
            return self.budget
        steps = sum(len(c) for c in chunks)
        rate = sum(float(np.abs(c.get_rewards()).sum()) for c in chunks) / max(steps, 1)
        return self.budget * min(1.0, rate / self.reference_rate)

    def pay(self, chunk: Any, u: np.ndarray, lambdas: np.ndarray, budget: float) -> np.ndarray:
        """The chunk's per-step intrinsic rewards: increments of ``F`` over its episode's running mean."""
        key = str(chunk.id_)
        start = self.open.pop(key, None) if chunk.t_started > 0 else None
        total, count, paid = start if start is not None else (np.zeros(len(u)), 0, 0.0)
        sums = total[:, None] + np.cumsum(u, axis=1)
        counts = count + np.arange(1, u.shape[1] + 1)
        values = self.episode_value(sums / counts, lambdas, budget)
        payments = np.diff(np.concatenate([[paid], values]))
        if not chunk.is_done:
            if len(self.open) >= MAX_OPEN_EPISODES:
                self.open.pop(next(iter(self.open)))
            self.open[key] = (sums[:, -1], int(counts[-1]), float(values[-1]))
        return payments

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
        u = self.distances(np.concatenate(states))
        lambdas = self.dual.lambdas.copy()
        ends = np.cumsum([len(s) for s in states])[:-1]
        out, bonus = [], []
        budget_now = self.batch_budget(chunks)
        for c, uc in zip(chunks, np.split(u, ends, axis=1)):
            b = self.pay(c, uc, lambdas, budget_now)
            bonus.append(b)
            out.append((c.get_rewards() + b).astype(np.float32))
        dist = u.mean(axis=1)
        self.dual.update(dist)
        stats = {"intrinsic_mean": float(np.concatenate(bonus).mean()), "budget": budget_now, "budget_max": self.budget}
        for j, (d, lam) in enumerate(zip(dist, self.dual.lambdas)):
            stats[f"distance_{j}"] = float(d)
            stats[f"lambda_{j}"] = float(lam)
            stats[f"distance_scale_{j}"] = float(self.scales[j])
        return out, stats

    def get_state(self) -> dict[str, Any]:
        return {
            "dual": self.dual.get_state(),
            "critics": [c.get_state() for c in self.critics],
            "scales": self.scales,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.dual.set_state(state["dual"])
        for c, s in zip(self.critics, state.get("critics", [])):
            c.set_state(s)
        if state.get("scales") is not None:
            self.scales = [float(x) for x in state["scales"]]


def nearest_distance(states: np.ndarray, archive: np.ndarray) -> np.ndarray:
    """(N,) Euclidean distance of each state to its nearest archived state: the Wasserstein distance scale
    (a lower bound on the per-state transport cost, in W1's units), stable where a critic fitted for a few
    steps on the first batch is not."""
    s, inverse = np.unique(np.asarray(states, np.float32), axis=0, return_inverse=True)
    a = torch.from_numpy(np.unique(np.asarray(archive, np.float32), axis=0))
    out = np.concatenate(
        [torch.cdist(torch.from_numpy(s[i : i + 1024]), a).min(dim=1).values.numpy() for i in range(0, len(s), 1024)]
    )
    return out.astype(np.float64)[inverse.reshape(-1)]


def reference_return(run_dir: str) -> float | None:
    """A finished run's mean ``|episode return|`` per agent, from the last row of its metrics."""
    rows = RunDir(run_dir).read_metrics()
    if not rows:
        return None
    values = [abs(float(v)) for k, v in rows[-1].items() if k.startswith(AGENT_RETURN_PREFIX)]
    return float(np.mean(values)) if values else None


class RSPOTerms:
    """Reward switching: likely-under-an-earlier-policy chunks train on a novelty reward."""

    def __init__(self, spec: DiversitySpec) -> None:
        self.spec = spec
        self._policies: dict[tuple[int, str], Any] = {}
        self.return_scale, self.budget = budget(spec, [reference_return(r) for r in spec.references])
        self.longest = 1  # L: the longest episode (agent steps) seen so far

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
        self.longest = max([self.longest] + [c.t_started + len(c) for c in chunks])
        per_step = self.spec.novelty_coef * self.budget / self.longest
        out, switched, ratios = [], 0, []
        for c in chunks:
            logp = self.log_likelihoods(c)
            behaviour = np.asarray(c.get_extra_model_outputs(Columns.ACTION_LOGP), np.float64)[: len(c)]
            ratio = np.exp((logp - behaviour).mean(axis=1))  # geometric-mean pi_j / mu per earlier policy
            ratios.append(ratio)
            similar = ratio > self.spec.threshold
            if similar.any():
                switched += 1
                novelty = np.clip(-logp[similar], 0.0, self.spec.max_intrinsic).mean(axis=0) / self.spec.max_intrinsic
                out.append((per_step * novelty).astype(np.float32))
            else:
                out.append(c.get_rewards())
        stats = {"switched_fraction": switched / len(chunks), "budget": self.budget}
        for j, ratio in enumerate(np.mean(ratios, axis=0)):
            stats[f"likelihood_ratio_{j}"] = float(ratio)
        return out, stats

    def get_state(self) -> dict[str, Any]:
        return {"longest": self.longest}

    def set_state(self, state: dict[str, Any]) -> None:
        self.longest = int(state.get("longest", self.longest))


def build_terms(spec: DiversitySpec) -> SIPOTerms | RSPOTerms:
    return SIPOTerms(spec) if spec.kind == "sipo" else RSPOTerms(spec)

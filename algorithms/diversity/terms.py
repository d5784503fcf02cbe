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
  (RBF or Wasserstein) and ``D_j`` the distance unit of j's archive: 1 for RBF, whose ``r_j`` is
  already in units of the kernel bandwidth (a state one median pairwise distance from all of j's
  states is at ~0.5), and the archive's median pairwise distance for Wasserstein (W1 has the
  state's units). Both come from the archive alone, so they do not depend on where an untrained
  policy happens to start (measured on the first batch instead, a new policy that starts on the
  archived states measured ~0, the scale fell to its floor and every ``u_j`` became +-cap).
  With the episode's mean ``m_j = mean_t u_j(s_t)`` and the constraint's relative slack
  ``g_j = (m_j - delta) / delta``, the episode's intrinsic return is
  ``B * clip(sum_j lambda_j g_j, -1, 1)``: an episode that repeats j (``m_j ~ 0``) loses
  ``lambda_j B``, one twice ``delta`` away gains it. (Without the division by ``delta`` a repeat cost only
  ``lambda_j delta B``: 0.05 of a goal reward of 1 at the defaults, and SIPO's iterations reached the
  corners of the plain MAPPO restarts of their seeds in 4 of 5 seeds.) Length-independent, so
  neither a long nor a short episode is paid for its length. An episode that *terminates* at step
  ``T`` before the horizon ``H`` is completed as an absorbing state: its last state (the goal it
  reached) enters the mean ``H - T`` more times, as in the archive (``archive.py``), so where an
  episode ends weighs as much as if the agents stayed there. (Measured on the acted-in states only,
  a new policy that walked to the *same* goal along a detour looked as far from the archive as one
  that reached a different goal, and SIPO iterations learned detours.) It is paid densely as the telescoping
  increments of that quantity over the episode's running mean (step t gets ``F(mean_{<=t}) -
  F(mean_{<t})``; the steps of an episode add up to the episode's value exactly, across chunk
  boundaries). The multipliers take one projected dual-ascent step per batch on ``g_j >= 0``. Each
  batch's ``B`` is scaled by the share of the archived policies' task reward per step that the
  current policy earns (at most 1): measured on the terminal multi-goal grid, a full budget from the
  first batch left 6 of 12 later iterations never finishing (0 of 5 plain MAPPO runs): while the
  task reward is rare, advantage normalization makes even a small intrinsic term the main learning
  signal.
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
from ray.rllib.core.columns import Columns

from diverse_marl.algorithms.diversity.archive import HORIZON_KEY, LENGTH_KEY, RETURN_KEY, load_archive
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
        # H: the archives' horizon, or the longest episode seen (truncated episodes reveal it)
        self.horizon = max([int(m.get(HORIZON_KEY) or 0) for _, m in loaded] + [1])
        self.dual = DualAscent(
            len(self.archives), delta=spec.delta, lr=spec.lambda_lr, lambda_max=spec.lambda_max, init=spec.lambda_init
        )
        self.critics = []
        if spec.distance == "rbf":
            self.bandwidths = [spec.bandwidth or median_bandwidth(a, spec.seed) for a in self.archives]
            self.self_distances = [rbf_self_distance(a, h) for a, h in zip(self.archives, self.bandwidths)]
            units = [1.0] * len(self.archives)  # r_j is already in units of the bandwidth
        else:
            units = [median_bandwidth(a, spec.seed) for a in self.archives]  # W1 is in the state's units
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
        self.scales = [spec.distance_scale or d for d in units]
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
        per-state cap: a state far from j pays no more than one ``max_intrinsic`` scales away)."""
        r = self.raw_distances(states)
        cap = self.spec.max_intrinsic
        return np.clip(r / np.asarray(self.scales)[:, None], -cap, cap)

    def episode_value(self, running_mean: np.ndarray, lambdas: np.ndarray, budget: float) -> np.ndarray:
        """``F(m) = B * clip(sum_j lambda_j (m_j - delta) / delta, -1, 1)`` for (J, T) running means -> (T,)."""
        slack = (running_mean - self.spec.delta) / self.spec.delta
        return budget * np.clip(lambdas @ slack, -1.0, 1.0)

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

    def pay(
        self, chunk: Any, u: np.ndarray, lambdas: np.ndarray, budget: float, end: tuple[np.ndarray, float] | None
    ) -> np.ndarray:
        """The chunk's per-step intrinsic rewards: increments of ``F`` over its episode's running mean. ``end``:
        a terminated episode's (J,) distances of the state it ended in and the steps of the horizon left."""
        key = str(chunk.id_)
        start = self.open.pop(key, None) if chunk.t_started > 0 else None
        total, count, paid = start if start is not None else (np.zeros(len(u)), 0, 0.0)
        sums = total[:, None] + np.cumsum(u, axis=1)
        counts = count + np.arange(1, u.shape[1] + 1)
        values = self.episode_value(sums / counts, lambdas, budget)
        if end is not None:  # the absorbing state: the last step is paid the completed episode's value
            u_end, rest = end
            completed = (sums[:, -1] + rest * u_end) / (counts[-1] + rest)
            values[-1] = self.episode_value(completed[:, None], lambdas, budget)[0]
        payments = np.diff(np.concatenate([[paid], values]))
        if not chunk.is_done:
            if len(self.open) >= MAX_OPEN_EPISODES:
                self.open.pop(next(iter(self.open)))
            self.open[key] = (sums[:, -1], int(counts[-1]), float(values[-1]))
        return payments

    def __call__(self, chunks: Sequence[Any]) -> tuple[list[np.ndarray], dict[str, float]]:
        if not self.archives or not chunks:
            return [c.get_rewards() for c in chunks], {}
        self.horizon = max([self.horizon] + [c.t_started + len(c) for c in chunks])
        states, weights = [], []  # per chunk: its acted-in states (+ the terminal one), their weight in the mean
        for c in chunks:
            obs, infos = c.get_observations(), c.get_infos()
            if self.source is None:
                first = {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]
                self.source = resolve_source(self.spec.state, infos[0], first)
            steps = len(c) + int(c.is_terminated)
            states.append(episode_states(self.source, obs, infos, steps))
            w = np.ones(steps)
            if c.is_terminated:
                w[-1] = max(self.horizon - c.t_started - len(c), 0)
            weights.append(w)
        u = self.distances(np.concatenate(states))
        lambdas = self.dual.lambdas.copy()
        ends = np.cumsum([len(s) for s in states])[:-1]
        out, bonus = [], []
        budget_now = self.batch_budget(chunks)
        for c, uc, w in zip(chunks, np.split(u, ends, axis=1), weights):
            end = (uc[:, -1], w[-1]) if c.is_terminated else None
            b = self.pay(c, uc[:, : len(c)], lambdas, budget_now, end)
            bonus.append(b)
            out.append((c.get_rewards() + b).astype(np.float32))
        w = np.concatenate(weights)
        dist = (u * w).sum(axis=1) / max(w.sum(), 1e-12)  # the batch's mean distance over the horizon
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
            "horizon": self.horizon,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.dual.set_state(state["dual"])
        for c, s in zip(self.critics, state.get("critics", [])):
            c.set_state(s)
        self.horizon = max(self.horizon, int(state.get("horizon", 0)))


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

"""The learner connector adding MEP's population-entropy bonus to the rewards, before GAE.

It runs right after ``EpisodesToNumpy`` (the first learner piece), like the diversity terms of
``algorithms/diversity/connector.py``, so the bonus enters the value targets and advantages.
Every member's actor runs once over the observations of *all* episode chunks in the batch
(N forward passes of one stacked tensor, whatever the number of chunks); the bonus of each
step is then ``coeff * -log pibar(a|s)`` (``bonus.py``). Metrics reach ``metrics.csv`` as
``learner/population_entropy/<name>``: ``bonus_mean``, ``population_entropy`` (mean
``H(pibar(.|s))`` over the batch's states), ``member_entropy`` (mean of the members' own
entropies), ``pairwise_tv`` (mean total-variation distance between members' action
distributions on those states) and ``time_s``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns

from diverse_marl.algorithms.mappo.module import MASK_KEY, OBS_KEY, MAPPOTorchRLModule
from diverse_marl.algorithms.population_entropy.bonus import (
    entropy_bonus,
    mean_pairwise_distance,
    population_entropy,
)

METRICS_KEY = "population_entropy"


def member_logits(members: list[MAPPOTorchRLModule], obs: np.ndarray, mask: np.ndarray | None) -> torch.Tensor:
    """(N, R, A) masked logits of every member's actor on the same R observations."""
    batch = {OBS_KEY: torch.as_tensor(obs)}
    if mask is not None:
        batch[MASK_KEY] = torch.as_tensor(mask)
    with torch.no_grad():
        return torch.stack([m.actor_logits({Columns.OBS: batch})[0] for m in members])


class PopulationEntropyConnector(ConnectorV2):
    """Add ``coeff * -log pibar(a|s)`` to every step of every member's episode chunks."""

    def __init__(self, input_observation_space: Any = None, input_action_space: Any = None, *, coeff: float) -> None:
        super().__init__(input_observation_space, input_action_space)
        self.coeff = float(coeff)

    def __call__(
        self, *, rl_module: Any, episodes: list[Any], batch: dict[str, Any], metrics: Any = None, **kwargs: Any
    ) -> Any:
        start = time.perf_counter()
        members = [
            rl_module[mid].unwrapped()
            for mid in sorted(rl_module.keys())
            if isinstance(rl_module[mid].unwrapped(), MAPPOTorchRLModule)
        ]
        chunks = [e for e in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False) if len(e)]
        if not chunks or not members:
            return batch
        obs, masks, actions = [], [], []
        for c in chunks:
            o, k = c.get_observations(), len(c)
            obs.append(np.asarray(o[OBS_KEY][:k], np.float32))
            if MASK_KEY in o:
                masks.append(np.asarray(o[MASK_KEY][:k], np.float32))
            actions.append(np.asarray(c.get_actions(), np.int64)[:k])
        logits = member_logits(members, np.concatenate(obs), np.concatenate(masks) if masks else None)
        bonus = entropy_bonus(logits, torch.as_tensor(np.concatenate(actions)), self.coeff).numpy()
        ends = np.cumsum([len(c) for c in chunks])[:-1]
        for c, b in zip(chunks, np.split(bonus, ends)):
            c.set_rewards(new_data=(np.asarray(c.get_rewards(), np.float64) + b).astype(np.float32))
        if metrics is not None:
            probs = torch.softmax(logits.double(), dim=-1)
            member_h = -torch.where(probs > 0, probs * probs.log(), torch.zeros_like(probs)).sum(-1)
            stats = {
                "bonus_mean": float(bonus.mean()),
                "population_entropy": float(population_entropy(logits).mean()),
                "member_entropy": float(member_h.mean()),
                "pairwise_tv": mean_pairwise_distance(probs),
                "time_s": time.perf_counter() - start,
            }
            for name, value in stats.items():
                metrics.log_value((METRICS_KEY, name), value, window=1)
        return batch

"""The learner connector that puts the diversity terms into the rewards, before advantage estimation.

It runs right after ``EpisodesToNumpy`` (the first learner piece), so every later piece - the
batch columns, the bootstrap step and MAPPO's GAE - sees the new rewards. It reads the stored
episode chunks only (observations and their infos), so both env runners support it: RLlib's
runner stores the env's infos, the vector runner stores ``diversity_state`` when asked
(``config.diversity_spec``). Its metrics reach ``metrics.csv`` as ``learner/diversity/<name>``,
including ``time_s``, the time spent on the diversity terms in this update.
"""

from __future__ import annotations

import time
from typing import Any

from ray.rllib.connectors.connector_v2 import ConnectorV2

METRICS_KEY = "diversity"


class IntrinsicRewardConnector(ConnectorV2):
    """Replace each episode chunk's rewards by what ``terms`` (``SIPOTerms`` / ``RSPOTerms``) make of them."""

    def __init__(self, input_observation_space: Any = None, input_action_space: Any = None, *, terms: Any) -> None:
        super().__init__(input_observation_space, input_action_space)
        self.terms = terms

    def __call__(
        self, *, rl_module: Any, episodes: list[Any], batch: dict[str, Any], metrics: Any = None, **kwargs: Any
    ) -> Any:
        start = time.perf_counter()
        chunks = [e for e in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False) if len(e)]
        rewards, stats = self.terms(chunks)
        for chunk, r in zip(chunks, rewards):
            chunk.set_rewards(new_data=r)
        stats["time_s"] = time.perf_counter() - start
        if metrics is not None:
            for name, value in stats.items():
                metrics.log_value((METRICS_KEY, name), value, window=1)
        return batch

"""MAPPO's learner plus the diversity terms: the connector in the pipeline, its state in checkpoints."""

from __future__ import annotations

from typing import Any

from diverse_marl.algorithms.diversity.connector import IntrinsicRewardConnector
from diverse_marl.algorithms.diversity.spec import parse_diversity
from diverse_marl.algorithms.diversity.terms import build_terms
from diverse_marl.algorithms.mappo.connectors import insert_after_numpy
from diverse_marl.algorithms.mappo.learner import MAPPOTorchLearner

DIVERSITY_COMPONENT = "diversity"  # key of the terms' state (lambdas, critics) in the learner state


class DiversityMAPPOLearner(MAPPOTorchLearner):
    """``MAPPOTorchLearner`` whose rewards get the intrinsic terms of ``config.diversity_spec``."""

    def build(self) -> None:
        super().build()
        self.diversity = build_terms(parse_diversity(self.config.diversity_spec))
        piece = IntrinsicRewardConnector(terms=self.diversity)
        insert_after_numpy(self._learner_connector, piece)

    def get_state(self, components: Any = None, *, not_components: Any = None, **kwargs: Any) -> dict:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(DIVERSITY_COMPONENT, components, not_components):
            state[DIVERSITY_COMPONENT] = self.diversity.get_state()
        return state

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        if DIVERSITY_COMPONENT in state:
            self.diversity.set_state(state[DIVERSITY_COMPONENT])

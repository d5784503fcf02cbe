"""MAPPO's learner plus the population-entropy connector (``connector.py``); its only state is the coefficient."""

from __future__ import annotations

from diverse_marl.algorithms.mappo.connectors import EpisodesToNumpy
from diverse_marl.algorithms.mappo.learner import MAPPOTorchLearner
from diverse_marl.algorithms.population_entropy.connector import PopulationEntropyConnector


class PopulationEntropyMAPPOLearner(MAPPOTorchLearner):
    """``MAPPOTorchLearner`` whose rewards get ``population_entropy_coeff * -log pibar(a|s)``."""

    def build(self) -> None:
        super().build()
        piece = PopulationEntropyConnector(coeff=self.config.population_entropy_coeff)
        pipeline = self._learner_connector
        if pipeline is not None:
            if any(isinstance(c, EpisodesToNumpy) for c in pipeline.connectors):
                pipeline.insert_after(EpisodesToNumpy, piece)
            else:
                pipeline.prepend(piece)

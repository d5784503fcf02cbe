"""MAPPO's learner plus the population-entropy connector (``connector.py``); its only state is the coefficient."""

from __future__ import annotations

from diverse_marl.algorithms.mappo.connectors import insert_after_numpy
from diverse_marl.algorithms.mappo.learner import MAPPOTorchLearner
from diverse_marl.algorithms.population_entropy.connector import PopulationEntropyConnector


class PopulationEntropyMAPPOLearner(MAPPOTorchLearner):
    """``MAPPOTorchLearner`` whose rewards get ``population_entropy_coeff * -log pibar(a|s)``."""

    def build(self) -> None:
        super().build()
        piece = PopulationEntropyConnector(coeff=self.config.population_entropy_coeff)
        insert_after_numpy(self._learner_connector, piece)

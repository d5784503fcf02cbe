"""Learner connectors of MAPPO: time-limit handling and GAE with a (value-normalized) centralized critic.

``TimeLimitBootstrap`` runs before RLlib's ``AddOneTsToEpisodesAndTruncate``. It decides, for
every agent episode that ended in its chunk, whether the last step is a terminal (no value
after it) or a time-limit truncation (bootstrap from V(final state)): env runners mark
time-limit ends with ``infos[agent][TIME_LIMIT_KEY] = True`` on the last step (MAPPO's
``bad_transition``; written by ``MAPPOEnv`` and the vector runner). With
``use_proper_time_limits`` those steps bootstrap; without it (MAPPO's paper default) every
episode end is a terminal. The flags RLlib's own episodes carry cannot be used as they are:
``MultiAgentEpisode`` declares an episode whose agents are all done - terminated *or*
truncated - terminated, for every agent.

``MAPPOGeneralAdvantageEstimation`` replaces RLlib's ``GeneralAdvantageEstimation`` at the
end of the learner pipeline (after ``AddOneTsToEpisodesAndTruncate`` added one bootstrap step
per episode chunk and the batch was turned into tensors). Per module it:

1. runs the critic on the whole batch -> normalized values ``v_norm`` and, via the value
   normalizer, returns-scale values ``v``;
2. computes GAE targets from ``v``: rollout-chunk cuts and (with ``use_proper_time_limits``)
   time-limit ends bootstrap from the value of the next state; terminals do not;
3. standardizes advantages over the real (loss-mask) steps (MAPPO: ``(A - mean) / (std + 1e-5)``);
4. updates the value normalizer with the new targets (before the loss normalizes them);
5. writes ``advantages``, ``value_targets`` (raw) and ``vf_preds`` (= ``v_norm``, the
   "old" values for the clipped value loss) into the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.numpy import convert_to_numpy
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets
from ray.rllib.utils.postprocessing.zero_padding import split_and_zero_pad_n_episodes, unpad_data_if_necessary

from diverse_marl.algorithms.mappo.module import MAPPOTorchRLModule

ADVANTAGE_STD_EPS = 1e-5  # MAPPO's epsilon in advantage standardization
TIME_LIMIT_KEY = "bad_transition"  # infos key marking a step that ended by the time limit (MAPPO's name)


class EpisodesToNumpy(ConnectorV2):
    """Convert incoming episodes to numpy once (first learner piece; see MAPPOConfig)."""

    def __call__(self, *, rl_module: Any, episodes: list[Any], batch: dict[str, Any], **kwargs: Any) -> Any:
        for episode in episodes:
            if not episode.is_numpy:
                episode.to_numpy()
        return batch


class TimeLimitBootstrap(ConnectorV2):
    """Set each finished agent episode's terminated/truncated flags from the time-limit marker."""

    def __init__(
        self, input_observation_space: Any = None, input_action_space: Any = None, *, use_proper_time_limits: bool
    ) -> None:
        super().__init__(input_observation_space, input_action_space)
        self.use_proper_time_limits = bool(use_proper_time_limits)

    def __call__(self, *, rl_module: Any, episodes: list[Any], batch: dict[str, Any], **kwargs: Any) -> Any:
        for sa in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            if len(sa) == 0 or not sa.is_done:
                continue  # still running: RLlib bootstraps chunk cuts anyway
            bootstrap = self.use_proper_time_limits and ended_by_time_limit(sa)
            sa.is_terminated, sa.is_truncated = not bootstrap, bootstrap
        return batch


def ended_by_time_limit(sa_episode: Any) -> bool:
    """Whether a finished agent episode was cut by a time limit (its last infos carry the marker)."""
    last = sa_episode.get_infos(-1)
    return isinstance(last, dict) and bool(last.get(TIME_LIMIT_KEY, False))


class MAPPOGeneralAdvantageEstimation(ConnectorV2):
    """GAE + value-normalizer update for every ``MAPPOTorchRLModule`` in the batch."""

    def __init__(
        self,
        input_observation_space: Any = None,
        input_action_space: Any = None,
        *,
        gamma: float,
        lambda_: float,
        normalize_advantages: bool = True,
    ) -> None:
        super().__init__(input_observation_space, input_action_space)
        self.gamma = float(gamma)
        self.lambda_ = float(lambda_)
        self.normalize_advantages = bool(normalize_advantages)

    def __call__(
        self,
        *,
        rl_module: Any,
        episodes: list[Any],
        batch: dict[str, Any],
        shared_data: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        sa_episodes = list(self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False))
        for module_id, mbatch in batch.items():
            if module_id not in rl_module:
                continue
            module = rl_module[module_id].unwrapped()
            if not isinstance(module, MAPPOTorchRLModule):
                continue
            lens = [len(e) for e in sa_episodes if e.module_id in (None, module_id)]  # incl. bootstrap step

            def flat(x: Any) -> np.ndarray:
                return unpad_data_if_necessary(lens, convert_to_numpy(x))  # noqa: B023

            with torch.no_grad():
                v_norm = module.compute_normalized_values(mbatch)
                v = module.value_norm.denormalize(v_norm) if module.cfg["value_norm"] else v_norm
            device = v_norm.device
            values = flat(v).astype(np.float32)
            targets = compute_value_targets(
                values=values,
                rewards=flat(mbatch[Columns.REWARDS]).astype(np.float32),
                terminateds=flat(mbatch[Columns.TERMINATEDS]).astype(np.float32),
                truncateds=flat(mbatch[Columns.TRUNCATEDS]).astype(np.float32),
                gamma=self.gamma,
                lambda_=self.lambda_,
            )
            advantages = targets - values
            real = (
                flat(mbatch[Columns.LOSS_MASK]).astype(bool)
                if Columns.LOSS_MASK in mbatch
                else np.ones_like(values, bool)
            )
            if self.normalize_advantages and real.any():
                a = advantages[real]
                advantages = (advantages - a.mean()) / (a.std() + ADVANTAGE_STD_EPS)
            if module.cfg["value_norm"]:
                module.value_norm.update(torch.as_tensor(targets[real]))

            if module.is_stateful():
                T = module.cfg["max_seq_len"]
                advantages = np.stack(split_and_zero_pad_n_episodes(advantages, episode_lens=lens, max_seq_len=T))
                targets = np.stack(split_and_zero_pad_n_episodes(targets, episode_lens=lens, max_seq_len=T))
            mbatch[Postprocessing.ADVANTAGES] = torch.as_tensor(advantages, dtype=torch.float32, device=device)
            mbatch[Postprocessing.VALUE_TARGETS] = torch.as_tensor(targets, dtype=torch.float32, device=device)
            mbatch[Columns.VF_PREDS] = v_norm.detach()
        return batch


def insert_after_numpy(pipeline: Any, piece: ConnectorV2) -> None:
    """Put a piece that rewrites rewards (intrinsic rewards, bonuses) right after ``EpisodesToNumpy``,
    so GAE and value targets see the changed rewards; first in the pipeline when that piece is absent."""
    if pipeline is None:
        return
    if any(isinstance(c, EpisodesToNumpy) for c in pipeline.connectors):
        pipeline.insert_after(EpisodesToNumpy, piece)
    else:
        pipeline.prepend(piece)

"""MAPPO learner: the whole loss in one place (``compute_loss_for_module``), CleanRL-style.

Inputs per minibatch (see ``module.py`` for the column list): actions and their sampling
log-probs, standardized GAE ``advantages``, raw ``value_targets``, the critic's sampling-time
normalized values ``vf_preds``, and ``loss_mask`` (False on the bootstrap step that RLlib
appends to every episode chunk, and on GRU zero-padding).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.learner import AddOneTsToEpisodesAndTruncate
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.torch_utils import explained_variance

from diverse_marl.algorithms.mappo.connectors import (
    EpisodesToNumpy,
    MAPPOGeneralAdvantageEstimation,
    TimeLimitBootstrap,
)


def huber(err: torch.Tensor, delta: float) -> torch.Tensor:
    """MAPPO's huber_loss: quadratic within ``delta``, linear outside."""
    a = err.abs()
    return torch.where(a <= delta, 0.5 * err**2, delta * (a - 0.5 * delta))


class MAPPOTorchLearner(PPOTorchLearner):
    """PPO learner with MAPPO's critic loss, value normalization and actor/critic optimizers."""

    def build(self) -> None:
        super().build()  # PPO: adds the bootstrap timestep + stock GAE; we swap the GAE piece
        # and decide time-limit bootstraps before the bootstrap timestep is added
        if self._learner_connector is not None and self.config.add_default_connectors_to_learner_pipeline:
            self._learner_connector.remove("GeneralAdvantageEstimation")
            self._learner_connector.append(
                MAPPOGeneralAdvantageEstimation(
                    gamma=self.config.gamma,
                    lambda_=self.config.lambda_,
                    normalize_advantages=self.config.normalize_advantages,
                )
            )
            self._learner_connector.insert_before(
                AddOneTsToEpisodesAndTruncate,
                TimeLimitBootstrap(use_proper_time_limits=getattr(self.config, "use_proper_time_limits", True)),
            )
            self._learner_connector.prepend(EpisodesToNumpy())

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        """Two Adam optimizers as in MAPPO: actor (``lr``) and critic (``critic_lr``), eps=``adam_eps``.

        RLlib clips gradients per optimizer, so ``grad_clip`` acts on each network
        separately - like MAPPO's ``max_grad_norm``. On CPU, Adam runs torch's fused kernel
        (the same update up to float rounding; ~4x cheaper than the per-tensor loop for these
        small networks, where the step is per-op overhead).
        """
        module = self._module[module_id]
        critic_names = tuple(module.unwrapped().get_non_inference_attributes())
        actor_params, critic_params = [], []
        for name, p in module.named_parameters():
            (critic_params if name.split(".")[0] in critic_names else actor_params).append(p)
        eps = float(config.adam_eps)
        fused = all(p.device.type == "cpu" for p in module.parameters())
        self.register_optimizer(
            module_id=module_id,
            optimizer_name="actor",
            optimizer=torch.optim.Adam(actor_params, eps=eps, fused=fused or None),
            params=actor_params,
            lr_or_lr_schedule=config.lr,
        )
        self.register_optimizer(
            module_id=module_id,
            optimizer_name="critic",
            optimizer=torch.optim.Adam(critic_params, eps=eps, fused=fused or None),
            params=critic_params,
            lr_or_lr_schedule=config.critic_lr if config.critic_lr is not None else config.lr,
        )

    def _create_iterator_if_necessary(
        self,
        *,
        training_data: Any,
        num_total_minibatches: int = 0,
        num_epochs: int = 1,
        minibatch_size: int | None = None,
        shuffle_batch_per_epoch: bool = False,
        **kwargs: Any,
    ):
        """Use ``EpochMinibatchIterator`` unless the user asked for RLlib's ``minibatch_size``."""
        if training_data.data_iterators or minibatch_size:
            return super()._create_iterator_if_necessary(
                training_data=training_data,
                num_total_minibatches=num_total_minibatches,
                num_epochs=num_epochs,
                minibatch_size=minibatch_size,
                shuffle_batch_per_epoch=shuffle_batch_per_epoch,
                **kwargs,
            )
        batch = self._make_batch_if_necessary(training_data=training_data)
        for module_id in list(batch.policy_batches):
            if not self.should_module_be_updated(module_id, batch):
                del batch.policy_batches[module_id]
        if not batch.policy_batches:
            return {}
        batch = self._set_slicing_by_batch_id(batch, value=True)
        return EpochMinibatchIterator(
            batch,
            num_epochs=num_epochs,
            num_minibatches=self.config.num_minibatches,
            shuffle=shuffle_batch_per_epoch,
        )

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        module = self.module[module_id].unwrapped()
        mask = batch[Columns.LOSS_MASK].bool() if Columns.LOSS_MASK in batch else None

        def mean(x: torch.Tensor) -> torch.Tensor:
            return x[mask].mean() if mask is not None else x.mean()

        # ---- policy: clipped surrogate ----
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        logp = dist.logp(batch[Columns.ACTIONS])
        log_ratio = logp - batch[Columns.ACTION_LOGP]
        ratio = torch.exp(log_ratio)
        adv = batch[Postprocessing.ADVANTAGES]
        clip = config.clip_param
        policy_loss = mean(-torch.min(ratio * adv, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * adv))

        # ---- entropy bonus ----
        entropy = mean(dist.entropy())
        entropy_coeff = self.entropy_coeff_schedulers_per_module[module_id].get_current_value()

        # ---- centralized critic: (normalized) clipped value loss ----
        values = module.compute_normalized_values(batch)
        targets = batch[Postprocessing.VALUE_TARGETS]
        if module.cfg["value_norm"]:
            targets = module.value_norm.normalize(targets)
        old_values = batch[Columns.VF_PREDS]
        values_clipped = old_values + torch.clamp(values - old_values, -config.vf_clip_param, config.vf_clip_param)

        def value_err(err: torch.Tensor) -> torch.Tensor:
            return huber(err, config.huber_delta) if config.use_huber_loss else 0.5 * err**2

        if config.use_clipped_value_loss:
            vf_loss_per_step = torch.max(value_err(targets - values), value_err(targets - values_clipped))
        else:
            vf_loss_per_step = value_err(targets - values)
        vf_loss = mean(vf_loss_per_step)

        total = policy_loss + config.vf_loss_coeff * vf_loss - entropy_coeff * entropy

        # ---- diagnostics ----
        with torch.no_grad():
            approx_kl = mean((ratio - 1.0) - log_ratio)
            clip_frac = mean(((ratio - 1.0).abs() > clip).float())
            ev = explained_variance(
                targets[mask] if mask is not None else targets, values[mask] if mask is not None else values
            )
            vn_mean, vn_std = module.value_norm.mean_std()
        self.metrics.log_dict(
            {
                POLICY_LOSS_KEY: policy_loss,
                VF_LOSS_KEY: vf_loss,
                ENTROPY_KEY: entropy,
                "approx_kl": approx_kl,
                "mean_kl_loss": approx_kl,  # same figure under PPO's key (no KL penalty in MAPPO)
                "clip_fraction": clip_frac,
                "vf_explained_var": ev,
                "value_norm_mean": vn_mean.float().squeeze(),
                "value_norm_std": vn_std.float().squeeze(),
            },
            key=module_id,
            window=1,
        )
        return total


class EpochMinibatchIterator:
    """MAPPO's minibatching: every epoch, shuffle each module's batch and cut it into
    ``num_minibatches`` equal parts (``num_mini_batch`` in the paper; 1 = full batch).

    Unlike RLlib's cyclic iterator (fixed minibatch size in rows, cycling short batches),
    every sample is used exactly once per epoch whatever the number of agents per module.
    """

    def __init__(self, batch: Any, *, num_epochs: int, num_minibatches: int, shuffle: bool) -> None:
        self._batch = batch
        self._num_epochs = int(num_epochs)
        self._k = max(1, int(num_minibatches))
        self._shuffle = shuffle

    def __iter__(self):
        for _ in range(self._num_epochs):
            parts: dict[str, list[Any]] = {}
            for mid, mb in self._batch.policy_batches.items():
                seq_sliced = mb._slice_seq_lens_in_B
                n = len(mb[SampleBatch.SEQ_LENS]) if seq_sliced else len(mb)
                if self._shuffle and not seq_sliced and self._k > 1:
                    mb.shuffle()
                k = min(self._k, n)
                bounds = [round(i * n / k) for i in range(k + 1)]
                parts[mid] = [mb[bounds[i] : bounds[i + 1]] for i in range(k)]
            for i in range(max(len(p) for p in parts.values())):
                yield MultiAgentBatch({mid: p[i] for mid, p in parts.items() if i < len(p)}, len(self._batch))

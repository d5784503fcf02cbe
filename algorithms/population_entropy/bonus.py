"""The population-entropy bonus of MEP (Zhao et al., AAAI 2023), in one place.

For N members with action distributions ``pi_i(.|s)`` the population's mean policy is
``pibar(.|s) = 1/N sum_i pi_i(.|s)``. MEP's objective adds ``alpha * H(pibar(.|s_t))`` to every
step's reward. What the learner adds is the per-sample form both released implementations use
(the authors' ``ent_version 3`` and ZSC-Eval's MEP trainer)::

    r'_t = r_t + alpha * -log pibar(a_t | s_t)

Why this form: its expectation over the members' own actions is exactly the population entropy,
``1/N sum_i E_{a~pi_i}[-log pibar(a|s)] = -sum_a pibar(a|s) log pibar(a|s) = H(pibar(.|s))``, and,
unlike the state reward ``H(pibar(.|s))``, it depends on the action taken, so a member's policy
gradient is pushed towards the actions the population seldom takes (``H(pibar(.|s))`` as a reward
is the same for every action at ``s`` and only reaches a member through the states it visits).
``log pibar`` is computed as ``logsumexp_i log pi_i(a|s) - log N`` (no clipping needed: the acting
member gave the action a positive probability).
"""

from __future__ import annotations

import math

import torch


def population_log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``log pibar(a_r | s_r)`` per row: ``logits`` (N members, R rows, A actions), ``actions`` (R,)."""
    n, rows, _ = logits.shape
    logp = torch.log_softmax(logits.double(), dim=-1)
    taken = logp.gather(-1, actions.long().reshape(1, rows, 1).expand(n, rows, 1)).squeeze(-1)  # (N, R)
    return torch.logsumexp(taken, dim=0) - math.log(n)


def entropy_bonus(logits: torch.Tensor, actions: torch.Tensor, coeff: float) -> torch.Tensor:
    """``coeff * -log pibar(a_r | s_r)`` per row (the reward MEP adds; module docstring)."""
    return -float(coeff) * population_log_prob(logits, actions)


def population_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``H(pibar(.|s_r))`` per row, in nats; masked actions (probability 0) contribute 0."""
    n = logits.shape[0]
    log_mean = torch.logsumexp(torch.log_softmax(logits.double(), dim=-1), dim=0) - math.log(n)  # (R, A)
    return -torch.where(log_mean.isfinite(), log_mean.exp() * log_mean, torch.zeros_like(log_mean)).sum(-1)


def pairwise_total_variation(probs: torch.Tensor) -> torch.Tensor:
    """(N, N) mean over rows of the total-variation distance ``1/2 sum_a |pi_i(a|s) - pi_j(a|s)|``
    between members' action distributions; ``probs`` (N, R, A). 0: identical, 1: disjoint supports."""
    p = probs.double()
    return 0.5 * (p[:, None] - p[None, :]).abs().sum(-1).mean(-1)


def mean_pairwise_distance(probs: torch.Tensor) -> float:
    """The mean of :func:`pairwise_total_variation` over distinct member pairs (0 for one member)."""
    n = probs.shape[0]
    if n < 2:
        return 0.0
    tv = pairwise_total_variation(probs)
    return float(tv.sum() / (n * (n - 1)))

"""The BC network, its pickle-free checkpoint files, and the anti-stuck rule applied when it plays.

Anti-stuck rule (after Carroll et al. 2019, whose BC agents otherwise freeze when a human habit
meets a state the data rarely shows): when a cook's own position, orientation and held object
have not changed for ``stuck_steps`` consecutive steps, the actions it took during those steps are
masked out and it samples from the remaining probabilities of its policy (uniformly among them if
the policy puts no mass there). Any change of those features clears the memory. ``stuck_steps: 0``
turns the rule off. The rule reads the features from the observation (``key_features``: the
orientation and held-object one-hots and the own position of the featurized encoding).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from diverse_marl.algorithms.safe_checkpoint import write_safe_checkpoint

FAMILY = "bc"
POLICY_ID = "shared"
# featurized encoding (envs/overcooked/features.py): own orientation one-hot [0:4], held one-hot [4:8],
# own (x, y) position last
ORIENTATION_AND_HELD = tuple(range(8))
OWN_POSITION_FROM_END = 2


def stuck_key_features(obs_dim: int) -> list[int]:
    """Observation indices whose constancy means "stuck" for a featurized Overcooked observation."""
    return [*ORIENTATION_AND_HELD, *range(obs_dim - OWN_POSITION_FROM_END, obs_dim)]


def make_network(obs_dim: int, num_actions: int, hidden_sizes: Sequence[int]) -> nn.Sequential:
    """An MLP with ReLU activations; its layer list (``actor_layers``) rebuilds it without this module."""
    layers: list[nn.Module] = []
    last = obs_dim
    for h in hidden_sizes:
        layers += [nn.Linear(last, int(h)), nn.ReLU()]
        last = int(h)
    layers.append(nn.Linear(last, num_actions))
    return nn.Sequential(*layers)


def actor_layers(net: nn.Sequential) -> list[dict[str, str]]:
    """``LayerListActor``'s description of ``net`` (parameter prefixes ``<index>``)."""
    out: list[dict[str, str]] = []
    for i, mod in enumerate(net):
        out.append({"linear": str(i)} if isinstance(mod, nn.Linear) else {"activation": "relu"})
    return out


def write_checkpoint(
    checkpoint_dir: str | os.PathLike,
    net: nn.Sequential,
    obs_dim: int,
    num_actions: int,
    agents: Sequence[str],
    stuck_steps: int,
) -> None:
    """``policies.json`` + weights: one policy shared by every agent, with its anti-stuck rule."""
    desc = {
        "obs_shape": [obs_dim],
        "num_actions": num_actions,
        "has_mask": False,
        "actor_layers": actor_layers(net),
        "action_space": {"type": "Discrete", "n": num_actions, "start": 0},
        "flatten_space": None,
        "stuck_rule": {"steps": int(stuck_steps), "key_features": stuck_key_features(obs_dim)},
    }
    write_safe_checkpoint(
        checkpoint_dir, FAMILY, {POLICY_ID: net.state_dict()}, {POLICY_ID: desc}, agents={a: POLICY_ID for a in agents}
    )


class StuckGuardPolicy:
    """A loaded policy plus the anti-stuck rule (module docstring), with per-row memory.

    Callable like the policy it wraps (``p(obs_batch, deterministic) -> actions``); ``reset()``
    forgets the memory (batched play calls it at the start of a batch of episodes).
    """

    def __init__(self, policy: Any, stuck_steps: int, key_features: Sequence[int], seed: int | None = None):
        self.policy = policy
        self.stuck_steps = int(stuck_steps)
        self.key_features = np.asarray(key_features, dtype=np.int64)
        self.policy_id = policy.policy_id
        self.obs_shape = policy.obs_shape
        self.num_actions = policy.num_actions
        self._rng = np.random.default_rng(seed)
        self.reset()

    def seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self._keys: np.ndarray | None = None
        self._unchanged = np.zeros(0, dtype=np.int64)
        self._tried = np.zeros((0, self.num_actions), dtype=bool)

    def action_probs(self, obs: Any) -> np.ndarray:
        return self.policy.action_probs(obs)

    def __call__(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32)
        single = x.shape == tuple(self.obs_shape)
        x = x[None] if single else x
        probs = np.asarray(self.policy.action_probs(x), dtype=np.float64).reshape(len(x), -1)
        keys = x[:, self.key_features]
        if self._keys is None or self._keys.shape != keys.shape:
            self._unchanged = np.zeros(len(x), dtype=np.int64)
            self._tried = np.zeros((len(x), self.num_actions), dtype=bool)
        else:
            same = np.all(keys == self._keys, axis=1)
            self._unchanged = np.where(same, self._unchanged + 1, 0)
            self._tried[~same] = False
        if self.stuck_steps > 0:
            stuck = self._unchanged >= self.stuck_steps
            if stuck.any():
                allowed = ~self._tried[stuck]
                masked = probs[stuck] * allowed
                empty = masked.sum(axis=1) <= 0
                masked[empty] = allowed[empty]  # no mass left on untried actions: uniform among them
                probs[stuck] = masked
        probs /= probs.sum(axis=1, keepdims=True)
        if deterministic:
            actions = probs.argmax(axis=1)
        else:
            u = self._rng.random((len(x), 1))
            actions = np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), self.num_actions - 1)
        actions = actions.astype(np.int64)
        self._tried[np.arange(len(x)), actions] = True
        self._keys = keys
        return actions[0] if single else actions


def with_stuck_rule(policy: Any, description: dict[str, Any], seed: int | None = None) -> Any:
    """What ``load_policy`` returns for a BC checkpoint: the policy wrapped by its saved rule (if on)."""
    rule = description.get("stuck_rule") or {}
    if int(rule.get("steps", 0)) <= 0:
        return policy
    return StuckGuardPolicy(policy, int(rule["steps"]), rule["key_features"], seed=seed)


def accuracy(net: nn.Module, obs: np.ndarray, actions: np.ndarray) -> float:
    """Fraction of samples whose most likely action is the recorded one."""
    with torch.no_grad():
        pred = net(torch.from_numpy(obs)).argmax(dim=1).numpy()
    return float(np.mean(pred == actions)) if len(actions) else float("nan")

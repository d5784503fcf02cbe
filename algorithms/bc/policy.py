"""The BC network, its pickle-free checkpoint files, and how a loaded clone plays.

A clone may read its own last ``history`` actions beside the featurized observation (humans'
moves come in runs of key presses, so the last actions predict the next one). The network then
takes ``obs_dim + history * NUM_ACTIONS`` inputs; :class:`BCPolicy` keeps each row's past actions and
appends them, so to its callers the loaded clone takes plain env observations like any policy.

Anti-stuck rule (after Carroll et al. 2019, whose BC agents otherwise freeze when a human habit
meets a state the data rarely shows): when a cook's own position, orientation and held object
have not changed for ``stuck_steps`` consecutive steps, the actions it took during those steps are
masked out and it samples from the remaining probabilities of its policy (uniformly among them if
the policy puts no mass there). Any change of those features clears the memory. ``stuck_steps: 0``
turns the rule off. The rule reads the features from the observation (``key_features``: the
orientation and held-object one-hots and the own position of the featurized encoding).

State is per row: ``rows=`` names the rows of a batch (e.g. env copies, as partner seats call it)
and ``reset(rows)`` starts those rows' episodes anew; without ``rows`` row i of the batch is row i,
and a batch of another size starts fresh.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from diverse_marl.algorithms.safe_checkpoint import write_safe_checkpoint
from diverse_marl.envs.overcooked.core import ACTION_STAY, NUM_ACTIONS

FAMILY = "bc"
POLICY_ID = "shared"
# featurized encoding (envs/overcooked/features.py): own orientation one-hot [0:4], held one-hot [4:8],
# own (x, y) position last
ORIENTATION_AND_HELD = tuple(range(8))
OWN_POSITION_FROM_END = 2


def stuck_key_features(obs_dim: int) -> list[int]:
    """Observation indices whose constancy means "stuck" for a featurized Overcooked observation."""
    return [*ORIENTATION_AND_HELD, *range(obs_dim - OWN_POSITION_FROM_END, obs_dim)]


def make_network(in_dim: int, num_actions: int, hidden_sizes: Sequence[int]) -> nn.Sequential:
    """An MLP with ReLU activations; its layer list (``actor_layers``) rebuilds it without this module."""
    layers: list[nn.Module] = []
    last = in_dim
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
    history: int = 0,
) -> None:
    """``policies.json`` + weights: one policy shared by every agent, with its history and anti-stuck rule.

    ``obs_shape`` is the network's input (observation + history); ``env_obs_dim`` the env's part."""
    desc = {
        "obs_shape": [obs_dim + history * num_actions],
        "num_actions": num_actions,
        "has_mask": False,
        "actor_layers": actor_layers(net),
        "action_space": {"type": "Discrete", "n": num_actions, "start": 0},
        "flatten_space": None,
        "env_obs_dim": obs_dim,
        "history": int(history),
        "stuck_rule": {"steps": int(stuck_steps), "key_features": stuck_key_features(obs_dim)},
    }
    write_safe_checkpoint(
        checkpoint_dir, FAMILY, {POLICY_ID: net.state_dict()}, {POLICY_ID: desc}, agents={a: POLICY_ID for a in agents}
    )


def history_one_hot(past: np.ndarray) -> np.ndarray:
    """(B, history) action indices, most recent first -> (B, history * NUM_ACTIONS) one-hot."""
    past = np.asarray(past, dtype=np.int64)
    out = np.zeros((*past.shape, NUM_ACTIONS), dtype=np.float32)
    np.put_along_axis(out, past[..., None], 1.0, axis=-1)
    return out.reshape(len(past), -1)


class BCPolicy:
    """A loaded clone as it plays: its past actions as input plus the anti-stuck rule (module docstring).

    Callable like any policy (``p(obs_batch, deterministic=False, rows=None) -> actions``) on plain
    env observations; ``reset(rows=None)`` forgets every row's memory or only that of ``rows``.
    """

    def __init__(
        self,
        policy: Any,
        stuck_steps: int,
        key_features: Sequence[int],
        history: int = 0,
        seed: int | None = None,
    ) -> None:
        self.policy = policy
        self.stuck_steps = int(stuck_steps)
        self.key_features = np.asarray(key_features, dtype=np.int64)
        self.history = int(history)
        self.policy_id = policy.policy_id
        self.num_actions = policy.num_actions
        self.obs_shape = (int(policy.obs_shape[0]) - self.history * self.num_actions,)
        self._rng = np.random.default_rng(seed)
        self.reset()

    def seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self, rows: Sequence[int] | np.ndarray | None = None) -> None:
        if rows is None:
            self._allocate(0)
            return
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        idx = idx[idx < len(self._known)]
        self._known[idx] = False
        self._unchanged[idx] = 0
        self._tried[idx] = False
        self._past[idx] = ACTION_STAY

    def _allocate(self, size: int) -> None:
        """Fresh memory for rows 0..size-1 (new rows know nothing yet)."""
        self._keys = np.zeros((size, len(self.key_features)), dtype=np.float32)
        self._known = np.zeros(size, dtype=bool)
        self._unchanged = np.zeros(size, dtype=np.int64)
        self._tried = np.zeros((size, self.num_actions), dtype=bool)
        self._past = np.full((size, self.history), ACTION_STAY, dtype=np.int64)

    def _grow(self, size: int) -> None:
        have = len(self._known)
        if size > have:
            old = (self._keys, self._known, self._unchanged, self._tried, self._past)
            self._allocate(size)
            for new, prev in zip((self._keys, self._known, self._unchanged, self._tried, self._past), old):
                new[:have] = prev

    def _rows(self, n: int, rows: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if rows is None:
            if len(self._known) != n:
                self._allocate(n)
            return np.arange(n)
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(idx) != n:
            raise ValueError(f"rows names {len(idx)} rows for a batch of {n} observations")
        self._grow(int(idx.max()) + 1 if n else 0)
        return idx

    def _batch(self, obs: Any) -> tuple[np.ndarray, bool]:
        x = np.asarray(obs, dtype=np.float32)
        single = x.shape == tuple(self.obs_shape)
        return (x[None] if single else x.reshape(len(x), -1)), single

    def _network_probs(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        if self.history:
            x = np.concatenate([x, history_one_hot(self._past[idx])], axis=1)
        return np.asarray(self.policy.action_probs(x), dtype=np.float64).reshape(len(x), -1)

    def action_probs(self, obs: Any, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """The network's action probabilities given each row's remembered actions (memory unchanged)."""
        x, single = self._batch(obs)
        probs = self._network_probs(x, self._rows(len(x), rows))
        return probs[0] if single else probs

    def __call__(
        self, obs: Any, deterministic: bool = False, rows: Sequence[int] | np.ndarray | None = None
    ) -> np.ndarray:
        x, single = self._batch(obs)
        idx = self._rows(len(x), rows)
        probs = self._network_probs(x, idx)
        keys = x[:, self.key_features]
        same = self._known[idx] & np.all(keys == self._keys[idx], axis=1)
        unchanged = np.where(same, self._unchanged[idx] + 1, 0)
        tried = self._tried[idx] & same[:, None]
        if self.stuck_steps > 0:
            stuck = unchanged >= self.stuck_steps
            if stuck.any():
                allowed = ~tried[stuck]
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
        tried[np.arange(len(x)), actions] = True
        self._tried[idx], self._unchanged[idx], self._keys[idx], self._known[idx] = tried, unchanged, keys, True
        if self.history:
            self._past[idx] = np.concatenate([actions[:, None], self._past[idx][:, :-1]], axis=1)
        return actions[0] if single else actions


def with_stuck_rule(policy: Any, description: dict[str, Any], seed: int | None = None) -> Any:
    """What ``load_policy`` returns for a BC checkpoint: the network wrapped by :class:`BCPolicy`
    (its action history and anti-stuck rule), or the bare network if it uses neither."""
    rule = description.get("stuck_rule") or {}
    history = int(description.get("history", 0))
    if int(rule.get("steps", 0)) <= 0 and history == 0:
        return policy
    return BCPolicy(policy, int(rule.get("steps", 0)), rule.get("key_features", []), history=history, seed=seed)


def predict_probs(net: nn.Module, obs: np.ndarray) -> np.ndarray:
    """Softmax of the network on a batch of (observation + history) rows."""
    with torch.no_grad():
        return torch.softmax(net(torch.from_numpy(obs)), dim=1).double().numpy()


def accuracy(net: nn.Module, obs: np.ndarray, actions: np.ndarray) -> float:
    """Fraction of samples whose most likely action is the recorded one."""
    with torch.no_grad():
        pred = net(torch.from_numpy(obs)).argmax(dim=1).numpy()
    return float(np.mean(pred == actions)) if len(actions) else float("nan")

"""State-distance terms of SIPO (Fu et al., NeurIPS 2023): the math in one place.

Iteration k of SIPO maximizes the task reward subject to ``D(pi_k, pi_j) >= delta`` for every
earlier policy j, where D compares the *state* distributions. Each constraint becomes an
intrinsic reward ``r_j(s)`` whose mean over the current policy's states estimates ``D``:

- **RBF** (SIPO-RBF): ``r_j(s) = -log mean_k exp(-||s - s_k||^2 / (2 h^2)) - c_j`` over j's archived
  states ``s_k``; the bandwidth ``h`` is the median pairwise distance of the archive (the median
  heuristic). States j visits often get ~0 or less; states j never came near get ``~||s - s_k||^2 / 2h^2``.
  Departure from the paper, stated: ``c_j`` (:func:`rbf_self_distance`) is the same quantity's mean
  over j's own archived states, so that j is at distance 0 from itself, as with the Wasserstein
  estimate below. Without it the estimate has a floor that grows with the spread of j's states
  (0.2 on the multi-goal grid, 0.53 in Overcooked, where two MAPPO seeds measure 0.51-0.54
  from each other), and a ``delta`` below that floor is met by j itself.
- **Wasserstein** (SIPO-WD): a small critic ``f_j`` kept 1-Lipschitz by a gradient penalty and
  trained alongside the policy to maximize ``E_pi[f_j] - E_j[f_j]`` (the Kantorovich-Rubinstein
  dual of W1); ``r_j(s) = f_j(s) - E_j[f_j]``, whose mean over the policy's states is the W1 estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

RBF_CHUNK_ROWS = 1024  # rows of the (states x archive) kernel matrix computed at once
MEDIAN_SAMPLE = 1000  # archive states the median heuristic looks at (seeded subsample)
MIN_BANDWIDTH = 1e-3  # floor for degenerate archives (all states equal)


def median_bandwidth(archive: np.ndarray, seed: int = 0) -> float:
    """The median heuristic: median of the nonzero pairwise distances between archived states."""
    x = np.asarray(archive, dtype=np.float64)
    if len(x) > MEDIAN_SAMPLE:
        x = x[np.random.default_rng(seed).choice(len(x), MEDIAN_SAMPLE, replace=False)]
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    d = np.sqrt(d2[np.triu_indices(len(x), k=1)])
    d = d[d > 0]
    return float(max(np.median(d), MIN_BANDWIDTH)) if len(d) else 1.0


def rbf_intrinsic(states: np.ndarray, archive: np.ndarray, bandwidth: float) -> np.ndarray:
    """``r(s) = -log mean_k exp(-||s - s_k||^2 / (2 h^2))`` for every row of ``states`` (N, D) -> (N,).

    Computed on the distinct rows of both sides (grid states repeat a lot), the archive's
    duplicates entering the mean as log-weights; same result as the plain formula."""
    s, s_inverse = np.unique(np.asarray(states, dtype=np.float64), axis=0, return_inverse=True)
    a, counts = np.unique(np.asarray(archive, dtype=np.float64), axis=0, return_counts=True)
    x, y = torch.from_numpy(s).float(), torch.from_numpy(a).float()  # float32: ~2x faster, error ~1e-6
    log_w = torch.from_numpy(np.log(counts / counts.sum())).float()
    y_sq = (y**2).sum(1)
    out = torch.empty(len(x), dtype=torch.float32)
    for start in range(0, len(x), RBF_CHUNK_ROWS):
        xc = x[start : start + RBF_CHUNK_ROWS]
        d2 = ((xc**2).sum(1)[:, None] - 2.0 * xc @ y.T + y_sq[None, :]).clamp_min(0.0)
        out[start : start + len(xc)] = -torch.logsumexp(log_w[None, :] - d2 / (2.0 * bandwidth**2), dim=1)
    return out.double().numpy()[s_inverse.reshape(-1)]


def rbf_self_distance(archive: np.ndarray, bandwidth: float) -> float:
    """``c_j``: the mean of ``-log mean_k exp(-||s - s_k||^2 / 2h^2)`` over the archive's own states."""
    return float(rbf_intrinsic(archive, archive, bandwidth).mean())


class WassersteinCritic:
    """One archived policy's critic ``f_j``: an MLP on states, Lipschitz by gradient penalty (WGAN-GP)."""

    def __init__(
        self,
        state_dim: int,
        archive: np.ndarray,
        *,
        hidden: int = 64,
        lr: float = 1e-3,
        steps: int = 5,
        batch: int = 512,
        gp_coef: float = 10.0,
        seed: int = 0,
    ) -> None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.net = torch.nn.Sequential(
                torch.nn.Linear(state_dim, hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(hidden, hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(hidden, 1),
            )
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.archive = torch.as_tensor(np.asarray(archive), dtype=torch.float32)
        self.steps, self.batch, self.gp_coef = int(steps), int(batch), float(gp_coef)
        self.rng = np.random.default_rng(seed)

    def fit(self, states: np.ndarray) -> None:
        """A few ascent steps on ``E_pi[f] - E_j[f] - gp_coef * (|grad f| - 1)^2`` with the current states."""
        cur = torch.as_tensor(np.asarray(states), dtype=torch.float32)
        for _ in range(self.steps):
            x = cur[torch.as_tensor(self.rng.integers(len(cur), size=self.batch))]
            y = self.archive[torch.as_tensor(self.rng.integers(len(self.archive), size=self.batch))]
            eps = torch.as_tensor(self.rng.random((self.batch, 1)), dtype=torch.float32)
            mid = (eps * x + (1 - eps) * y).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.net(mid).sum(), mid, create_graph=True)
            penalty = ((grad.norm(dim=1) - 1.0) ** 2).mean()
            loss = -(self.net(x).mean() - self.net(y).mean()) + self.gp_coef * penalty
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    @torch.no_grad()
    def intrinsic(self, states: np.ndarray) -> np.ndarray:
        """``r(s) = f(s) - E_j[f]`` per row; its mean over the policy's states estimates W1."""
        f = self.net(torch.as_tensor(np.asarray(states), dtype=torch.float32)).squeeze(-1)
        return (f - self.net(self.archive).mean()).double().numpy()

    def get_state(self) -> dict[str, Any]:
        return {
            "net": {k: v.numpy().copy() for k, v in self.net.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict({k: torch.as_tensor(v) for k, v in state["net"].items()})
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]

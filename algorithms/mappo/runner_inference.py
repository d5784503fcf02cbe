"""The vector runner's inference: one RLModule forward pass over a stacked batch of rows.

Recurrent modules get what RLlib's own runner gives them: observations with a time axis of
length 1 (``(B, 1, ...)``) and ``state_in`` (``(B, ...)`` per state entry); their outputs lose
the time axis again, and ``state_out`` comes back as numpy arrays (one row per input row).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any

import numpy as np
import torch
import tree
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.torch import TorchRLModule

# Per-step inference on a few hundred rows is latency-bound: extra torch threads only add
# synchronization (10x slower on a busy 2-core machine). Restored after each sample() call.
SAMPLER_TORCH_THREADS = 1


@contextlib.contextmanager
def torch_threads(n: int):
    """Temporarily cap torch's intra-op threads (cheap to toggle; no-op if already <= n)."""
    before = torch.get_num_threads()
    if before > n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before > n:
            torch.set_num_threads(before)


def module_outputs(
    module: Any, inputs: list[Any], explore: bool, t: int | None = None, state_in: Any = None
) -> dict[str, Any]:
    """Actions (``Columns.ACTIONS``) and per-row extra outputs (logp, dist inputs, vf preds, ...)
    of ``module`` on the concatenation of ``inputs`` (arrays or dicts of arrays), as numpy.

    ``state_in`` (recurrent modules): the rows' states, a structure of ``(B, ...)`` arrays; the
    result then holds ``Columns.STATE_OUT`` in the same structure."""
    batch = {Columns.OBS: _to_tensor(_concat(inputs))}
    if state_in is not None:
        batch[Columns.OBS] = tree.map_structure(lambda x: x.unsqueeze(1), batch[Columns.OBS])
        batch[Columns.STATE_IN] = tree.map_structure(lambda x: torch.from_numpy(np.ascontiguousarray(x)), state_in)
    with torch.no_grad():
        if explore:
            out = _forward(module, "exploration", batch, t=t)
            dist_cls = module.get_exploration_action_dist_cls()
        else:
            out = _forward(module, "inference", batch)
            dist_cls = module.get_inference_action_dist_cls()
        state_out = out.pop(Columns.STATE_OUT, None)
        if state_in is not None:  # drop the time axis again
            out = {k: v.squeeze(1) if isinstance(v, torch.Tensor) and v.dim() >= 2 else v for k, v in out.items()}
        if Columns.ACTIONS not in out:
            dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
            if not explore:
                dist = dist.to_deterministic()
            out[Columns.ACTIONS] = dist.sample()
            if Columns.ACTION_LOGP not in out:
                out[Columns.ACTION_LOGP] = dist.logp(out[Columns.ACTIONS])
    rows = _batch_len(batch)
    result: dict[str, Any] = {
        k: v.detach().cpu().numpy()
        for k, v in out.items()
        if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == rows
    }
    if state_in is not None:
        result[Columns.STATE_OUT] = tree.map_structure(lambda v: v.detach().cpu().numpy(), state_out)
    return result


def rows_by_module(
    module_ids: dict[str, np.ndarray], acting: dict[str, np.ndarray]
) -> dict[str, list[tuple[str, np.ndarray]]]:
    """module id -> ``[(agent, rows)]``: the env copies where that module acts for each agent.

    ``module_ids[agent]``: (N,) module id of each copy's episode; ``acting[agent]``: (N,) bool.
    One forward pass per module then covers all its rows of all agents."""
    groups: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for a, mids in module_ids.items():
        alive = acting[a]
        for mid in set(mids[alive].tolist()) if alive.any() else ():
            groups[mid].append((a, np.nonzero(alive & (mids == mid))[0]))
    return groups


def scatter_outputs(
    out: dict[str, Any],
    parts: list[tuple[str, np.ndarray]],
    actions: dict[str, np.ndarray],
    extra: dict[str, dict[str, Any]],
    num_rows: int,
    recurrent: dict[str, Any] | None = None,
) -> None:
    """Write one forward pass's stacked ``out`` back to the agents' rows, in the order of ``parts``:
    actions into ``actions[agent]``, other columns into ``extra[agent]`` ((num_rows, ...) arrays,
    created on first use), ``state_out`` into ``recurrent[agent]`` (the module's states, updated in place)."""
    start = 0
    for a, rows in parts:
        end = start + len(rows)
        actions[a][rows] = out[Columns.ACTIONS][start:end]
        for col, val in out.items():
            if col == Columns.ACTIONS:
                continue
            if col not in extra[a]:
                extra[a][col] = zeros_like_rows(val, num_rows)
            put_rows(extra[a][col], rows, val, start, end)
        if recurrent is not None:
            put_rows(recurrent[a], rows, out[Columns.STATE_OUT], start, end)
        start = end


def random_legal_actions(num_actions: int, rows: int, mask: np.ndarray | None) -> np.ndarray:
    """Uniform random actions for ``rows`` rows, among the legal ones if there is a (rows, A) mask."""
    if mask is None:
        return np.random.randint(0, num_actions, size=rows)
    u = np.random.random((rows, 1)) * mask.sum(axis=1, keepdims=True)
    return np.minimum((np.cumsum(mask, axis=1) <= u).sum(axis=1), num_actions - 1)


def put_rows(dst: Any, rows: np.ndarray, src: Any, start: int, end: int) -> None:
    """``dst[rows] = src[start:end]`` for an array or a structure of arrays (recurrent states)."""
    if isinstance(dst, np.ndarray):  # the common case, every step: skip tree's per-call overhead
        dst[rows] = src[start:end]
        return
    tree.map_structure(lambda d, v: d.__setitem__(rows, v[start:end]), dst, src)


def zeros_like_rows(val: Any, n: int) -> Any:
    """Zeros of ``n`` rows shaped like ``val``'s rows (an array or a structure of arrays)."""
    if isinstance(val, np.ndarray):
        return np.zeros((n, *val.shape[1:]), val.dtype)
    return tree.map_structure(lambda v: np.zeros((n, *v.shape[1:]), v.dtype), val)


def _forward(module: Any, kind: str, batch: dict, **kwargs: Any) -> dict:
    """``module.forward_<kind>`` without its per-call train/eval toggling (a recursive walk over
    all submodules, ~15% of sampling time). Our modules stay in eval mode (set in make_module),
    so calling the documented ``_forward_<kind>`` hook directly computes the same thing."""
    if isinstance(module, TorchRLModule) and not module.training:
        return getattr(module, f"_forward_{kind}")(batch, **kwargs)
    return getattr(module, f"forward_{kind}")(batch, **kwargs)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def _to_tensor(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _to_tensor(v) for k, v in x.items()}
    return torch.from_numpy(np.ascontiguousarray(x))


def _batch_len(batch: dict) -> int:
    obs = batch[Columns.OBS]
    while isinstance(obs, dict):
        obs = next(iter(obs.values()))
    return int(obs.shape[0])

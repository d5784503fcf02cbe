"""Fort detection: are the hiders enclosed so that no seeker can reach them?

Exact definition (used by ``hiders_enclosed_prep_end`` / ``hiders_enclosed_end``):

Build a graph over cells. A cell is *passable* unless it is a wall or holds a box *locked by
the hiders* (any other box is passable: seekers can push or pull an unlocked box out of the
way, and unlock one they locked themselves; so only hider-locked boxes make a fort, as in
Baker et al.). Edges:

1. between 4-neighbouring passable cells;
2. a *ramp jump*: from a cell holding a ramp (locked or not), in direction d, over a wall cell
   to the passable cell beyond it (this is exactly the move the ramp allows);
3. *portable ramps*: if some ramp **not locked by the hiders** lies on a cell reachable from a
   seeker, the seekers can carry it to any wall they can reach, so every reachable cell gets the
   ramp-jump edges of rule 2 (the original counts a fort as breached when seekers can get a
   movable ramp to it).

The hiders are *enclosed* iff no hider's cell is reachable from any seeker's cell. Outer walls
can never be jumped (there is no cell beyond them).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from diverse_marl.envs.hide_and_seek.config import BOX, DIRECTIONS, HIDERS, RAMP


def _reachable(
    passable: np.ndarray,
    walls: np.ndarray,
    ramp_cells: set[tuple[int, int]],
    starts: list[tuple[int, int]],
    portable: bool,
) -> np.ndarray:
    rows, cols = passable.shape
    seen = np.zeros_like(passable)
    queue: deque[tuple[int, int]] = deque()
    for s in starts:
        if not seen[s]:
            seen[s] = True
            queue.append(s)
    while queue:
        r, c = queue.popleft()
        can_jump = portable or (r, c) in ramp_cells
        for dr, dc in DIRECTIONS:
            nr, nc = r + dr, c + dc
            if not (0 <= nr < rows and 0 <= nc < cols):
                continue
            if passable[nr, nc]:
                target = (nr, nc)
            elif can_jump and walls[nr, nc]:
                br, bc = nr + dr, nc + dc
                if not (0 <= br < rows and 0 <= bc < cols) or not passable[br, bc]:
                    continue
                target = (br, bc)
            else:
                continue
            if not seen[target]:
                seen[target] = True
                queue.append(target)
    return seen


def hiders_enclosed(
    walls: np.ndarray,
    obj_pos: np.ndarray,
    obj_kind: np.ndarray,
    obj_lock: np.ndarray,
    agent_pos: np.ndarray,
    n_hiders: int,
) -> bool:
    """True iff no hider can be reached from any seeker (definition in the module docstring)."""
    passable = ~walls.astype(bool)
    ramp_cells: set[tuple[int, int]] = set()
    movable_ramps = []  # ramps the seekers can move (not locked by the hiders)
    for (r, c), kind, lock in zip(
        np.asarray(obj_pos).tolist(), np.asarray(obj_kind).tolist(), np.asarray(obj_lock).tolist()
    ):
        if kind == BOX and lock == HIDERS:
            passable[r, c] = False
        elif kind == RAMP:
            ramp_cells.add((r, c))
            if lock != HIDERS:
                movable_ramps.append((r, c))
    pos = [tuple(p) for p in np.asarray(agent_pos).tolist()]
    hiders, seekers = pos[:n_hiders], pos[n_hiders:]
    seen = _reachable(passable, walls, ramp_cells, seekers, portable=False)
    if any(seen[c] for c in movable_ramps):
        seen = _reachable(passable, walls, ramp_cells, seekers, portable=True)
    return not any(seen[h] for h in hiders)


def _shift(x: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """out[..., r, c] = x[..., r - dr, c - dc] (zero where that is outside)."""
    out = np.zeros_like(x)
    rows, cols = x.shape[-2:]
    out[..., max(dr, 0) : rows + min(dr, 0), max(dc, 0) : cols + min(dc, 0)] = x[
        ..., max(-dr, 0) : rows + min(-dr, 0), max(-dc, 0) : cols + min(-dc, 0)
    ]
    return out


def _flood(reach: np.ndarray, passable: np.ndarray, walls: np.ndarray, jump_from: np.ndarray) -> np.ndarray:
    """Grow ``reach`` (N, rows, cols) along rule 1 and 2 edges until nothing changes."""
    # cells beyond a wall in direction d, reachable by a jump from a jump_from cell
    while True:
        new = reach.copy()
        for dr, dc in DIRECTIONS:
            new |= _shift(reach, dr, dc) & passable
            over_wall = _shift(reach & jump_from, dr, dc) & walls
            new |= _shift(over_wall, dr, dc) & passable
        if np.array_equal(new, reach):
            return reach
        reach = new


def hiders_enclosed_batch(
    walls: np.ndarray,
    obj_rc: np.ndarray,
    obj_kind: np.ndarray,
    obj_lock: np.ndarray,
    agent_rc: np.ndarray,
    n_hiders: int,
) -> np.ndarray:
    """``hiders_enclosed`` for N envs at once with numpy flood fill.

    walls (N, rows, cols) bool; obj_rc (N, O, 2); obj_kind (O,); obj_lock (N, O); agent_rc (N, A, 2).
    Returns a bool array (N,). Same definition as ``hiders_enclosed`` (tested against it).
    """
    n = walls.shape[0]
    env = np.arange(n)[:, None]
    walls = walls.astype(bool)
    passable = ~walls
    is_box = (obj_kind == BOX)[None, :]
    locked_box = is_box & (obj_lock == HIDERS)
    passable[
        np.broadcast_to(env, locked_box.shape)[locked_box], obj_rc[..., 0][locked_box], obj_rc[..., 1][locked_box]
    ] = False
    is_ramp = np.broadcast_to((obj_kind == RAMP)[None, :], obj_lock.shape)
    ramp_grid = np.zeros_like(walls)
    ramp_grid[np.broadcast_to(env, is_ramp.shape)[is_ramp], obj_rc[..., 0][is_ramp], obj_rc[..., 1][is_ramp]] = True
    start = np.zeros_like(walls)
    seekers = agent_rc[:, n_hiders:]
    start[np.broadcast_to(env, seekers.shape[:2]), seekers[..., 0], seekers[..., 1]] = True
    reach = _flood(start, passable, walls, ramp_grid)
    movable_ramp = is_ramp & (obj_lock != HIDERS)
    ramp_reached = reach[np.broadcast_to(env, obj_lock.shape), obj_rc[..., 0], obj_rc[..., 1]] & movable_ramp
    portable = ramp_reached.any(axis=1)
    if portable.any():
        jump_from = ramp_grid | portable[:, None, None]
        reach = _flood(reach, passable, walls, jump_from)
    hiders = agent_rc[:, :n_hiders]
    hider_reached = reach[np.broadcast_to(env, hiders.shape[:2]), hiders[..., 0], hiders[..., 1]]
    return ~hider_reached.any(axis=1)

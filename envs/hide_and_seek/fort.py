"""Fort detection: are the hiders enclosed so that no seeker can reach them?

Exact definition (used by ``hiders_enclosed_prep_end`` / ``hiders_enclosed_end``):

Build a graph over cells. A cell is *passable* unless it is a wall or holds a *locked* box
(an unlocked box is passable: seekers can push or pull it out of the way, so only locked boxes
make a fort, as in Baker et al.). Edges:

1. between 4-neighbouring passable cells;
2. a *ramp jump*: from a cell holding a ramp (locked or not), in direction d, over a wall cell
   to the passable cell beyond it (this is exactly the move the ramp allows);
3. *portable ramps*: if some **unlocked** ramp lies on a cell reachable from a seeker, the seekers
   can carry it to any wall they can reach, so every reachable cell gets the ramp-jump edges of
   rule 2 (the original counts a fort as breached when seekers can get an unlocked ramp to it).

The hiders are *enclosed* iff no hider's cell is reachable from any seeker's cell. Outer walls
can never be jumped (there is no cell beyond them).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from diverse_marl.envs.hide_and_seek.config import BOX, DIRECTIONS, RAMP, UNLOCKED


def _reachable(passable: np.ndarray, walls: np.ndarray, ramp_cells: set[tuple[int, int]],
               starts: list[tuple[int, int]], portable: bool) -> np.ndarray:
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


def hiders_enclosed(walls: np.ndarray, obj_pos: np.ndarray, obj_kind: np.ndarray, obj_lock: np.ndarray,
                    agent_pos: np.ndarray, n_hiders: int) -> bool:
    """True iff no hider can be reached from any seeker (definition in the module docstring)."""
    passable = ~walls.astype(bool)
    ramp_cells: set[tuple[int, int]] = set()
    unlocked_ramps = []
    for (r, c), kind, lock in zip(np.asarray(obj_pos).tolist(), np.asarray(obj_kind).tolist(),
                                  np.asarray(obj_lock).tolist()):
        if kind == BOX and lock != UNLOCKED:
            passable[r, c] = False
        elif kind == RAMP:
            ramp_cells.add((r, c))
            if lock == UNLOCKED:
                unlocked_ramps.append((r, c))
    pos = [tuple(p) for p in np.asarray(agent_pos).tolist()]
    hiders, seekers = pos[:n_hiders], pos[n_hiders:]
    seen = _reachable(passable, walls, ramp_cells, seekers, portable=False)
    if any(seen[c] for c in unlocked_ramps):
        seen = _reachable(passable, walls, ramp_cells, seekers, portable=True)
    return not any(seen[h] for h in hiders)

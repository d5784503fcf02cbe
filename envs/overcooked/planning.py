"""Shortest-path tables over (position, orientation) motion states, computed once per layout.

overcooked_ai's featurized observation asks its motion planner "which pot / dispenser / ... is
closest?" (``MotionPlanner.min_cost_to_feature``). That planner counts the actions needed to walk
from a (position, orientation) state to a *motion goal* of a feature: a floor cell next to the
feature, facing it. Moving in direction d sets the orientation to d and changes the cell only if
the next cell is floor (other players are ignored); so the cost is a breadth-first-search distance
in a graph with 4 * (#floor cells) nodes. A goal facing a counter is only valid if that counter is
in the planner's ``counter_goals`` (empty by default: overcooked_ai's ``NO_COUNTERS_PARAMS``).

Motion state index: ``(y * W + x) * 4 + orientation`` for every cell (non-floor rows are unused).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from diverse_marl.envs.overcooked.layouts import COUNTER, FLOOR, Layout

NUM_ORIENTATIONS = 4
# (dx, dy) for orientation 0 N, 1 S, 2 E, 3 W (overcooked_ai's Direction.ALL_DIRECTIONS order)
_DIRS = ((0, -1), (0, 1), (1, 0), (-1, 0))
_OPPOSITE = (1, 0, 3, 2)
UNREACHABLE = np.iinfo(np.int32).max  # distance sentinel: no valid motion goal reachable


@dataclass(frozen=True)
class DistanceTables:
    """``motion[s, g]``: actions from motion state s to motion state g (UNREACHABLE if none).

    ``to_cell[s, c]``: cost from motion state s to the closest valid motion goal of cell c
    (c = y * W + x), i.e. overcooked_ai's ``get_gridworld_distance`` minimised over the goals
    of that feature; UNREACHABLE if c is floor, has no valid goal, or is in another region.
    """

    motion: np.ndarray
    to_cell: np.ndarray


def _step(terrain: np.ndarray, x: int, y: int, d: int) -> tuple[int, int]:
    dx, dy = _DIRS[d]
    nx, ny = x + dx, y + dy
    h, w = terrain.shape
    if 0 <= nx < w and 0 <= ny < h and terrain[ny, nx] == FLOOR:
        return nx, ny
    return x, y


def motion_distances(terrain: np.ndarray) -> np.ndarray:
    """(S, S) int32 BFS distances between motion states, S = H * W * 4 (UNREACHABLE if none)."""
    h, w = terrain.shape
    n_states = h * w * NUM_ORIENTATIONS
    sources, targets = [], []
    floor_states = []
    for y in range(h):
        for x in range(w):
            if terrain[y, x] != FLOOR:
                continue
            for o in range(NUM_ORIENTATIONS):
                s = (y * w + x) * NUM_ORIENTATIONS + o
                floor_states.append(s)
                for d in range(NUM_ORIENTATIONS):
                    nx, ny = _step(terrain, x, y, d)
                    sources.append(s)
                    targets.append((ny * w + nx) * NUM_ORIENTATIONS + d)
    graph = csr_matrix((np.ones(len(sources)), (sources, targets)), shape=(n_states, n_states))
    dist = np.full((n_states, n_states), UNREACHABLE, dtype=np.int32)
    if floor_states:
        found = shortest_path(graph, method="D", directed=True, unweighted=True, indices=floor_states)
        reachable = np.isfinite(found)
        dist[floor_states] = np.where(reachable, found, UNREACHABLE).astype(np.int64).clip(max=UNREACHABLE)
    return dist


def motion_goals(terrain: np.ndarray, cell: tuple[int, int], counter_goals: set[tuple[int, int]]) -> list[int]:
    """Motion-state indices from which a player faces ``cell`` and could interact with it."""
    x, y = cell
    h, w = terrain.shape
    kind = terrain[y, x]
    if kind == FLOOR or (kind == COUNTER and (x, y) not in counter_goals):
        return []
    goals = []
    for d, (dx, dy) in enumerate(_DIRS):
        ax, ay = x + dx, y + dy
        if 0 <= ax < w and 0 <= ay < h and terrain[ay, ax] == FLOOR:
            goals.append((ay * w + ax) * NUM_ORIENTATIONS + _OPPOSITE[d])
    return goals


_CACHE: dict[tuple, DistanceTables] = {}


def distance_tables(layout: Layout, counter_goals: Iterable[tuple[int, int]] = ()) -> DistanceTables:
    """Cached tables for ``layout`` (keyed by terrain and counter goals)."""
    goals_set = {(int(x), int(y)) for x, y in counter_goals}
    terrain = np.asarray(layout.terrain)
    key = (terrain.shape, terrain.tobytes(), tuple(sorted(goals_set)))
    if key not in _CACHE:
        motion = motion_distances(terrain)
        h, w = terrain.shape
        to_cell = np.full((motion.shape[0], h * w), UNREACHABLE, dtype=np.int32)
        for y in range(h):
            for x in range(w):
                goals = motion_goals(terrain, (x, y), goals_set)
                if goals:
                    to_cell[:, y * w + x] = motion[:, goals].min(axis=1)
        motion.setflags(write=False)
        to_cell.setflags(write=False)
        _CACHE[key] = DistanceTables(motion, to_cell)
    return _CACHE[key]

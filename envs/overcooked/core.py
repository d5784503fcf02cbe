"""Batched Overcooked state and its vectorized step (dynamics identical to overcooked_ai 0.2.1 / overcooked).

N independent kitchens of one layout are held in numpy arrays with leading dim N. Conventions
(overcooked_ai's): a position is (x, y), x = column, y = row; grids are indexed ``[n, y, x]``.

Codes
-----
Orientation index (``ori``): 0 NORTH (0,-1), 1 SOUTH (0,1), 2 EAST (1,0), 3 WEST (-1,0)  (= ``DIRECTIONS``).
Actions: 0 north, 1 south, 2 east, 3 west, 4 stay, 5 interact (overcooked_ai's Action.INDEX_TO_ACTION).
Object codes (``held``, ``obj``): 0 NOTHING, 1 ONION, 2 TOMATO, 3 DISH, 4 SOUP.

Soups
-----
A soup (in a pot, on a counter or in a player's hand) is described by four numbers:
``onions`` and ``tomatoes`` (ingredient counts, 0..3), ``tick`` (overcooked_ai's cooking_tick:
-1 = not started/idle, 0.. = ticks cooked; it is *ready* once ``tick >= layout.recipe_time[onions, tomatoes]``,
*cooking* if ``0 <= tick < cook time``) and ``order`` (bit k set <=> the k-th added ingredient was a
tomato; only needed to reproduce overcooked_ai's ingredient list order in ``to_dict``).
A pot is empty iff ``obj[n, y, x] == NOTHING`` at the pot cell; a non-empty pot always holds a SOUP.

Objects not held by a player live on grid cells (counters, pots; overcooked_ai's ``state.objects``),
held objects live in ``held*`` arrays. Soup arrays at cells / in hands whose object is not SOUP are 0/-1
and must be ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from diverse_marl.envs.overcooked.layouts import Layout

NUM_PLAYERS = 2
NOTHING, ONION, TOMATO, DISH, SOUP = range(5)
OBJECT_NAMES = ("nothing", "onion", "tomato", "dish", "soup")
OBJECT_CODES = {name: code for code, name in enumerate(OBJECT_NAMES)}

NORTH, SOUTH, EAST, WEST = range(4)
DIRECTIONS = np.array([(0, -1), (0, 1), (1, 0), (-1, 0)], dtype=np.int64)  # index -> (dx, dy)
DIRECTION_INDEX = {tuple(int(v) for v in d): i for i, d in enumerate(DIRECTIONS)}

ACTION_NORTH, ACTION_SOUTH, ACTION_EAST, ACTION_WEST, ACTION_STAY, ACTION_INTERACT = range(6)
NUM_ACTIONS = 6
ACTION_NAMES = ("north", "south", "east", "west", "stay", "interact")


@dataclass
class BatchState:
    """State of N kitchens (everything that changes during an episode). All arrays have leading dim N.

    Players (index p = 0 for agent_0 / overcooked_ai player 0, 1 for agent_1):
        pos:          (N, 2, 2) int64  pos[n, p] = (x, y) of player p
        ori:          (N, 2)    int64  orientation index (0 N, 1 S, 2 E, 3 W)
        held:         (N, 2)    int64  object code held by player p (0 = nothing)
        held_onions:  (N, 2)    int64  soup ingredients if held == SOUP, else 0
        held_tomatoes:(N, 2)    int64
        held_tick:    (N, 2)    int64  soup cooking_tick if held == SOUP, else -1
        held_order:   (N, 2)    int64  soup ingredient-order bits if held == SOUP, else 0
    Grid objects (on counters / in pots; indexed [n, y, x], shape (N, H, W)):
        obj:          int64  object code on the cell (0 = nothing; pots: 0 = empty pot, 4 = soup)
        soup_onions:  int64  ingredients of the soup on the cell (0 if not a soup)
        soup_tomatoes:int64
        soup_tick:    int64  cooking_tick (-1 = idle / not a soup)
        soup_order:   int64  ingredient-order bits
    Time:
        timestep:     (N,) int64  steps taken in the episode (overcooked_ai's state.timestep)
    """

    pos: np.ndarray
    ori: np.ndarray
    held: np.ndarray
    held_onions: np.ndarray
    held_tomatoes: np.ndarray
    held_tick: np.ndarray
    held_order: np.ndarray
    obj: np.ndarray
    soup_onions: np.ndarray
    soup_tomatoes: np.ndarray
    soup_tick: np.ndarray
    soup_order: np.ndarray
    timestep: np.ndarray

    @property
    def num_envs(self) -> int:
        return int(self.timestep.shape[0])

    @classmethod
    def initial(cls, layout: Layout, num_envs: int) -> "BatchState":
        """N copies of the layout's start state (players at their starts facing NORTH, empty hands)."""
        n, h, w = num_envs, layout.height, layout.width
        pos = np.broadcast_to(np.array(layout.start_positions, dtype=np.int64), (n, NUM_PLAYERS, 2)).copy()
        return cls(
            pos=pos,
            ori=np.full((n, NUM_PLAYERS), NORTH, dtype=np.int64),
            held=np.zeros((n, NUM_PLAYERS), dtype=np.int64),
            held_onions=np.zeros((n, NUM_PLAYERS), dtype=np.int64),
            held_tomatoes=np.zeros((n, NUM_PLAYERS), dtype=np.int64),
            held_tick=np.full((n, NUM_PLAYERS), -1, dtype=np.int64),
            held_order=np.zeros((n, NUM_PLAYERS), dtype=np.int64),
            obj=np.zeros((n, h, w), dtype=np.int64),
            soup_onions=np.zeros((n, h, w), dtype=np.int64),
            soup_tomatoes=np.zeros((n, h, w), dtype=np.int64),
            soup_tick=np.full((n, h, w), -1, dtype=np.int64),
            soup_order=np.zeros((n, h, w), dtype=np.int64),
            timestep=np.zeros(n, dtype=np.int64),
        )

    def copy(self) -> "BatchState":
        return BatchState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def reset_rows(self, rows: np.ndarray, layout: Layout) -> None:
        """Put the envs selected by ``rows`` (bool mask or indices) back to the start state, in place."""
        fresh = BatchState.initial(layout, 1)
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(fresh, f.name)[0]

    def select(self, rows) -> "BatchState":
        """A new BatchState holding a copy of the selected envs."""
        return BatchState(**{f.name: getattr(self, f.name)[rows].copy() for f in fields(self)})

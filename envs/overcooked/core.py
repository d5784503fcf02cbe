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
from typing import Any

import numpy as np

from diverse_marl.envs.overcooked import events as _ev
from diverse_marl.envs.overcooked.layouts import (
    COUNTER,
    DISH_DISPENSER,
    FLOOR,
    ONION_DISPENSER,
    POT,
    SERVING,
    TOMATO_DISPENSER,
    Layout,
)
from diverse_marl.errors import ConfigError

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
    def initial(cls, layout: Layout, num_envs: int) -> BatchState:
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

    def copy(self) -> BatchState:
        return BatchState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def reset_rows(self, rows: np.ndarray, layout: Layout) -> None:
        """Put the envs selected by ``rows`` (bool mask or indices) back to the start state, in place."""
        fresh = BatchState.initial(layout, 1)
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(fresh, f.name)[0]

    def select(self, rows) -> BatchState:
        """A new BatchState holding a copy of the selected envs."""
        return BatchState(**{f.name: getattr(self, f.name)[rows].copy() for f in fields(self)})


# ---------------------------------------------------------------------------------------------
# Dynamics
# ---------------------------------------------------------------------------------------------
# overcooked_ai's BASE_REW_SHAPING_PARAMS (the three distance terms are unused by overcooked_ai too)
DEFAULT_REWARD_SHAPING: dict[str, float] = {
    "PLACEMENT_IN_POT_REW": 3,
    "DISH_PICKUP_REWARD": 3,
    "SOUP_PICKUP_REWARD": 5,
    "DISH_DISP_DISTANCE_REW": 0,
    "POT_DISTANCE_REW": 0,
    "SOUP_DISTANCE_REW": 0,
}
_UNUSED_SHAPING = ("DISH_DISP_DISTANCE_REW", "POT_DISTANCE_REW", "SOUP_DISTANCE_REW")


def check_reward_shaping(reward_shaping: dict | None) -> dict[str, float]:
    """Defaults updated by the user's dict; unknown keys raise ConfigError."""
    params = dict(DEFAULT_REWARD_SHAPING)
    for key, value in (reward_shaping or {}).items():
        if key not in params:
            raise ConfigError(f"unknown reward_shaping key {key!r}; allowed: {', '.join(DEFAULT_REWARD_SHAPING)}")
        if key in _UNUSED_SHAPING and value:
            raise ConfigError(
                f"reward_shaping {key!r} is not implemented (overcooked_ai ignores it too); leave it at 0"
            )
        params[key] = float(value)
    return params


E = _ev.EVENT_INDEX
# up to this many envs, the plain-Python path is faster than numpy (measured: break-even ~16-20 envs)
SCALAR_MAX_ENVS = 16


class OvercookedDynamics:
    """overcooked_ai's ``get_state_transition`` for N envs at once, on a BatchState, in place.

    Order of resolution (as overcooked_ai): interacts of player 0 then player 1 (against the live state,
    but with pot statuses taken *before* any interact, as overcooked_ai's ``pot_states``), then
    movement with collisions (both players stay if they would end on the same cell or swap cells;
    orientation still turns), then environment effects (timestep + 1, old dynamics auto-start of full
    pots, cooking ticks of every soup on the grid).
    """

    def __init__(self, layout: Layout, old_dynamics: bool = False, reward_shaping: dict | None = None):
        self.layout = layout
        self.old_dynamics = bool(old_dynamics)
        if self.old_dynamics and any(len(order) != 3 for order in layout.orders):
            raise ConfigError(
                f"old_dynamics=True needs orders of exactly 3 ingredients (pots start by themselves "
                f"when full), got orders {list(layout.orders)}"
            )
        self.shaping = check_reward_shaping(reward_shaping)
        h, w = layout.height, layout.width
        self.h, self.w = h, w
        self.terrain_flat = layout.terrain.reshape(-1).astype(np.int64)
        self.floor_flat = self.terrain_flat == FLOOR
        self.pot_flat = layout.flat_index(layout.pot_positions)
        self.counter_flat = layout.flat_index(layout.counter_positions)
        self.counter_mask = self.terrain_flat == COUNTER
        self.recipe_time = np.asarray(layout.recipe_time, dtype=np.int64)
        self.recipe_value = np.asarray(layout.recipe_value, dtype=np.float64)
        self.best_value = np.asarray(layout.best_value, dtype=np.float64)
        # direction offsets in flat cell index, for orientation index and move actions 0..3
        self.dflat = DIRECTIONS[:, 1] * w + DIRECTIONS[:, 0]
        self.scalar_max_envs = SCALAR_MAX_ENVS
        # plain-Python copies of the tables for the scalar path
        self._terrain_list = self.terrain_flat.tolist()
        self._dflat_list = self.dflat.tolist()
        self._pot_list = self.pot_flat.tolist()
        self._counter_list = self.counter_flat.tolist()
        self._time_list = self.recipe_time.tolist()
        self._value_list = self.recipe_value.tolist()
        self._best_list = self.best_value.tolist()
        self._dirs = DIRECTIONS.tolist()
        self._view_cache: tuple | None = None

    # -- helpers --------------------------------------------------------------------------------
    def pot_status(self, s: BatchState) -> tuple[np.ndarray, np.ndarray]:
        """(number of full pots, number of non-empty pots in overcooked_ai's dish-usefulness sense)."""
        obj = s.obj.reshape(len(s.obj), -1)[:, self.pot_flat]
        on = s.soup_onions.reshape(len(s.obj), -1)[:, self.pot_flat]
        to = s.soup_tomatoes.reshape(len(s.obj), -1)[:, self.pot_flat]
        tick = s.soup_tick.reshape(len(s.obj), -1)[:, self.pot_flat]
        is_soup = obj == SOUP
        started = is_soup & (tick >= 0)
        idle = is_soup & (tick < 0)
        n = on + to
        full = started | (idle & (n == 3))
        nonempty = started | (idle & (n >= 1) & (n <= 2))  # ready + cooking + partially full
        return full.sum(1), nonempty.sum(1)

    # -- step -----------------------------------------------------------------------------------
    def step(self, s: BatchState, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every env by one joint action (``actions``: (N, 2) ints in 0..5), in place.

        Returns ``(sparse, shaped, events)``: (N, 2) float sparse reward earned by each player (deliveries),
        (N, 2) float unscaled shaped reward per player, (N, 2, NUM_EVENTS) int32 event counts.
        """
        if s.num_envs <= self.scalar_max_envs:  # few envs: plain Python per env beats numpy's per-call overhead
            return self.step_scalar(s, actions)
        return self.step_vectorized(s, actions)

    def step_vectorized(self, s: BatchState, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``step`` with numpy over all envs at once (fast for many envs)."""
        n_envs = s.num_envs
        sparse = np.zeros((n_envs, NUM_PLAYERS))
        shaped = np.zeros((n_envs, NUM_PLAYERS))
        events = np.zeros((n_envs, NUM_PLAYERS, _ev.NUM_EVENTS), dtype=np.int32)
        interact = actions == ACTION_INTERACT
        if interact.any():
            n_full, n_nonempty = self.pot_status(s)
            for p in range(NUM_PLAYERS):
                rows = np.flatnonzero(interact[:, p])
                if rows.size:
                    self._interact(s, p, rows, n_full, n_nonempty, sparse, shaped, events)
        self._move(s, actions, events)
        self._environment_effects(s)
        return sparse, shaped, events

    def _interact(self, s, p, rows, n_full, n_nonempty, sparse, shaped, events) -> None:
        W = self.w
        n_envs = s.num_envs
        obj = s.obj.reshape(n_envs, -1)
        s_on = s.soup_onions.reshape(n_envs, -1)
        s_to = s.soup_tomatoes.reshape(n_envs, -1)
        s_tick = s.soup_tick.reshape(n_envs, -1)
        s_ord = s.soup_order.reshape(n_envs, -1)
        q = 1 - p
        target = s.pos[rows, p, 1] * W + s.pos[rows, p, 0] + self.dflat[s.ori[rows, p]]
        terr = self.terrain_flat[target]
        held = s.held[rows, p]
        here = obj[rows, target]
        effect = np.zeros(rows.size, dtype=bool)
        all_pots_full = n_full[rows] == len(self.pot_flat)
        other = s.held[rows, q]

        # -- counter: drop held object on an empty counter ------------------------------------------
        m = (terr == COUNTER) & (held != NOTHING) & (here == NOTHING)
        if m.any():
            r, t, h = rows[m], target[m], held[m]
            effect[m] = True
            for code, ev in (
                (ONION, "onion_place_counter"),
                (TOMATO, "tomato_place_counter"),
                (DISH, "dish_place_counter"),
                (SOUP, "soup_place_counter"),
            ):
                events[r[h == code], p, E[ev]] = 1
            ing_useful = all_pots_full[m] & (other[m] != DISH)
            events[r[(h == ONION) & ing_useful], p, E["useful_onion_drop"]] = 1
            events[r[(h == TOMATO) & ing_useful], p, E["useful_tomato_drop"]] = 1
            dish_useful = (n_full[r] == 0) & (other[m] != ONION)
            events[r[(h == DISH) & dish_useful], p, E["useful_dish_drop"]] = 1
            obj[r, t] = h
            s_on[r, t] = s.held_onions[r, p]
            s_to[r, t] = s.held_tomatoes[r, p]
            s_tick[r, t] = s.held_tick[r, p]
            s_ord[r, t] = s.held_order[r, p]
            self._clear_hand(s, r, p)

        # -- counter: pick up the object lying there ------------------------------------------------
        m = (terr == COUNTER) & (held == NOTHING) & (here != NOTHING)
        if m.any():
            r, t, o = rows[m], target[m], here[m]
            effect[m] = True
            for code, ev in (
                (ONION, "onion_pickup_counter"),
                (TOMATO, "tomato_pickup_counter"),
                (DISH, "dish_pickup_counter"),
                (SOUP, "soup_pickup_counter"),
            ):
                events[r[o == code], p, E[ev]] = 1
            self._log_useful_pickups(s, p, r, o, all_pots_full[m], other[m], n_nonempty, events)
            self._pick_up(s, r, p, o, t, (obj, s_on, s_to, s_tick, s_ord))

        # -- dispensers (empty hand) -----------------------------------------------------------------
        empty_hand = held == NOTHING
        for terrain, code, ev in (
            (ONION_DISPENSER, ONION, "onion_pickup_dispenser"),
            (TOMATO_DISPENSER, TOMATO, "tomato_pickup_dispenser"),
            (DISH_DISPENSER, DISH, "dish_pickup_dispenser"),
        ):
            m = (terr == terrain) & empty_hand
            if not m.any():
                continue
            r = rows[m]
            effect[m] = True
            events[r, p, E[ev]] = 1
            codes = np.full(r.size, code)
            useful = self._log_useful_pickups(s, p, r, codes, all_pots_full[m], other[m], n_nonempty, events)
            if code == DISH:
                shaped[r[useful], p] += self.shaping["DISH_PICKUP_REWARD"]
            s.held[r, p] = code

        # -- pot with empty hand: start cooking (new dynamics) -------------------------------------
        if not self.old_dynamics:
            m = (terr == POT) & empty_hand & (here == SOUP)
            if m.any():
                r, t = rows[m], target[m]
                start = (s_tick[r, t] < 0) & (s_on[r, t] + s_to[r, t] > 0)
                r, t = r[start], t[start]
                s_tick[r, t] = 0
                events[r, p, E["pot_start"]] = 1
                effect[np.flatnonzero(m)[start]] = True

        # -- pot with a dish: serve a ready soup -------------------------------------------------------
        m = (terr == POT) & (held == DISH) & (here == SOUP)
        if m.any():
            r, t = rows[m], target[m]
            tick = s_tick[r, t]
            ready = (tick >= 0) & (tick >= self.recipe_time[s_on[r, t], s_to[r, t]])
            r, t = r[ready], t[ready]
            if r.size:
                effect[np.flatnonzero(m)[ready]] = True
                events[r, p, E["soup_pickup_pot"]] = 1
                shaped[r, p] += self.shaping["SOUP_PICKUP_REWARD"]
                self._pick_up(s, r, p, SOUP, t, (obj, s_on, s_to, s_tick, s_ord))

        # -- pot with an ingredient: add it if the pot is not full -------------------------------------
        m = (terr == POT) & ((held == ONION) | (held == TOMATO)) & ((here == NOTHING) | (here == SOUP))
        if m.any():
            r, t, h = rows[m], target[m], held[m]
            was_empty = here[m] == NOTHING
            old_on = np.where(was_empty, 0, s_on[r, t])
            old_to = np.where(was_empty, 0, s_to[r, t])
            old_tick = np.where(was_empty, -1, s_tick[r, t])
            old_ord = np.where(was_empty, 0, s_ord[r, t])
            not_full = (old_tick < 0) & (old_on + old_to < 3)  # an empty pot is never full
            r, t, h = r[not_full], t[not_full], h[not_full]
            old_on, old_to, old_ord = old_on[not_full], old_to[not_full], old_ord[not_full]
            if r.size:
                effect[np.flatnonzero(m)[not_full]] = True
                is_tom = h == TOMATO
                new_on = old_on + (~is_tom)
                new_to = old_to + is_tom
                obj[r, t] = SOUP
                s_on[r, t] = new_on
                s_to[r, t] = new_to
                s_tick[r, t] = -1
                s_ord[r, t] = old_ord | (is_tom.astype(np.int64) << (old_on + old_to))
                self._clear_hand(s, r, p)
                shaped[r, p] += self.shaping["PLACEMENT_IN_POT_REW"]
                events[r[~is_tom], p, E["potting_onion"]] = 1
                events[r[is_tom], p, E["potting_tomato"]] = 1
                old_best = self.best_value[old_on, old_to]
                new_best = self.best_value[new_on, new_to]
                events[r[old_best == new_best], p, E["optimal_potting"]] = 1
                events[r[new_best > 0], p, E["viable_potting"]] = 1
                events[r[(old_best > 0) & (new_best == 0)], p, E["catastrophic_potting"]] = 1
                events[r[old_best == 0], p, E["useless_potting"]] = 1

        # -- serving window: deliver a soup ----------------------------------------------------------
        m = (terr == SERVING) & (held == SOUP)
        if m.any():
            r = rows[m]
            effect[m] = True
            sparse[r, p] += self.recipe_value[s.held_onions[r, p], s.held_tomatoes[r, p]]
            events[r, p, E["soup_delivery"]] = 1
            self._clear_hand(s, r, p)

        events[rows[~effect], p, E["idle_interact"]] = 1

    def _log_useful_pickups(self, s, p, r, codes, all_pots_full, other, n_nonempty, events) -> np.ndarray:
        """overcooked_ai's useful-pickup rules on the live state (before the pickup); returns dish usefulness."""
        ing_useful = ~(all_pots_full & (other != DISH))
        events[r[(codes == ONION) & ing_useful], p, E["useful_onion_pickup"]] = 1
        events[r[(codes == TOMATO) & ing_useful], p, E["useful_tomato_pickup"]] = 1
        is_dish = codes == DISH
        useful = np.zeros(r.size, dtype=bool)
        if is_dish.any():
            rd = r[is_dish]
            counters = s.obj.reshape(s.num_envs, -1)[rd][:, self.counter_mask]
            no_counter_dish = ~(counters == DISH).any(1)
            held_dishes = (s.held[rd] == DISH).sum(1)
            useful[is_dish] = no_counter_dish & (held_dishes < n_nonempty[rd])
            events[r[useful], p, E["useful_dish_pickup"]] = 1
        return useful

    @staticmethod
    def _pick_up(s: BatchState, r: np.ndarray, p: int, item: Any, t: np.ndarray, cells: tuple) -> None:
        """Move the object at flat cell ``t`` of rows ``r`` (with any soup contents) into player p's hand."""
        obj, s_on, s_to, s_tick, s_ord = cells
        s.held[r, p] = item
        s.held_onions[r, p] = s_on[r, t]
        s.held_tomatoes[r, p] = s_to[r, t]
        s.held_tick[r, p] = s_tick[r, t]
        s.held_order[r, p] = s_ord[r, t]
        obj[r, t] = NOTHING
        s_on[r, t] = 0
        s_to[r, t] = 0
        s_tick[r, t] = -1
        s_ord[r, t] = 0

    @staticmethod
    def _clear_hand(s: BatchState, r: np.ndarray, p: int) -> None:
        s.held[r, p] = NOTHING
        s.held_onions[r, p] = 0
        s.held_tomatoes[r, p] = 0
        s.held_tick[r, p] = -1
        s.held_order[r, p] = 0

    def _move(self, s: BatchState, actions: np.ndarray, events: np.ndarray) -> None:
        is_move = actions < ACTION_STAY
        if not is_move.any():
            events[:, :, E["stay"]] = actions == ACTION_STAY
            return
        old = s.pos.copy()
        d = DIRECTIONS[np.where(is_move, actions, 0)]  # (N, 2, 2)
        cand = old + d * is_move[..., None]
        ok = self.floor_flat[cand[..., 1] * self.w + cand[..., 0]]
        new = np.where(ok[..., None], cand, old)
        same = (new[:, 0] == new[:, 1]).all(-1)
        swap = (new[:, 0] == old[:, 1]).all(-1) & (new[:, 1] == old[:, 0]).all(-1)
        collide = same | swap
        new[collide] = old[collide]
        s.pos[...] = new
        s.ori[...] = np.where(is_move, actions, s.ori)
        moved = (new != old).any(-1)
        events[:, :, E["move"]] = moved
        events[:, :, E["bump"]] = is_move & ~moved
        events[:, :, E["stay"]] = actions == ACTION_STAY

    def _environment_effects(self, s: BatchState) -> None:
        s.timestep += 1
        soup = s.obj == SOUP
        if not soup.any():
            return
        tick = s.soup_tick
        if self.old_dynamics:
            auto = soup & (tick < 0) & (s.soup_onions + s.soup_tomatoes == 3)
            tick[auto] = 0
        cooking = soup & (tick >= 0)
        if cooking.any():
            cook_time = self.recipe_time[s.soup_onions, s.soup_tomatoes]
            tick += cooking & (tick < cook_time)

    # -- scalar path (same rules, one env at a time, Python ints) -------------------------------------
    def step_scalar(self, s: BatchState, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Same result as the vectorized ``step``, computed env by env in plain Python (fast for N = 1)."""
        n_envs = s.num_envs
        sparse = np.zeros((n_envs, NUM_PLAYERS))
        shaped = np.zeros((n_envs, NUM_PLAYERS))
        events = np.zeros((n_envs, NUM_PLAYERS, _ev.NUM_EVENTS), dtype=np.int32)
        acts = actions.tolist() if isinstance(actions, np.ndarray) else actions
        for i in range(n_envs):
            self._step_one(s, i, acts[i], sparse[i], shaped[i], events[i])
        return sparse, shaped, events

    def _step_one(self, s: BatchState, i: int, act: list, sparse, shaped, events) -> None:
        terrain, W = self._terrain_list, self.w
        obj, s_on, s_to, s_tick, s_ord = self._flat_grids(s, i)
        pos = s.pos[i].tolist()
        ori = s.ori[i].tolist()
        ev: list[tuple[int, str]] = []

        if ACTION_INTERACT in act:
            held = s.held[i].tolist()
            h_on, h_to = s.held_onions[i].tolist(), s.held_tomatoes[i].tolist()
            h_tick, h_ord = s.held_tick[i].tolist(), s.held_order[i].tolist()
            n_full = n_nonempty = 0
            for c in self._pot_list:
                if obj[c] == SOUP:
                    tick, n = int(s_tick[c]), int(s_on[c] + s_to[c])
                    if tick >= 0 or n == 3:
                        n_full += 1
                    if tick >= 0 or 1 <= n <= 2:
                        n_nonempty += 1
            all_full = n_full == len(self._pot_list)
            for p in range(NUM_PLAYERS):
                if act[p] != ACTION_INTERACT:
                    continue
                q = 1 - p
                t = pos[p][1] * W + pos[p][0] + self._dflat_list[ori[p]]
                terr, h, here = terrain[t], held[p], int(obj[t])
                done = True
                if terr == COUNTER and h != NOTHING and here == NOTHING:
                    name = OBJECT_NAMES[h]
                    ev.append((p, f"{name}_place_counter"))
                    if h in (ONION, TOMATO) and all_full and held[q] != DISH:
                        ev.append((p, f"useful_{name}_drop"))
                    if h == DISH and n_full == 0 and held[q] != ONION:
                        ev.append((p, "useful_dish_drop"))
                    obj[t], s_on[t], s_to[t], s_tick[t], s_ord[t] = h, h_on[p], h_to[p], h_tick[p], h_ord[p]
                    held[p], h_on[p], h_to[p], h_tick[p], h_ord[p] = NOTHING, 0, 0, -1, 0
                elif terr == COUNTER and h == NOTHING and here != NOTHING:
                    ev.append((p, f"{OBJECT_NAMES[here]}_pickup_counter"))
                    self._useful_pickup_one(p, here, all_full, held, obj, n_nonempty, ev)
                    held[p], h_on[p], h_to[p] = here, int(s_on[t]), int(s_to[t])
                    h_tick[p], h_ord[p] = int(s_tick[t]), int(s_ord[t])
                    obj[t], s_on[t], s_to[t], s_tick[t], s_ord[t] = NOTHING, 0, 0, -1, 0
                elif terr in (ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER) and h == NOTHING:
                    code = {ONION_DISPENSER: ONION, TOMATO_DISPENSER: TOMATO, DISH_DISPENSER: DISH}[terr]
                    ev.append((p, f"{OBJECT_NAMES[code]}_pickup_dispenser"))
                    if self._useful_pickup_one(p, code, all_full, held, obj, n_nonempty, ev) and code == DISH:
                        shaped[p] += self.shaping["DISH_PICKUP_REWARD"]
                    held[p] = code
                elif terr == POT and h == NOTHING:
                    done = False
                    if not self.old_dynamics and here == SOUP and s_tick[t] < 0 and s_on[t] + s_to[t] > 0:
                        s_tick[t] = 0
                        ev.append((p, "pot_start"))
                        done = True
                elif terr == POT and h == DISH:
                    done = False
                    if here == SOUP:
                        tick = int(s_tick[t])
                        if tick >= 0 and tick >= self._time_list[s_on[t]][s_to[t]]:
                            ev.append((p, "soup_pickup_pot"))
                            shaped[p] += self.shaping["SOUP_PICKUP_REWARD"]
                            held[p], h_on[p], h_to[p], h_tick[p], h_ord[p] = (
                                SOUP,
                                int(s_on[t]),
                                int(s_to[t]),
                                tick,
                                int(s_ord[t]),
                            )
                            obj[t], s_on[t], s_to[t], s_tick[t], s_ord[t] = NOTHING, 0, 0, -1, 0
                            done = True
                elif terr == POT and h in (ONION, TOMATO) and here in (NOTHING, SOUP):
                    if here == NOTHING:
                        on, to, tick, order = 0, 0, -1, 0
                    else:
                        on, to, tick, order = int(s_on[t]), int(s_to[t]), int(s_tick[t]), int(s_ord[t])
                    done = tick < 0 and on + to < 3
                    if done:
                        is_tom = h == TOMATO
                        new_on, new_to = on + (not is_tom), to + is_tom
                        obj[t], s_on[t], s_to[t], s_tick[t] = SOUP, new_on, new_to, -1
                        s_ord[t] = order | (int(is_tom) << (on + to))
                        held[p], h_on[p], h_to[p], h_tick[p], h_ord[p] = NOTHING, 0, 0, -1, 0
                        shaped[p] += self.shaping["PLACEMENT_IN_POT_REW"]
                        ev.append((p, "potting_tomato" if is_tom else "potting_onion"))
                        old_best, new_best = self._best_list[on][to], self._best_list[new_on][new_to]
                        if old_best == new_best:
                            ev.append((p, "optimal_potting"))
                        if new_best > 0:
                            ev.append((p, "viable_potting"))
                        if old_best > 0 and new_best == 0:
                            ev.append((p, "catastrophic_potting"))
                        if old_best == 0:
                            ev.append((p, "useless_potting"))
                elif terr == SERVING and h == SOUP:
                    sparse[p] += self._value_list[h_on[p]][h_to[p]]
                    ev.append((p, "soup_delivery"))
                    held[p], h_on[p], h_to[p], h_tick[p], h_ord[p] = NOTHING, 0, 0, -1, 0
                else:
                    done = False
                if not done:
                    ev.append((p, "idle_interact"))
            s.held[i], s.held_onions[i], s.held_tomatoes[i] = held, h_on, h_to
            s.held_tick[i], s.held_order[i] = h_tick, h_ord

        # movement with collisions
        new = [list(pos[0]), list(pos[1])]
        for p in range(NUM_PLAYERS):
            a = act[p]
            if a < ACTION_STAY:
                dx, dy = self._dirs[a]
                x, y = pos[p][0] + dx, pos[p][1] + dy
                if terrain[y * W + x] == FLOOR:
                    new[p] = [x, y]
                ori[p] = a
            elif a == ACTION_STAY:
                ev.append((p, "stay"))
        if new[0] == new[1] or (new[0] == pos[1] and new[1] == pos[0]):
            new = pos
        for p in range(NUM_PLAYERS):
            if act[p] < ACTION_STAY:
                ev.append((p, "move" if new[p] != pos[p] else "bump"))
        s.pos[i] = new
        s.ori[i] = ori
        for p, name in ev:
            events[p, E[name]] = 1

        # environment effects
        s.timestep[i] += 1
        for c in np.flatnonzero(obj == SOUP).tolist():
            tick = int(s_tick[c])
            on, to = int(s_on[c]), int(s_to[c])
            if self.old_dynamics and tick < 0 and on + to == 3:
                tick = 0
            if 0 <= tick < self._time_list[on][to]:
                tick += 1
            s_tick[c] = tick

    def _flat_grids(self, s: BatchState, i: int) -> tuple[np.ndarray, ...]:
        """Flat (H*W,) views of env i's grid arrays (obj, onions, tomatoes, tick, order); the (N, H*W)
        reshapes are cached while the state keeps the same arrays."""
        grids = (s.obj, s.soup_onions, s.soup_tomatoes, s.soup_tick, s.soup_order)
        cache = self._view_cache
        if cache is None or any(a is not b for a, b in zip(cache[0], grids)):
            flats = tuple(a.reshape(len(a), -1) for a in grids)
            if not all(np.shares_memory(f, a) for f, a in zip(flats, grids)):
                raise ValueError("BatchState grid arrays must be C-contiguous (they are updated in place)")
            cache = self._view_cache = (grids, flats)
        return tuple(f[i] for f in cache[1])

    def _useful_pickup_one(self, p, code, all_full, held, obj, n_nonempty, ev) -> bool:
        q = 1 - p
        if code in (ONION, TOMATO):
            if not (all_full and held[q] != DISH):
                ev.append((p, f"useful_{OBJECT_NAMES[code]}_pickup"))
            return False
        if code == DISH:
            no_counter_dish = not any(obj[c] == DISH for c in self._counter_list)
            useful = no_counter_dish and (held[0] == DISH) + (held[1] == DISH) < n_nonempty
            if useful:
                ev.append((p, "useful_dish_pickup"))
            return useful
        return False

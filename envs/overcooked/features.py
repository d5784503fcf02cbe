"""overcooked_ai's two observation encodings, vectorized over N envs and both players.

* ``Featurizer.featurize`` = ``OvercookedGridworld.featurize_state`` (overcooked-ai 1.1.0,
  ``num_pots=2`` -> 96 numbers per player), with the motion-planner path costs of the env's default
  ``MediumLevelActionManager`` (``NO_COUNTERS_PARAMS``: no counter is a motion goal, so objects on
  counters and empty counters are never "closest" and encode as (0, 0)). ``counter_goals="all"``
  reproduces a planner whose counter goals are all counters.
* ``Featurizer.lossless`` = ``OvercookedGridworld.lossless_state_encoding`` -> (W, H, 26) per player.

Everything that depends only on a player's (position, orientation) - closest dispensers, closest
pots, wall flags - is looked up in tables built once per layout (see ``planning.py``); a step only
gathers rows and fills in object / pot contents. Ties between equally close features are broken as
overcooked_ai does (first in its list order: row-major for terrain features, dispensers before
counters). Objects on counters are taken in row-major order (overcooked_ai uses the order the
objects were created; the two only differ for equidistant counter objects with ``counter_goals``).

Per-player block of ``featurize`` (46 = 26 + 10 * num_pots numbers; reference key order):
orientation one-hot (N, S, E, W) | held one-hot (onion, soup, dish, tomato) | closest onion,
tomato, dish, soup (dx, dy) | closest soup's #onions, #tomatoes | closest serving, empty counter
(dx, dy) | per pot j (closest first): exists, is_empty, is_full, is_cooking, is_ready, #onions,
#tomatoes, cook time remaining, (dx, dy) | wall N, S, E, W.
Row for player i = [own block, other player's block, other.pos - own.pos, own.pos].
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from diverse_marl.envs.overcooked.core import DISH, NOTHING, ONION, SOUP, TOMATO, BatchState
from diverse_marl.envs.overcooked.layouts import (
    COUNTER, DISH_DISPENSER, FLOOR, MAX_INGREDIENTS, ONION_DISPENSER, POT, SERVING, TOMATO_DISPENSER, Layout,
    get_layout,
)
from diverse_marl.envs.overcooked.planning import NUM_ORIENTATIONS, UNREACHABLE, distance_tables
from diverse_marl.errors import ConfigError

DEFAULT_NUM_POTS = 2
DEFAULT_HORIZON = 400          # overcooked_ai's lossless_state_encoding default horizon
URGENCY_STEPS = 40             # urgency layer is all ones when horizon - timestep < 40
NUM_LOSSLESS_CHANNELS = 26
BASE_PLAYER_FEATURES = 26      # per-player features besides the 10 per pot
POT_FEATURES = 10

# offsets inside one player's block
_ORI, _HELD, _ONION, _TOMATO, _DISH, _SOUP, _SOUP_N, _SERVE, _EMPTY, _POTS = 0, 4, 8, 10, 12, 14, 16, 18, 20, 22
# held object code -> index in overcooked_ai's IDX_TO_OBJ = [onion, soup, dish, tomato]
_HELD_SLOT = {ONION: 0, SOUP: 1, DISH: 2, TOMATO: 3}
# lossless channel indices (overcooked_ai's LAYERS order)
_L_PLAYER, _L_OTHER, _L_ORI, _L_OTHER_ORI, _L_TERRAIN = 0, 1, 2, 6, 10
(_L_ON_POT, _L_TOM_POT, _L_ON_SOUP, _L_TOM_SOUP, _L_COOK, _L_DONE, _L_DISH, _L_ONION, _L_TOMATO,
 _L_URGENCY) = range(16, 26)
_TERRAIN_LAYERS = (POT, COUNTER, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, SERVING)


def _cells(layout: Layout, code: int) -> np.ndarray:
    """Flat indices (y * W + x) of cells with terrain ``code`` in row-major order."""
    return np.flatnonzero(np.asarray(layout.terrain).reshape(-1) == code)


class Featurizer:
    """Featurized (N, 2, feature_dim) and lossless (N, 2, W, H, 26) observations of a BatchState."""

    def __init__(self, layout: Layout | str, num_pots: int = DEFAULT_NUM_POTS, horizon: int = DEFAULT_HORIZON,
                 counter_goals: str | Iterable[tuple[int, int]] | None = None) -> None:
        self.layout = layout = get_layout(layout)
        if int(num_pots) < 0:
            raise ConfigError(f"num_pots must be >= 0, got {num_pots!r}")
        self.num_pots = int(num_pots)
        self.horizon = int(horizon)
        h, w = layout.height, layout.width
        self.h, self.w = h, w
        terrain = np.asarray(layout.terrain).reshape(-1)
        if counter_goals is None or counter_goals == "none":
            goals: list[tuple[int, int]] = []
        elif counter_goals == "all":
            goals = [tuple(p) for p in layout.counter_positions.tolist()]
        elif isinstance(counter_goals, str):
            raise ConfigError(f"unknown counter_goals {counter_goals!r}; allowed: 'none', 'all' or a list of (x, y)")
        else:
            goals = [(int(x), int(y)) for x, y in counter_goals]
        self.counter_goals = goals
        self.block = BASE_PLAYER_FEATURES + POT_FEATURES * self.num_pots
        self.feature_dim = 2 * self.block + 4
        self.lossless_shape = (w, h, NUM_LOSSLESS_CHANNELS)
        self._build_tables(terrain, goals)

    # ---------------------------------------------------------------------------------------------
    # per-layout tables
    # ---------------------------------------------------------------------------------------------
    def _build_tables(self, terrain: np.ndarray, goals: list[tuple[int, int]]) -> None:
        h, w, k, block = self.h, self.w, self.num_pots, self.block
        tables = distance_tables(self.layout, goals)
        to_cell = tables.to_cell                                   # (S, H*W)
        n_states = to_cell.shape[0]
        cell = np.arange(n_states) // NUM_ORIENTATIONS
        px, py = cell % w, cell // w
        cell_xy = np.stack([np.arange(h * w) % w, np.arange(h * w) // w], axis=1)

        base = np.zeros((n_states, block), dtype=np.float32)
        self._disp_dist = {}
        for offset, code in ((_ONION, ONION_DISPENSER), (_TOMATO, TOMATO_DISPENSER), (_DISH, DISH_DISPENSER),
                             (_SERVE, SERVING)):
            cells = _cells(self.layout, code)
            dist = np.full(n_states, UNREACHABLE, dtype=np.int64)
            if cells.size:
                d = to_cell[:, cells]
                j = d.argmin(axis=1)                               # first minimum = reference tie-break
                dist = d[np.arange(n_states), j].astype(np.int64)
                found = dist < UNREACHABLE
                target = cell_xy[cells[j]]
                base[found, offset] = target[found, 0] - px[found]
                base[found, offset + 1] = target[found, 1] - py[found]
            self._disp_dist[offset] = dist

        # pots, closest first (stable sort = reference's repeated "closest among the remaining")
        pots = _cells(self.layout, POT)
        self._pot_cells = pots
        pot_rank = np.full((n_states, k), len(pots), dtype=np.int64)  # len(pots) = "no pot" sentinel
        if pots.size and k:
            d = to_cell[:, pots]
            order = np.argsort(d, axis=1, kind="stable")[:, :k]
            ok = np.take_along_axis(d, order, axis=1) < UNREACHABLE
            pot_rank[:, : order.shape[1]] = np.where(ok, order, len(pots))
            for j in range(order.shape[1]):
                col = _POTS + POT_FEATURES * j
                target = cell_xy[pots[order[:, j]]]
                base[ok[:, j], col] = 1.0                           # exists
                base[ok[:, j], col + 8] = (target[:, 0] - px)[ok[:, j]]
                base[ok[:, j], col + 9] = (target[:, 1] - py)[ok[:, j]]
        self._pot_rank = pot_rank

        # walls: any non-floor neighbour (N, S, E, W)
        wall_col = _POTS + POT_FEATURES * k
        for d, (dx, dy) in enumerate(((0, -1), (0, 1), (1, 0), (-1, 0))):
            nx, ny = px + dx, py + dy
            inside = (nx >= 0) & (nx < w) & (ny >= 0) & (ny < h)
            kind = np.where(inside, terrain[np.clip(ny, 0, h - 1) * w + np.clip(nx, 0, w - 1)], FLOOR)
            base[:, wall_col + d] = (kind != FLOOR) | ~inside
        self._base = base

        # held-object masks: zero the closest-<held> deltas, one-hot of held object
        self._held_keep = np.ones((5, 8), dtype=np.float32)        # columns _ONION.._SOUP+1
        self._held_onehot = np.zeros((5, 4), dtype=np.float32)
        for code, offset in ((ONION, _ONION), (TOMATO, _TOMATO), (DISH, _DISH), (SOUP, _SOUP)):
            self._held_keep[code, offset - _ONION: offset - _ONION + 2] = 0.0
            self._held_onehot[code, _HELD_SLOT[code]] = 1.0

        # counters as motion goals (dynamic objects); skipped entirely when there are none
        counters = _cells(self.layout, COUNTER)
        self._counter_cells = counters
        self._counter_xy = cell_xy[counters]
        self._counter_dist = to_cell[:, counters].astype(np.int64)
        self._use_counters = bool(goals) and bool((self._counter_dist < UNREACHABLE).any())

        # lossless: static terrain planes (W, H, 6)
        terr_hw = np.asarray(self.layout.terrain)
        self._terrain_planes = np.stack([(terr_hw == c).T for c in _TERRAIN_LAYERS], axis=-1).astype(np.float32)
        self._is_pot_cell = (terr_hw == POT)
        self._recipe_time = np.asarray(self.layout.recipe_time, dtype=np.int64)

    # ---------------------------------------------------------------------------------------------
    # featurized encoding
    # ---------------------------------------------------------------------------------------------
    def _motion_index(self, state: BatchState) -> np.ndarray:
        x, y = state.pos[..., 0], state.pos[..., 1]
        return (y * self.w + x) * NUM_ORIENTATIONS + state.ori                 # (N, 2)

    def _pot_features(self, state: BatchState) -> np.ndarray:
        """(N, num_pots_in_layout + 1, 8): exists..cook_time of every pot; last row = no pot (zeros)."""
        n = state.num_envs
        pots = self._pot_cells
        out = np.zeros((n, len(pots) + 1, 8), dtype=np.float32)
        if not pots.size:
            return out
        obj = state.obj.reshape(n, -1)[:, pots]
        on = state.soup_onions.reshape(n, -1)[:, pots]
        to = state.soup_tomatoes.reshape(n, -1)[:, pots]
        tick = state.soup_tick.reshape(n, -1)[:, pots]
        soup = obj == SOUP
        on, to = np.where(soup, on, 0), np.where(soup, to, 0)
        started = soup & (tick >= 0)
        cook_time = self._recipe_time[np.clip(on, 0, MAX_INGREDIENTS), np.clip(to, 0, MAX_INGREDIENTS)]
        ready = started & (tick >= cook_time)
        p = out[:, :-1]
        p[..., 0] = 1.0                                                         # exists
        p[..., 1] = ~soup                                                       # is_empty
        p[..., 2] = started | (soup & (on + to == MAX_INGREDIENTS))            # is_full
        p[..., 3] = started & ~ready                                            # is_cooking
        p[..., 4] = ready                                                       # is_ready
        p[..., 5] = on
        p[..., 6] = to
        p[..., 7] = np.where(started, np.maximum(cook_time - tick, 0), 0)      # cook time remaining
        return out

    def _player_blocks(self, state: BatchState) -> np.ndarray:
        """(N, 2, block) per-player features (own view, before the symmetric reordering)."""
        n = state.num_envs
        s_idx = self._motion_index(state)
        feats = self._base[s_idx]                                               # (N, 2, block) copy
        held = state.held
        feats[..., _ORI:_ORI + 4] = np.eye(4, dtype=np.float32)[state.ori]
        feats[..., _HELD:_HELD + 4] = self._held_onehot[held]
        if self._use_counters:
            self._counter_features(state, s_idx, feats)
        feats[..., _ONION:_SOUP + 2] *= self._held_keep[held]
        held_soup = held == SOUP
        if held_soup.any():
            feats[..., _SOUP_N] = np.where(held_soup, state.held_onions, feats[..., _SOUP_N])
            feats[..., _SOUP_N + 1] = np.where(held_soup, state.held_tomatoes, feats[..., _SOUP_N + 1])
        if self.num_pots:
            pot = self._pot_features(state)                                     # (N, P+1, 8)
            rank = self._pot_rank[s_idx]                                        # (N, 2, k)
            vals = pot[np.arange(n)[:, None, None], rank]                       # (N, 2, k, 8)
            cols = feats[..., _POTS:_POTS + POT_FEATURES * self.num_pots].reshape(n, 2, self.num_pots, POT_FEATURES)
            cols[..., 1:8] = vals[..., 1:8]
            feats[..., _POTS:_POTS + POT_FEATURES * self.num_pots] = cols.reshape(n, 2, -1)
        return feats

    def _counter_features(self, state: BatchState, s_idx: np.ndarray, feats: np.ndarray) -> None:
        """Closest objects / empty counters on counters that are motion goals (counter_goals only)."""
        n = state.num_envs
        cells = self._counter_cells
        cobj = state.obj.reshape(n, -1)[:, cells][:, None, :]                   # (N, 1, C)
        dist = self._counter_dist[s_idx]                                        # (N, 2, C)
        pos = state.pos.astype(np.float32)

        def closest(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            d = np.where(mask, dist, UNREACHABLE)
            j = d.argmin(axis=-1)
            dmin = np.take_along_axis(d, j[..., None], axis=-1)[..., 0]
            return j, dmin, dmin < UNREACHABLE

        def put(offset: int, j: np.ndarray, use: np.ndarray) -> None:
            xy = self._counter_xy[j]                                            # (N, 2, 2)
            for a in range(2):
                feats[..., offset + a] = np.where(use, xy[..., a] - pos[..., a], feats[..., offset + a])

        for offset, code in ((_ONION, ONION), (_TOMATO, TOMATO), (_DISH, DISH)):
            j, dmin, found = closest(cobj == code)
            put(offset, j, found & (dmin < self._disp_dist[offset][s_idx]))     # dispensers win ties
        j, _, found = closest(cobj == SOUP)
        put(_SOUP, j, found)
        rows = np.arange(n)[:, None]
        cell = cells[j]
        on = state.soup_onions.reshape(n, -1)[rows, cell]
        to = state.soup_tomatoes.reshape(n, -1)[rows, cell]
        feats[..., _SOUP_N] = np.where(found, on, 0)
        feats[..., _SOUP_N + 1] = np.where(found, to, 0)
        j, _, found = closest(cobj == NOTHING)
        put(_EMPTY, j, found)

    def featurize(self, state: BatchState) -> np.ndarray:
        """(N, 2, feature_dim) float32: overcooked_ai's featurize_state for both players of every env."""
        blocks = self._player_blocks(state)                                     # (N, 2, block)
        n, b = state.num_envs, self.block
        out = np.empty((n, 2, self.feature_dim), dtype=np.float32)
        out[:, :, :b] = blocks
        out[:, :, b:2 * b] = blocks[:, ::-1]
        pos = state.pos
        out[:, :, 2 * b:2 * b + 2] = pos[:, ::-1] - pos
        out[:, :, 2 * b + 2:] = pos
        return out

    # ---------------------------------------------------------------------------------------------
    # lossless encoding
    # ---------------------------------------------------------------------------------------------
    def _object_planes(self, state: BatchState) -> np.ndarray:
        """(N, H, W, 9) object/soup channels 16..24 shared by both players."""
        n = state.num_envs
        obj = state.obj
        soup = obj == SOUP
        on = np.where(soup, state.soup_onions, 0)
        to = np.where(soup, state.soup_tomatoes, 0)
        tick = state.soup_tick
        in_pot = soup & self._is_pot_cell
        idle_pot = in_pot & (tick < 0)
        started_pot = in_pot & (tick >= 0)
        loose = soup & ~self._is_pot_cell               # soups on counters: treated as finished
        cook_time = self._recipe_time[np.clip(on, 0, MAX_INGREDIENTS), np.clip(to, 0, MAX_INGREDIENTS)]
        planes = np.zeros((n, self.h, self.w, 9), dtype=np.float32)
        planes[..., 0] = np.where(idle_pot, on, 0)
        planes[..., 1] = np.where(idle_pot, to, 0)
        planes[..., 2] = np.where(started_pot | loose, on, 0)
        planes[..., 3] = np.where(started_pot | loose, to, 0)
        planes[..., 4] = np.where(started_pot, cook_time - tick, 0)
        planes[..., 5] = (started_pot & (tick >= cook_time)) | loose
        planes[..., 6] = obj == DISH
        planes[..., 7] = obj == ONION
        planes[..., 8] = obj == TOMATO
        # held objects sit on their player's cell (players stand on floor: no overlap with the grid)
        held = state.held
        if (held != NOTHING).any():
            r, p = np.nonzero(held != NOTHING)
            x, y = state.pos[r, p, 0], state.pos[r, p, 1]
            code = held[r, p]
            is_soup = code == SOUP
            planes[r, y, x, 2] += np.where(is_soup, state.held_onions[r, p], 0)
            planes[r, y, x, 3] += np.where(is_soup, state.held_tomatoes[r, p], 0)
            planes[r, y, x, 5] += is_soup
            planes[r, y, x, 6] += code == DISH
            planes[r, y, x, 7] += code == ONION
            planes[r, y, x, 8] += code == TOMATO
        return planes

    def lossless(self, state: BatchState) -> np.ndarray:
        """(N, 2, W, H, 26) float32: overcooked_ai's lossless_state_encoding for both players."""
        n = state.num_envs
        out = np.zeros((n, 2, self.w, self.h, NUM_LOSSLESS_CHANNELS), dtype=np.float32)
        out[..., _L_TERRAIN:_L_TERRAIN + len(_TERRAIN_LAYERS)] = self._terrain_planes
        planes = self._object_planes(state).transpose(0, 2, 1, 3)               # (N, W, H, 9)
        out[:, 0, ..., _L_ON_POT:_L_URGENCY] = planes
        out[:, 1, ..., _L_ON_POT:_L_URGENCY] = planes
        rows = np.arange(n)
        x, y, ori = state.pos[..., 0], state.pos[..., 1], state.ori
        for me in range(2):
            other = 1 - me
            out[rows, me, x[:, me], y[:, me], _L_PLAYER] = 1.0
            out[rows, me, x[:, other], y[:, other], _L_OTHER] = 1.0
            out[rows, me, x[:, me], y[:, me], _L_ORI + ori[:, me]] = 1.0
            out[rows, me, x[:, other], y[:, other], _L_OTHER_ORI + ori[:, other]] = 1.0
        urgent = self.horizon - state.timestep < URGENCY_STEPS
        if urgent.any():
            out[urgent, ..., _L_URGENCY] = 1.0
        return out

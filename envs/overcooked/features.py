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

from collections.abc import Iterable

import numpy as np

from diverse_marl.envs.overcooked.core import DISH, NOTHING, OBJECT_NAMES, ONION, SOUP, TOMATO, BatchState
from diverse_marl.envs.overcooked.layouts import (
    COUNTER,
    DISH_DISPENSER,
    FLOOR,
    MAX_INGREDIENTS,
    ONION_DISPENSER,
    POT,
    SERVING,
    TOMATO_DISPENSER,
    Layout,
    get_layout,
)
from diverse_marl.envs.overcooked.planning import NUM_ORIENTATIONS, UNREACHABLE, distance_tables
from diverse_marl.errors import ConfigError

DEFAULT_NUM_POTS = 2
DEFAULT_HORIZON = 400  # overcooked_ai's lossless_state_encoding default horizon
URGENCY_STEPS = 40  # urgency layer is all ones when horizon - timestep < 40
NUM_LOSSLESS_CHANNELS = 26
BASE_PLAYER_FEATURES = 26  # per-player features besides the 10 per pot
POT_FEATURES = 10

# offsets inside one player's block
_ORI, _HELD, _ONION, _TOMATO, _DISH, _SOUP, _SOUP_N, _SERVE, _EMPTY, _POTS = 0, 4, 8, 10, 12, 14, 16, 18, 20, 22
# held object code -> index in overcooked_ai's IDX_TO_OBJ = [onion, soup, dish, tomato]
_HELD_SLOT = {ONION: 0, SOUP: 1, DISH: 2, TOMATO: 3}
# lossless channel indices (overcooked_ai's LAYERS order)
_L_PLAYER, _L_OTHER, _L_ORI, _L_OTHER_ORI, _L_TERRAIN = 0, 1, 2, 6, 10
(_L_ON_POT, _L_TOM_POT, _L_ON_SOUP, _L_TOM_SOUP, _L_COOK, _L_DONE, _L_DISH, _L_ONION, _L_TOMATO, _L_URGENCY) = range(
    16, 26
)
_TERRAIN_LAYERS = (POT, COUNTER, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, SERVING)


def _cells(layout: Layout, code: int) -> np.ndarray:
    """Flat indices (y * W + x) of cells with terrain ``code`` in row-major order."""
    return np.flatnonzero(np.asarray(layout.terrain).reshape(-1) == code)


class Featurizer:
    """Featurized (N, 2, feature_dim) and lossless (N, 2, W, H, 26) observations of a BatchState."""

    def __init__(
        self,
        layout: Layout | str,
        num_pots: int = DEFAULT_NUM_POTS,
        horizon: int = DEFAULT_HORIZON,
        counter_goals: str | Iterable[tuple[int, int]] | None = None,
    ) -> None:
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
        to_cell = distance_tables(self.layout, goals).to_cell  # (S, H*W) motion state -> cell cost
        w = self.w
        self._cell_xy = np.stack([np.arange(to_cell.shape[1]) % w, np.arange(to_cell.shape[1]) // w], axis=1)
        self._build_player_rows(to_cell, terrain)
        self._build_pot_table()
        counters = _cells(self.layout, COUNTER)
        self._counter_cells = counters
        self._counter_xy = self._cell_xy[counters]
        self._counter_dist = to_cell[:, counters].astype(np.int64)
        self._use_counters = bool(goals) and bool((self._counter_dist < UNREACHABLE).any())
        self._build_lossless_tables()
        self._rows: tuple | None = None  # Python-list copies for _featurize_one

    def _build_player_rows(self, to_cell: np.ndarray, terrain: np.ndarray) -> None:
        """``_base_held[s * codes + held]``: everything in a player's block fixed by its motion state s
        and held object (orientation, held one-hot, closest dispensers / serving, pot order and deltas,
        walls); ``_pot_rank[s]``: the num_pots closest reachable pots (index into the pot list)."""
        h, w, k, block = self.h, self.w, self.num_pots, self.block
        n_states = to_cell.shape[0]
        cell = np.arange(n_states) // NUM_ORIENTATIONS
        px, py = cell % w, cell // w
        cell_xy = self._cell_xy

        base = np.zeros((n_states, block), dtype=np.float32)
        self._disp_dist = {}
        for offset, code in (
            (_ONION, ONION_DISPENSER),
            (_TOMATO, TOMATO_DISPENSER),
            (_DISH, DISH_DISPENSER),
            (_SERVE, SERVING),
        ):
            cells = _cells(self.layout, code)
            dist = np.full(n_states, UNREACHABLE, dtype=np.int64)
            if cells.size:
                d = to_cell[:, cells]
                j = d.argmin(axis=1)  # first minimum = reference tie-break
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
                base[ok[:, j], col] = 1.0  # exists
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

        base[:, _ORI : _ORI + 4] = np.eye(NUM_ORIENTATIONS, dtype=np.float32)[np.arange(n_states) % NUM_ORIENTATIONS]
        self._pos_weights = np.array([NUM_ORIENTATIONS, NUM_ORIENTATIONS * w], dtype=np.int64)

        # (motion state, held object code) -> row: closest-<held> deltas are (0, 0), held one-hot set
        codes = len(OBJECT_NAMES)
        base_held = np.repeat(base[:, None, :], codes, axis=1)  # (S, codes, block)
        for code, offset in ((ONION, _ONION), (TOMATO, _TOMATO), (DISH, _DISH), (SOUP, _SOUP)):
            base_held[:, code, offset : offset + 2] = 0.0
            base_held[:, code, _HELD + _HELD_SLOT[code]] = 1.0
        self._base_held = base_held.reshape(-1, block)
        self._num_codes = codes

    def _build_pot_table(self) -> None:
        """``_pot_table[code]``: the 8 state features (exists .. cook time) of a pot's contents, code =
        0 empty pot, 1 + (onions * 4 + tomatoes) * ticks + tick + 1 a soup, last row = no pot (zeros)."""
        self._recipe_time = np.asarray(self.layout.recipe_time, dtype=np.int64)
        self._max_tick = int(self._recipe_time.max())
        size, ticks = MAX_INGREDIENTS + 1, self._max_tick + 2  # tick in -1..max_tick
        table = np.zeros((2 + size * size * ticks, 8), dtype=np.float32)
        table[0, :2] = 1.0  # empty pot: exists, is_empty
        for on in range(size):
            for to in range(size - on):
                for tick in range(-1, self._max_tick + 1):
                    started = tick >= 0
                    cook = int(self._recipe_time[on, to])
                    ready = started and tick >= cook
                    row = 1 + (on * size + to) * ticks + tick + 1
                    table[row] = (
                        1,
                        0,
                        started or on + to == MAX_INGREDIENTS,
                        started and not ready,
                        ready,
                        on,
                        to,
                        max(cook - tick, 0) if started else 0,
                    )
        self._pot_table = table
        self._pot_cell_list = self._pot_cells.tolist()
        self._no_pot_code = len(table) - 1

    def _build_lossless_tables(self) -> None:
        """Static terrain planes of both players' grids and the index pattern of the player entries."""
        terr_hw = np.asarray(self.layout.terrain)
        self._terrain_planes = np.stack([(terr_hw == c).T for c in _TERRAIN_LAYERS], axis=-1).astype(np.float32)
        self._is_pot_cell = terr_hw == POT
        self._lossless_template = np.zeros((2, self.w, self.h, NUM_LOSSLESS_CHANNELS), dtype=np.float32)
        self._lossless_template[..., _L_TERRAIN : _L_TERRAIN + len(_TERRAIN_LAYERS)] = self._terrain_planes
        # player entries: for viewer me, (own loc, other loc, own orientation, other orientation)
        self._l_me = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        self._l_who = np.array([0, 1, 0, 1, 1, 0, 1, 0])
        self._l_chan = np.array([_L_PLAYER, _L_OTHER, _L_ORI, _L_OTHER_ORI] * 2)
        self._l_is_ori = np.array([0, 0, 1, 1] * 2)
        # object code -> channel set to 1 (soups: "soup_done" is decided separately, nothing: unused)
        self._l_object_channel = np.array([_L_URGENCY, _L_ONION, _L_TOMATO, _L_DISH, _L_DONE])
        self._object_channel_list = self._l_object_channel.tolist()

    # ---------------------------------------------------------------------------------------------
    # featurized encoding
    # ---------------------------------------------------------------------------------------------
    def _motion_index(self, state: BatchState) -> np.ndarray:
        return state.pos @ self._pos_weights + state.ori  # (N, 2)

    def _pot_codes(self, state: BatchState) -> np.ndarray:
        """(N, num_pots_in_layout + 1) row of ``_pot_table`` for every pot; last column = "no pot"."""
        n, pots = state.num_envs, self._pot_cells
        size, ticks = MAX_INGREDIENTS + 1, self._max_tick + 2
        codes = np.empty((n, len(pots) + 1), dtype=np.int64)
        codes[:, -1] = self._no_pot_code
        at_pots = lambda a: a.reshape(n, -1).take(pots, axis=1)  # noqa: E731
        tick = np.maximum(np.minimum(at_pots(state.soup_tick), self._max_tick), -1)
        key = at_pots(state.soup_onions) * (size * ticks) + at_pots(state.soup_tomatoes) * ticks + tick + 2
        np.multiply(key, at_pots(state.obj) == SOUP, out=codes[:, :-1])
        return codes

    def _player_blocks(self, state: BatchState) -> np.ndarray:
        """(N, 2, block) per-player features (own view, before the symmetric reordering)."""
        n = state.num_envs
        s_idx = self._motion_index(state)
        held = state.held
        feats = self._base_held[s_idx * self._num_codes + held]  # (N, 2, block) copy
        if self._use_counters:
            self._counter_features(state, s_idx, feats)
        held_soup = held == SOUP
        if held_soup.any():
            feats[..., _SOUP_N] = np.where(held_soup, state.held_onions, feats[..., _SOUP_N])
            feats[..., _SOUP_N + 1] = np.where(held_soup, state.held_tomatoes, feats[..., _SOUP_N + 1])
        if self.num_pots:
            codes = self._pot_codes(state)  # (N, P + 1)
            rank = self._pot_rank[s_idx]  # (N, 2, k)
            vals = self._pot_table[codes[np.arange(n)[:, None, None], rank]]  # (N, 2, k, 8)
            for j in range(self.num_pots):
                col = _POTS + POT_FEATURES * j
                feats[..., col : col + 8] = vals[:, :, j]
        return feats

    def _counter_features(self, state: BatchState, s_idx: np.ndarray, feats: np.ndarray) -> None:
        """Closest objects / empty counters on counters that are motion goals (counter_goals only)."""
        n = state.num_envs
        cells = self._counter_cells
        cobj = state.obj.reshape(n, -1)[:, cells][:, None, :]  # (N, 1, C)
        dist = self._counter_dist[s_idx]  # (N, 2, C)
        pos = state.pos.astype(np.float32)

        def closest(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            d = np.where(mask, dist, UNREACHABLE)
            j = d.argmin(axis=-1)
            dmin = np.take_along_axis(d, j[..., None], axis=-1)[..., 0]
            return j, dmin, dmin < UNREACHABLE

        def put(offset: int, j: np.ndarray, use: np.ndarray) -> None:
            xy = self._counter_xy[j]  # (N, 2, 2)
            for a in range(2):
                feats[..., offset + a] = np.where(use, xy[..., a] - pos[..., a], feats[..., offset + a])

        held = state.held
        for offset, code in ((_ONION, ONION), (_TOMATO, TOMATO), (_DISH, DISH)):
            j, dmin, found = closest(cobj == code)
            # dispensers win ties; a held object of that kind is "closest" at (0, 0)
            put(offset, j, found & (dmin < self._disp_dist[offset][s_idx]) & (held != code))
        j, _, found = closest(cobj == SOUP)
        found &= held != SOUP
        put(_SOUP, j, found)
        rows = np.arange(n)[:, None]
        cell = cells[j]
        on = state.soup_onions.reshape(n, -1)[rows, cell]
        to = state.soup_tomatoes.reshape(n, -1)[rows, cell]
        feats[..., _SOUP_N] = np.where(found, on, 0)
        feats[..., _SOUP_N + 1] = np.where(found, to, 0)
        j, _, found = closest(cobj == NOTHING)
        put(_EMPTY, j, found)

    def _featurize_one(self, state: BatchState) -> np.ndarray:
        """N = 1 path with Python scalars and the same tables (numpy's per-call overhead dominates there)."""
        if self._rows is None:
            self._rows = (self._base_held.tolist(), self._pot_table.tolist(), self._pot_rank.tolist())
        base_held, pot_table, pot_rank = self._rows
        size, ticks, max_tick = MAX_INGREDIENTS + 1, self._max_tick + 2, self._max_tick
        (p0, p1), (o0, o1) = state.pos[0].tolist(), state.ori[0].tolist()
        held, h_on, h_to = state.held[0].tolist(), state.held_onions[0].tolist(), state.held_tomatoes[0].tolist()
        codes = []
        for cell in self._pot_cell_list:
            if state.obj.flat[cell] == SOUP:
                key = int(state.soup_onions.flat[cell]) * size + int(state.soup_tomatoes.flat[cell])
                tick = min(max(int(state.soup_tick.flat[cell]), -1), max_tick)
                codes.append(1 + key * ticks + tick + 1)
            else:
                codes.append(0)
        codes.append(self._no_pot_code)
        blocks = []
        for p, ((x, y), o) in enumerate(((p0, o0), (p1, o1))):
            s = (y * self.w + x) * NUM_ORIENTATIONS + o
            row = base_held[s * self._num_codes + held[p]][:]
            if held[p] == SOUP:
                row[_SOUP_N], row[_SOUP_N + 1] = h_on[p], h_to[p]
            for j, pot in enumerate(pot_rank[s]):
                col = _POTS + POT_FEATURES * j
                row[col : col + 8] = pot_table[codes[pot]]
            blocks.append(row)
        rel = [p1[0] - p0[0], p1[1] - p0[1]]
        out = [blocks[0] + blocks[1] + rel + p0, blocks[1] + blocks[0] + [-rel[0], -rel[1]] + p1]
        return np.array(out, dtype=np.float32)[None]

    def featurize(self, state: BatchState) -> np.ndarray:
        """(N, 2, feature_dim) float32: overcooked_ai's featurize_state for both players of every env."""
        if state.num_envs == 1 and not self._use_counters:
            return self._featurize_one(state)
        blocks = self._player_blocks(state)  # (N, 2, block)
        pos = state.pos
        return np.concatenate(
            [blocks, blocks[:, ::-1], pos[:, ::-1] - pos, pos], axis=-1, dtype=np.float32, casting="unsafe"
        )

    # ---------------------------------------------------------------------------------------------
    # lossless encoding
    # ---------------------------------------------------------------------------------------------
    def lossless(self, state: BatchState) -> np.ndarray:
        """(N, 2, W, H, 26) float32: overcooked_ai's lossless_state_encoding for both players.

        Starts from the static terrain planes and scatters the few non-zero entries (players, objects,
        held objects), so the cost per env is the copy plus O(#objects), not O(#cells * #channels).
        """
        if state.num_envs == 1:
            return self._lossless_one(state)
        n = state.num_envs
        out = np.empty((n, 2, self.w, self.h, NUM_LOSSLESS_CHANNELS), dtype=np.float32)
        out[...] = self._lossless_template
        rows = np.arange(n)[:, None]

        # players: own location / orientation first, then the other player's
        who = self._l_who
        x, y = state.pos[:, who, 0], state.pos[:, who, 1]
        out[rows, self._l_me, x, y, self._l_chan + state.ori[:, who] * self._l_is_ori] = 1.0

        # objects on the grid (counters and pots)
        r, gy, gx = np.nonzero(state.obj)
        if r.size:
            code = state.obj[r, gy, gx]
            soup = code == SOUP
            out[r, :, gx, gy, self._l_object_channel[code]] = 1.0  # dishes / onions / tomatoes
            if soup.any():
                r, gx, gy = r[soup], gx[soup], gy[soup]
                on, to = state.soup_onions[r, gy, gx], state.soup_tomatoes[r, gy, gx]
                tick = state.soup_tick[r, gy, gx]
                in_pot = self._is_pot_cell[gy, gx]
                idle_pot = in_pot & (tick < 0)
                started_pot = in_pot & (tick >= 0)
                cook = self._recipe_time[np.minimum(on, MAX_INGREDIENTS), np.minimum(to, MAX_INGREDIENTS)]
                out[r, :, gx, gy, np.where(idle_pot, _L_ON_POT, _L_ON_SOUP)] = on[:, None]
                out[r, :, gx, gy, np.where(idle_pot, _L_TOM_POT, _L_TOM_SOUP)] = to[:, None]
                out[r, :, gx, gy, _L_COOK] = np.where(started_pot, cook - tick, 0)[:, None]
                out[r, :, gx, gy, _L_DONE] = ((started_pot & (tick >= cook)) | ~in_pot)[:, None]

        # held objects sit on their player's cell; a held soup counts as a finished soup
        r, p = np.nonzero(state.held)
        if r.size:
            code = state.held[r, p]
            px, py = state.pos[r, p, 0], state.pos[r, p, 1]
            out[r, :, px, py, self._l_object_channel[code]] = 1.0
            soup = code == SOUP
            if soup.any():
                r, p, px, py = r[soup], p[soup], px[soup], py[soup]
                out[r, :, px, py, _L_ON_SOUP] = state.held_onions[r, p][:, None]
                out[r, :, px, py, _L_TOM_SOUP] = state.held_tomatoes[r, p][:, None]

        urgent = self.horizon - state.timestep < URGENCY_STEPS
        if urgent.any():
            out[urgent, ..., _L_URGENCY] = 1.0
        return out

    def _lossless_one(self, state: BatchState) -> np.ndarray:
        """N = 1 path of ``lossless``: the same entries, collected as flat indices from Python scalars
        and written with one numpy call (numpy's per-call overhead is most of the cost of one env)."""
        W, H, C = self.w, self.h, NUM_LOSSLESS_CHANNELS
        plane = W * H * C  # one viewer's grid
        idx: list[int] = []
        val: list[float] = []

        def put_both(x: int, y: int, channel: int, value: float) -> None:
            i = (x * H + y) * C + channel
            idx.extend((i, plane + i))
            val.extend((value, value))

        (p0, p1), (o0, o1) = state.pos[0].tolist(), state.ori[0].tolist()
        for me, ((mx, my), mo, (ox, oy), oo) in enumerate(((p0, o0, p1, o1), (p1, o1, p0, o0))):
            base = me * plane
            idx.extend(
                (
                    base + (mx * H + my) * C + _L_PLAYER,
                    base + (ox * H + oy) * C + _L_OTHER,
                    base + (mx * H + my) * C + _L_ORI + mo,
                    base + (ox * H + oy) * C + _L_OTHER_ORI + oo,
                )
            )
            val.extend((1.0, 1.0, 1.0, 1.0))
        obj = state.obj[0]
        channel = self._object_channel_list
        for cell in np.flatnonzero(obj).tolist():
            gy, gx = divmod(cell, W)
            code = int(obj[gy, gx])
            if code != SOUP:
                put_both(gx, gy, channel[code], 1.0)
                continue
            on, to, tick = (
                int(state.soup_onions[0, gy, gx]),
                int(state.soup_tomatoes[0, gy, gx]),
                int(state.soup_tick[0, gy, gx]),
            )
            in_pot = bool(self._is_pot_cell[gy, gx])
            idle, started = in_pot and tick < 0, in_pot and tick >= 0
            cook = int(self._recipe_time[min(on, MAX_INGREDIENTS), min(to, MAX_INGREDIENTS)])
            put_both(gx, gy, _L_ON_POT if idle else _L_ON_SOUP, on)
            put_both(gx, gy, _L_TOM_POT if idle else _L_TOM_SOUP, to)
            put_both(gx, gy, _L_COOK, cook - tick if started else 0)
            put_both(gx, gy, _L_DONE, 1.0 if (started and tick >= cook) or not in_pot else 0.0)
        for p, code in enumerate(state.held[0].tolist()):
            if code:  # held objects sit on their player's cell; a held soup counts as a finished soup
                px, py = (p0, p1)[p]
                put_both(px, py, channel[code], 1.0)
                if code == SOUP:
                    put_both(px, py, _L_ON_SOUP, int(state.held_onions[0, p]))
                    put_both(px, py, _L_TOM_SOUP, int(state.held_tomatoes[0, p]))
        out = self._lossless_template.copy()
        out.reshape(-1)[idx] = val  # no index repeats: players, objects and held objects use distinct entries
        if self.horizon - int(state.timestep[0]) < URGENCY_STEPS:
            out[..., _L_URGENCY] = 1.0
        return out[None]

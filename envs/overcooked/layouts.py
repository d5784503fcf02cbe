"""Overcooked layouts as plain data: the five classic kitchens plus user text grids.

A layout is static: terrain codes, start positions, positions of every kind of tile and the
order/recipe tables. Everything the dynamics need per step is precomputed here once.

Grid symbols (overcooked_ai's): ``X`` counter, ``P`` pot, ``O`` onion dispenser, ``T`` tomato
dispenser, ``D`` dish dispenser, ``S`` serving window, ``1``/``2`` start of player 1/2 (floor),
space = floor. Coordinates are overcooked_ai's: a position is ``(x, y)`` with x = column and
y = row (row 0 is the top line of the text grid).
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from diverse_marl.errors import ConfigError

# ---- terrain codes (Layout.terrain) ----
FLOOR, COUNTER, POT, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, SERVING = range(7)
TERRAIN_SYMBOLS = {
    " ": FLOOR,
    "X": COUNTER,
    "P": POT,
    "O": ONION_DISPENSER,
    "T": TOMATO_DISPENSER,
    "D": DISH_DISPENSER,
    "S": SERVING,
}
SYMBOL_OF_TERRAIN = {code: sym for sym, code in TERRAIN_SYMBOLS.items()}
PLAYER_SYMBOLS = ("1", "2")
ALLOWED_SYMBOLS = "XPOTDS12 "

MAX_INGREDIENTS = 3  # a pot holds at most 3 ingredients (overcooked_ai's Recipe.MAX_NUM_INGREDIENTS)
DEFAULT_COOK_TIME = 20  # ticks a soup cooks before it is ready
DEFAULT_DELIVERY_REWARD = 20  # sparse reward of one delivered soup that matches an order
DEFAULT_ORDER_BONUS = 2  # overcooked_ai: bonus orders pay order_bonus * value
THREE_ONIONS = ("onion", "onion", "onion")
INGREDIENTS = ("onion", "tomato")

# The classic layouts of Carroll et al. (2019), identical to overcooked_ai's .layout files.
# (overcooked_ai calls the last one "counter_circuit_o_1order".)
CLASSIC_GRIDS: dict[str, str] = {
    "cramped_room": """
XXPXX
O  2O
X1  X
XDXSX
""",
    "asymmetric_advantages": """
XXXXXXXXX
O XSXOX S
X   P 1 X
X2  P   X
XXXDXDXXX
""",
    "coordination_ring": """
XXXPX
X 1 P
D2X X
O   X
XOSXX
""",
    "forced_coordination": """
XXXPX
O X1P
O2X X
D X X
XXXSX
""",
    "counter_circuit": """
XXXPPXXX
X  2   X
D XXXX S
X  1   X
XXXOOXXX
""",
}
REFERENCE_NAMES = {"counter_circuit": "counter_circuit_o_1order"}  # our name -> overcooked_ai's name


def list_layouts() -> list[str]:
    """Names of the built-in layouts (any text grid is accepted as well)."""
    return list(CLASSIC_GRIDS)


@dataclass(frozen=True, eq=False)
class Layout:
    """A static kitchen. Arrays are read-only; positions are int64 arrays of (x, y) rows.

    Attributes:
        name: layout name (or "custom" for user grids).
        rows: the text grid, one string per row, player digits included.
        terrain: (H, W) int8 terrain codes (FLOOR, COUNTER, POT, ...), indexed ``terrain[y, x]``;
            player start cells are FLOOR.
        start_positions: ((x0, y0), (x1, y1)) start cells of player 1 and 2 (agent_0, agent_1).
        pot_positions, counter_positions, onion_dispensers, tomato_dispensers, dish_dispensers,
        serving_positions: (k, 2) (x, y) in row-major scan order (y outer, x inner) - the order of
            overcooked_ai's ``get_pot_locations()`` etc.
        orders: sorted ingredient tuples of soups that pay (overcooked_ai's all_orders).
        bonus_orders: subset of orders paying ``order_bonus`` times the value.
        cook_time, delivery_reward: per recipe (all recipes share them, as in the classic layouts).
        recipe_value: (4, 4) float, ``recipe_value[n_onions, n_tomatoes]`` = sparse reward when such a
            soup is delivered (0 if it is not an order).
        recipe_time: (4, 4) int, cook time of a soup with that many onions/tomatoes.
        best_value: (4, 4) float, best ``recipe_value`` reachable by adding ingredients to a pot holding
            (n_onions, n_tomatoes) (overcooked_ai's optimal possible recipe; [0, 0] = empty pot).
    """

    name: str
    rows: tuple[str, ...]
    terrain: np.ndarray
    start_positions: tuple[tuple[int, int], tuple[int, int]]
    orders: tuple[tuple[str, ...], ...] = (THREE_ONIONS,)
    bonus_orders: tuple[tuple[str, ...], ...] = ()
    order_bonus: int = DEFAULT_ORDER_BONUS
    cook_time: int = DEFAULT_COOK_TIME
    delivery_reward: int = DEFAULT_DELIVERY_REWARD
    # derived (filled in __post_init__)
    pot_positions: np.ndarray = field(init=False)
    counter_positions: np.ndarray = field(init=False)
    onion_dispensers: np.ndarray = field(init=False)
    tomato_dispensers: np.ndarray = field(init=False)
    dish_dispensers: np.ndarray = field(init=False)
    serving_positions: np.ndarray = field(init=False)
    recipe_value: np.ndarray = field(init=False)
    recipe_time: np.ndarray = field(init=False)
    best_value: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        def positions(code: int) -> np.ndarray:
            ys, xs = np.nonzero(self.terrain == code)  # row-major order: y outer, x inner
            arr = np.stack([xs, ys], axis=1).astype(np.int64).reshape(-1, 2)
            arr.setflags(write=False)
            return arr

        self.terrain.setflags(write=False)
        put = object.__setattr__
        put(self, "pot_positions", positions(POT))
        put(self, "counter_positions", positions(COUNTER))
        put(self, "onion_dispensers", positions(ONION_DISPENSER))
        put(self, "tomato_dispensers", positions(TOMATO_DISPENSER))
        put(self, "dish_dispensers", positions(DISH_DISPENSER))
        put(self, "serving_positions", positions(SERVING))
        value, time, best = _recipe_tables(
            self.orders, self.bonus_orders, self.order_bonus, self.delivery_reward, self.cook_time
        )
        put(self, "recipe_value", value)
        put(self, "recipe_time", time)
        put(self, "best_value", best)

    @property
    def height(self) -> int:
        return int(self.terrain.shape[0])

    @property
    def width(self) -> int:
        return int(self.terrain.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """(width, height), like overcooked_ai's ``mdp.shape``."""
        return (self.width, self.height)

    def flat_index(self, positions: np.ndarray) -> np.ndarray:
        """(k,) int64 row-major cell indices ``y * width + x`` of (k, 2) (x, y) positions."""
        p = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
        return p[:, 1] * self.width + p[:, 0]

    @property
    def num_pots(self) -> int:
        return int(len(self.pot_positions))

    @property
    def terrain_rows(self) -> list[str]:
        """The grid without player digits (overcooked_ai's ``terrain_mtx`` joined per row)."""
        return ["".join(SYMBOL_OF_TERRAIN[int(c)] for c in row) for row in self.terrain]

    @property
    def reference_name(self) -> str:
        """Name of the same layout in overcooked_ai."""
        return REFERENCE_NAMES.get(self.name, self.name)


def _recipe_tables(orders, bonus_orders, order_bonus, delivery_reward, cook_time):
    """(value, time, best reachable value) tables indexed [n_onions, n_tomatoes]."""
    size = MAX_INGREDIENTS + 1
    value = np.zeros((size, size), dtype=np.float64)
    time = np.full((size, size), cook_time, dtype=np.int64)
    counts = lambda recipe: (recipe.count("onion"), recipe.count("tomato"))  # noqa: E731
    bonus = {counts(r) for r in bonus_orders}
    for recipe in orders:
        o, t = counts(recipe)
        value[o, t] = delivery_reward * (order_bonus if (o, t) in bonus else 1)
    best = np.zeros_like(value)
    for o, t in itertools.product(range(size), range(size)):
        if o + t > MAX_INGREDIENTS:
            continue
        best[o, t] = max(
            value[o2, t2]
            for o2 in range(o, size)
            for t2 in range(t, size)
            if o2 + t2 <= MAX_INGREDIENTS and o2 + t2 > 0
        )
    for arr in (value, time, best):
        arr.setflags(write=False)
    return value, time, best


def _normalize_orders(orders: Iterable[Sequence[str]] | None, what: str) -> tuple[tuple[str, ...], ...]:
    out = []
    for order in orders or ():
        if isinstance(order, dict):
            order = order.get("ingredients", ())
        order = tuple(sorted(order))
        if not order or len(order) > MAX_INGREDIENTS or any(i not in INGREDIENTS for i in order):
            raise ConfigError(
                f"invalid {what} entry {order!r}; an order is 1-{MAX_INGREDIENTS} ingredients "
                f"from {', '.join(INGREDIENTS)}"
            )
        if order not in out:
            out.append(order)
    return tuple(out)


def parse_grid(text: str | Sequence[str]) -> list[str]:
    """Split a text grid into rows, dropping blank leading/trailing lines.

    Rows are dedented together; if they are then of unequal length, every row is stripped instead
    (overcooked_ai's layout files indent all rows but the first).
    """
    lines = text.split("\n") if isinstance(text, str) else [str(r) for r in text]
    lines = textwrap.dedent("\n".join(line.rstrip("\r") for line in lines)).split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if len({len(line) for line in lines}) > 1:
        stripped = [line.strip() for line in lines]
        if len({len(line) for line in stripped}) == 1:
            return stripped
    return lines


def layout_from_grid(
    text: str | Sequence[str],
    name: str = "custom",
    orders: Iterable[Sequence[str]] | None = None,
    bonus_orders: Iterable[Sequence[str]] | None = None,
    cook_time: int = DEFAULT_COOK_TIME,
    delivery_reward: int = DEFAULT_DELIVERY_REWARD,
    order_bonus: int = DEFAULT_ORDER_BONUS,
) -> Layout:
    """Build a Layout from a text grid; raise ConfigError naming the row/column of any problem.

    ``orders`` default to the single 3-onion soup of the classic layouts.
    """
    rows = parse_grid(text)
    if not rows:
        raise ConfigError(
            "malformed layout: the grid is empty; give rows of symbols "
            f"{ALLOWED_SYMBOLS!r} (X counter, P pot, O onion, T tomato, D dish, S serving, "
            "1/2 players, space floor)"
        )
    width = len(rows[0])
    for y, row in enumerate(rows):
        if len(row) != width:
            raise ConfigError(
                f"malformed layout: row {y} {row!r} has {len(row)} columns but row 0 has {width}; "
                "all rows must have the same length"
            )
    terrain = np.zeros((len(rows), width), dtype=np.int8)
    players: dict[str, tuple[int, int]] = {}
    for y, row in enumerate(rows):
        for x, ch in enumerate(row):
            if ch in PLAYER_SYMBOLS:
                if ch in players:
                    raise ConfigError(
                        f"malformed layout: player '{ch}' appears twice (row {players[ch][1]} "
                        f"column {players[ch][0]} and row {y} column {x})"
                    )
                players[ch] = (x, y)
                terrain[y, x] = FLOOR
            elif ch in TERRAIN_SYMBOLS:
                terrain[y, x] = TERRAIN_SYMBOLS[ch]
            else:
                raise ConfigError(
                    f"malformed layout: bad symbol {ch!r} at row {y} column {x}; allowed symbols: "
                    "X counter, P pot, O onion, T tomato, D dish, S serving, 1/2 players, space floor"
                )
            on_border = y in (0, len(rows) - 1) or x in (0, width - 1)
            if on_border and (ch == " " or ch in PLAYER_SYMBOLS):
                raise ConfigError(
                    f"malformed layout: row {y} column {x} is on the border and is floor "
                    f"({ch!r}); the border must be X, P, O, T, D or S"
                )
    for ch in PLAYER_SYMBOLS:
        if ch not in players:
            raise ConfigError(f"malformed layout: player '{ch}' is missing; the grid needs exactly one '1' and one '2'")
    need = [("P", "a pot"), ("D", "a dish dispenser"), ("S", "a serving window")]
    for sym, what in need:
        if not (terrain == TERRAIN_SYMBOLS[sym]).any():
            raise ConfigError(f"malformed layout: no {sym!r} ({what}) anywhere in the grid")
    if not ((terrain == ONION_DISPENSER).any() or (terrain == TOMATO_DISPENSER).any()):
        raise ConfigError("malformed layout: no 'O' or 'T' (ingredient dispenser) anywhere in the grid")
    orders_t = _normalize_orders(orders if orders is not None else [THREE_ONIONS], "orders")
    bonus_t = _normalize_orders(bonus_orders, "bonus_orders")
    if not orders_t:
        raise ConfigError("orders must not be empty")
    if not set(bonus_t) <= set(orders_t):
        raise ConfigError(f"bonus_orders {bonus_t} must be a subset of orders {orders_t}")
    if int(cook_time) < 1:
        raise ConfigError(f"cook_time must be a positive int, got {cook_time!r}")
    return Layout(
        name=name,
        rows=tuple(rows),
        terrain=terrain,
        start_positions=(players["1"], players["2"]),
        orders=orders_t,
        bonus_orders=bonus_t,
        order_bonus=int(order_bonus),
        cook_time=int(cook_time),
        delivery_reward=int(delivery_reward),
    )


def get_layout(layout: str | Layout | Sequence[str]) -> Layout:
    """A classic layout by name, a text grid (a string with newlines or a list of rows), or a Layout."""
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, str) and "\n" not in layout:
        if layout in CLASSIC_GRIDS:
            return layout_from_grid(CLASSIC_GRIDS[layout], name=layout)
        aliases = {v: k for k, v in REFERENCE_NAMES.items()}
        if layout in aliases:
            return layout_from_grid(CLASSIC_GRIDS[aliases[layout]], name=aliases[layout])
        raise ConfigError(
            f"unknown layout {layout!r}; allowed: {', '.join(list_layouts())} "
            "(or a text grid with rows separated by newlines)"
        )
    if isinstance(layout, (str, list, tuple)):
        return layout_from_grid(layout)
    raise ConfigError(f"layout must be a name, a text grid or a Layout, got {type(layout).__name__}")

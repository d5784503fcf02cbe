"""Conversion between one row of a BatchState and overcooked_ai's ``OvercookedState.to_dict()`` format.

Lets users (and the differential test) move states between this env and overcooked_ai:
``{"players": [{"position", "orientation", "held_object"}], "objects": [...], "bonus_orders",
"all_orders", "timestep"}``. Objects are listed in row-major cell order (overcooked_ai lists them in
insertion order; compare them as a set or by position).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diverse_marl.envs.overcooked.core import (
    DIRECTION_INDEX,
    DIRECTIONS,
    NOTHING,
    NUM_PLAYERS,
    OBJECT_CODES,
    OBJECT_NAMES,
    SOUP,
    BatchState,
)
from diverse_marl.envs.overcooked.layouts import FLOOR, MAX_INGREDIENTS, Layout
from diverse_marl.errors import ConfigError


def _recipe_sort_key(ingredients: tuple[str, ...]) -> int:
    """overcooked_ai's ``int(Recipe)`` (orders are listed sorted by it)."""
    onions, tomatoes = ingredients.count("onion"), ingredients.count("tomato")
    enc = onions + (MAX_INGREDIENTS + 1) * tomatoes
    return int(bool(onions * tomatoes)) * enc * (MAX_INGREDIENTS + 1) ** 2 + enc


def _soup_dict(layout: Layout, position, onions: int, tomatoes: int, tick: int, order: int) -> dict[str, Any]:
    n = onions + tomatoes
    names = ["tomato" if (order >> k) & 1 else "onion" for k in range(n)]
    idle = tick < 0
    cook_time = int(layout.recipe_time[onions, tomatoes]) if n <= MAX_INGREDIENTS else layout.cook_time
    ready = (not idle) and tick >= cook_time
    return {
        "name": "soup",
        "position": position,
        "_ingredients": [{"name": name, "position": position} for name in names],
        "cooking_tick": tick,
        "is_cooking": (not idle) and not ready,
        "is_ready": ready,
        "is_idle": idle,
        "cook_time": -1 if idle else cook_time,
        "_cooking_tick": tick,
    }


def state_to_dict(layout: Layout, s: BatchState, i: int = 0) -> dict[str, Any]:
    """Env ``i`` of the batch as an overcooked_ai state dict (positions/orientations as tuples)."""
    players = []
    for p in range(NUM_PLAYERS):
        position = (int(s.pos[i, p, 0]), int(s.pos[i, p, 1]))
        code = int(s.held[i, p])
        held = None
        if code == SOUP:
            held = _soup_dict(
                layout,
                position,
                int(s.held_onions[i, p]),
                int(s.held_tomatoes[i, p]),
                int(s.held_tick[i, p]),
                int(s.held_order[i, p]),
            )
        elif code != NOTHING:
            held = {"name": OBJECT_NAMES[code], "position": position}
        d = DIRECTIONS[int(s.ori[i, p])]
        players.append({"position": position, "orientation": (int(d[0]), int(d[1])), "held_object": held})
    objects = []
    for y, x in zip(*np.nonzero(s.obj[i])):
        position = (int(x), int(y))
        code = int(s.obj[i, y, x])
        if code == SOUP:
            objects.append(
                _soup_dict(
                    layout,
                    position,
                    int(s.soup_onions[i, y, x]),
                    int(s.soup_tomatoes[i, y, x]),
                    int(s.soup_tick[i, y, x]),
                    int(s.soup_order[i, y, x]),
                )
            )
        else:
            objects.append({"name": OBJECT_NAMES[code], "position": position})
    order_dict = lambda r: {"ingredients": tuple(r)}  # noqa: E731
    return {
        "players": players,
        "objects": objects,
        "bonus_orders": [order_dict(r) for r in sorted(layout.bonus_orders, key=_recipe_sort_key)],
        "all_orders": [order_dict(r) for r in sorted(layout.orders, key=_recipe_sort_key)],
        "timestep": int(s.timestep[i]),
    }


def _pos(value: Any, what: str, layout: Layout) -> tuple[int, int]:
    try:
        x, y = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"set_state: {what} position {value!r} is not an (x, y) pair") from None
    if not (0 <= x < layout.width and 0 <= y < layout.height):
        raise ConfigError(f"set_state: {what} position {(x, y)} is outside the {layout.width}x{layout.height} grid")
    return x, y


def _object(d: Any, what: str, layout: Layout) -> tuple[int, int, int, int, int]:
    """(code, onions, tomatoes, tick, order) of an object dict."""
    if not isinstance(d, dict) or "name" not in d:
        raise ConfigError(f"set_state: {what} {d!r} is not an object dict with a 'name'")
    name = d["name"]
    if name not in OBJECT_CODES or name == "nothing":
        raise ConfigError(f"set_state: {what} has unknown name {name!r}; allowed: onion, tomato, dish, soup")
    if name != "soup":
        return OBJECT_CODES[name], 0, 0, -1, 0
    ingredients = d.get("_ingredients", d.get("ingredients", []))
    names = [ing["name"] if isinstance(ing, dict) else ing for ing in ingredients]
    if len(names) > MAX_INGREDIENTS or any(n not in ("onion", "tomato") for n in names):
        raise ConfigError(
            f"set_state: {what} soup ingredients {names!r} must be at most {MAX_INGREDIENTS} of onion, tomato"
        )
    tick = int(d.get("cooking_tick", d.get("_cooking_tick", -1)))
    order = sum(1 << k for k, n in enumerate(names) if n == "tomato")
    return SOUP, names.count("onion"), names.count("tomato"), tick, order


def state_from_dict(layout: Layout, d: dict[str, Any], s: BatchState, i: int = 0) -> None:
    """Write an overcooked_ai state dict into row ``i`` of ``s`` (validated first; ConfigError on bad input)."""
    if not isinstance(d, dict) or "players" not in d:
        raise ConfigError(
            "set_state expects a dict like overcooked_ai's OvercookedState.to_dict() "
            "with keys players, objects, timestep"
        )
    players = d["players"]
    if len(players) != NUM_PLAYERS:
        raise ConfigError(f"set_state: need exactly {NUM_PLAYERS} players, got {len(players)}")
    new = BatchState.initial(layout, 1)
    taken: set[tuple[int, int]] = set()
    for p, pd in enumerate(players):
        x, y = _pos(pd["position"], f"player {p}", layout)
        if layout.terrain[y, x] != FLOOR:
            raise ConfigError(f"set_state: player {p} at {(x, y)} is not on a floor cell")
        if (x, y) in taken:
            raise ConfigError(f"set_state: both players are at {(x, y)}")
        taken.add((x, y))
        orientation = tuple(int(v) for v in pd.get("orientation", (0, -1)))
        if orientation not in DIRECTION_INDEX:
            raise ConfigError(
                f"set_state: player {p} orientation {orientation} is not one of {sorted(DIRECTION_INDEX)}"
            )
        new.pos[0, p] = (x, y)
        new.ori[0, p] = DIRECTION_INDEX[orientation]
        if pd.get("held_object") is not None:
            code, on, to, tick, order = _object(pd["held_object"], f"player {p}'s held object", layout)
            new.held[0, p], new.held_onions[0, p], new.held_tomatoes[0, p] = code, on, to
            new.held_tick[0, p], new.held_order[0, p] = tick, order
    for od in d.get("objects", []):
        x, y = _pos(od.get("position") if isinstance(od, dict) else None, "object", layout)
        if layout.terrain[y, x] == FLOOR:
            raise ConfigError(
                f"set_state: object {od.get('name')!r} at {(x, y)} lies on a floor cell; objects "
                "must be on counters or in pots"
            )
        if new.obj[0, y, x] != NOTHING:
            raise ConfigError(f"set_state: two objects at {(x, y)}")
        code, on, to, tick, order = _object(od, f"object at {(x, y)}", layout)
        new.obj[0, y, x], new.soup_onions[0, y, x], new.soup_tomatoes[0, y, x] = code, on, to
        new.soup_tick[0, y, x], new.soup_order[0, y, x] = tick, order
    new.timestep[0] = int(d.get("timestep", 0))
    for name in BatchState.__dataclass_fields__:
        getattr(s, name)[i] = getattr(new, name)[0]

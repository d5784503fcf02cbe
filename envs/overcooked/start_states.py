"""Random start states: an exploration curriculum for layouts whose first delivery is hard to find.

With ``random_start: p`` a kitchen begins an episode, with probability p, from a random state
instead of the layout's start: both cooks on distinct random floor cells facing random ways, each
holding with probability ``OBJECT_PROB`` an onion, a tomato (if the layout has tomatoes), a dish or
a ready soup, and each pot holding with probability ``OBJECT_PROB`` 1-3 ingredients (a full pot
cooking or done, in the old dynamics; idle, cooking or done in the new ones). A cook that starts
holding a soup meets the delivery reward within a few steps, which a cook starting empty-handed
must find by chance after potting, cooking and plating. This is overcooked_ai's random start
(``get_random_start_state_fn``) in spirit, not its code.

Anneal ``random_start`` to 0 with a ``reward_schedule`` so that the policy ends on the layout's own
start; the batched env reports the sparse return of layout-start episodes apart
(``episode/sparse_return_from_layout_start``), so curves stay honest while the curriculum runs.
"""

from __future__ import annotations

import numpy as np

from diverse_marl.envs.overcooked.core import DISH, NUM_PLAYERS, ONION, SOUP, TOMATO, BatchState
from diverse_marl.envs.overcooked.layouts import FLOOR, Layout
from diverse_marl.errors import ConfigError

OBJECT_PROB = 0.5  # chance that a cook holds something / a pot holds a soup, in a random start
MAX_INGREDIENTS = 3  # a pot holds at most 3 ingredients (overcooked_ai)


def check_random_start(value: object) -> float:
    """``random_start`` must be a probability."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ConfigError(f"random_start must be a probability in [0, 1], got {value!r}")
    return float(value)


def _ingredients(layout: Layout, rng: np.random.Generator, count: int) -> tuple[int, int, int]:
    """(onions, tomatoes, order bits) of ``count`` random ingredients the layout's dispensers offer."""
    tomato_ok = len(layout.tomato_dispensers) > 0
    onion_ok = len(layout.onion_dispensers) > 0 or not tomato_ok
    kinds = [k for k, ok in ((ONION, onion_ok), (TOMATO, tomato_ok)) if ok]
    drawn = rng.choice(kinds, size=count)
    order = sum(1 << k for k, kind in enumerate(drawn) if kind == TOMATO)
    return int((drawn == ONION).sum()), int((drawn == TOMATO).sum()), int(order)


def randomize_rows(
    s: BatchState, rows: np.ndarray, layout: Layout, old_dynamics: bool, rng: np.random.Generator
) -> None:
    """Turn the kitchens ``rows`` (indices) of ``s``, which must be at the layout's start (``reset_rows``),
    into random start states, in place."""
    floor = np.argwhere(layout.terrain == FLOOR)[:, ::-1]  # (k, 2) as (x, y)
    held_kinds = [ONION] + ([TOMATO] if len(layout.tomato_dispensers) else []) + [DISH, SOUP]
    for n in np.asarray(rows, dtype=np.int64):
        s.pos[n] = floor[rng.choice(len(floor), size=NUM_PLAYERS, replace=False)]
        s.ori[n] = rng.integers(0, 4, size=NUM_PLAYERS)
        for p in range(NUM_PLAYERS):
            if rng.random() >= OBJECT_PROB:
                continue
            kind = int(rng.choice(held_kinds))
            s.held[n, p] = kind
            if kind == SOUP:  # a soup in hand is always done cooking: one of the layout's orders
                recipe = layout.orders[int(rng.integers(len(layout.orders)))]
                onions, tomatoes = recipe.count("onion"), recipe.count("tomato")
                s.held_onions[n, p], s.held_tomatoes[n, p] = onions, tomatoes
                s.held_order[n, p] = (1 << tomatoes) - 1  # tomatoes added first (only the list order changes)
                s.held_tick[n, p] = layout.recipe_time[onions, tomatoes]
        for x, y in layout.pot_positions:
            if rng.random() >= OBJECT_PROB:
                continue
            count = int(rng.integers(1, MAX_INGREDIENTS + 1))
            onions, tomatoes, order = _ingredients(layout, rng, count)
            cook_time = int(layout.recipe_time[onions, tomatoes])
            if old_dynamics:  # a pot cooks by itself once full, and only then
                tick = int(rng.integers(0, cook_time + 1)) if count == MAX_INGREDIENTS else -1
            else:  # idle (-1), cooking or done
                tick = int(rng.integers(-1, cook_time + 1))
            s.obj[n, y, x], s.soup_onions[n, y, x], s.soup_tomatoes[n, y, x] = SOUP, onions, tomatoes
            s.soup_tick[n, y, x], s.soup_order[n, y, x] = tick, order

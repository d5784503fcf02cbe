"""Overcooked as text, for agents that read (LLM agents): one seat's view of one kitchen.

Built on the ANSI grid of ``render.render_text`` and spelled out underneath: where each cook
stands, faces and what it holds, what lies in front of it, every pot's state, objects on
counters, time left, and the six actions by name. Kitchens are fully observed, so the view is
the whole state; positions are (x, y) with x to the east and y to the south, as in the grid.
"""

from __future__ import annotations

import numpy as np

from diverse_marl.agents import TextObservation
from diverse_marl.envs.overcooked.core import ACTION_NAMES, DIRECTIONS, NOTHING, OBJECT_NAMES, SOUP, BatchState
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
from diverse_marl.envs.overcooked.render import render_text

FACING_NAMES = ("north", "south", "east", "west")
TERRAIN_NAMES = {
    FLOOR: "floor",
    COUNTER: "counter",
    POT: "pot",
    ONION_DISPENSER: "onion dispenser",
    TOMATO_DISPENSER: "tomato dispenser",
    DISH_DISPENSER: "dish dispenser",
    SERVING: "serving window",
}
ACTION_HELP = {
    "north": "move one cell north (up), or turn to face north if blocked",
    "south": "move one cell south (down), or turn to face south if blocked",
    "east": "move one cell east (right), or turn to face east if blocked",
    "west": "move one cell west (left), or turn to face west if blocked",
    "stay": "do nothing",
    "interact": "use the cell you face: pick up / put down an item, add an ingredient to a pot, "
    "start cooking a pot, take soup with a dish, deliver soup at the serving window",
}
LEGEND = (
    "Map legend: X counter, P pot, O onion dispenser, T tomato dispenser, D dish dispenser, "
    "S serving window, blank floor. A cook is an arrow (the way it faces) and its number, then "
    "what it holds (o onion, t tomato, d dish, {...} soup). Items after a letter lie on that cell; "
    "a soup {øø1 has two onions and has cooked 1 tick, {øøø✓ is ready."
)
RULES = (
    "Goal: deliver onion soups together. Put 3 onions in a pot, interact with the pot to start "
    "cooking, wait until it is ready, take the soup with a dish, carry it to the serving window "
    "and interact: +20 for the team. Cooks cannot walk through each other or onto counters."
)


def _item(layout: Layout, code: int, onions: int, tomatoes: int, tick: int) -> str:
    if code != SOUP:
        return "an " + OBJECT_NAMES[code] if OBJECT_NAMES[code][0] == "o" else "a " + OBJECT_NAMES[code]
    return "a soup (" + _soup_state(layout, onions, tomatoes, tick) + ")"


def _soup_state(layout: Layout, onions: int, tomatoes: int, tick: int) -> str:
    parts = [f"{onions} onion{'s' * (onions != 1)}"] + (
        [f"{tomatoes} tomato{'es' * (tomatoes != 1)}"] if tomatoes else []
    )
    contents = " and ".join(parts)
    if tick < 0:
        return f"{contents}, not cooking"
    cook_time = int(layout.recipe_time[min(onions, 3), min(tomatoes, 3)])
    if tick >= cook_time:
        return f"{contents}, ready"
    return f"{contents}, cooking {tick}/{cook_time}"


def _cell_item(layout: Layout, s: BatchState, i: int, x: int, y: int) -> str:
    code = int(s.obj[i, y, x])
    return _item(layout, code, int(s.soup_onions[i, y, x]), int(s.soup_tomatoes[i, y, x]), int(s.soup_tick[i, y, x]))


def _front(layout: Layout, s: BatchState, i: int, p: int) -> str:
    """What cook ``p`` faces: the other cook, or the terrain with what lies on it."""
    x, y = (int(v) for v in s.pos[i, p])
    dx, dy = (int(v) for v in DIRECTIONS[int(s.ori[i, p])])
    fx, fy = x + dx, y + dy
    if not (0 <= fx < layout.width and 0 <= fy < layout.height):
        return "the edge of the kitchen"
    other = 1 - p
    if (int(s.pos[i, other, 0]), int(s.pos[i, other, 1])) == (fx, fy):
        return f"cook {other}"
    terrain = int(layout.terrain[fy, fx])
    name = TERRAIN_NAMES[terrain]
    if terrain == POT:
        return f"the pot at ({fx}, {fy}), " + (
            "empty" if s.obj[i, fy, fx] == NOTHING else "holding " + _cell_item(layout, s, i, fx, fy)
        )
    if s.obj[i, fy, fx] != NOTHING:
        return f"the {name} at ({fx}, {fy}) with {_cell_item(layout, s, i, fx, fy)} on it"
    return f"the {name} at ({fx}, {fy})" + (" (empty)" if terrain == COUNTER else "")


def describe(layout: Layout, s: BatchState, i: int, agent_index: int, horizon: int) -> str:
    """The text of kitchen ``i`` as seen by cook ``agent_index`` (the map, then the state in words)."""
    t = int(s.timestep[i])
    lines = [
        f"You are cook {agent_index} (agent_{agent_index}); your partner is cook {1 - agent_index}.",
        RULES,
        "",
        "Kitchen map (row 0 at the top):",
        render_text(layout, s, i).rstrip("\n").rsplit("\n", 1)[0],
        LEGEND,
        "",
    ]
    for p in (agent_index, 1 - agent_index):
        who = "You (cook %d)" % p if p == agent_index else "Partner (cook %d)" % p
        held = int(s.held[i, p])
        holding = (
            "nothing"
            if held == NOTHING
            else _item(layout, held, int(s.held_onions[i, p]), int(s.held_tomatoes[i, p]), int(s.held_tick[i, p]))
        )
        lines.append(
            f"{who}: at ({int(s.pos[i, p, 0])}, {int(s.pos[i, p, 1])}), facing "
            f"{FACING_NAMES[int(s.ori[i, p])]}, holding {holding}, facing {_front(layout, s, i, p)}."
        )
    pots = [(int(x), int(y)) for y, x in zip(*np.nonzero(layout.terrain == POT))]
    for x, y in pots:
        state = "empty" if s.obj[i, y, x] == NOTHING else _cell_item(layout, s, i, x, y)
        lines.append(f"Pot at ({x}, {y}): {state}.")
    on_counters = [(int(x), int(y)) for y, x in zip(*np.nonzero((s.obj[i] != NOTHING) & (layout.terrain != POT)))]
    if on_counters:
        lines.append(
            "On counters: " + "; ".join(f"{_cell_item(layout, s, i, x, y)} at ({x}, {y})" for x, y in on_counters) + "."
        )
    lines.append(f"Time: step {t} of {horizon}, {horizon - t} steps left.")
    lines.append("Actions: " + "; ".join(f"{name} ({ACTION_HELP[name]})" for name in ACTION_NAMES) + ".")
    return "\n".join(lines)


def text_observation(
    layout: Layout, s: BatchState, i: int, agent: str, agents: list[str], horizon: int
) -> TextObservation:
    """The :class:`TextObservation` of ``agent`` in kitchen ``i`` (every action is always legal)."""
    p = agents.index(agent)
    return TextObservation(
        agent=agent,
        text=describe(layout, s, i, p, horizon),
        actions=ACTION_NAMES,
        step=int(s.timestep[i]),
        horizon=horizon,
    )

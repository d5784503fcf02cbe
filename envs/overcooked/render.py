"""Text and RGB rendering of one kitchen of a BatchState, plus an episode-to-GIF helper.

The RGB image is drawn with numpy only (no sprites): wooden counters, grey pots with their
ingredients and a cooking bar (orange while cooking, green when ready), onion/tomato/dish crates,
a serving window, and the two chefs (blue = agent_0, green = agent_1) with a white hat, a nose
pointing where they face and the held item in front of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from diverse_marl.envs.overcooked.core import DIRECTIONS, DISH, NOTHING, ONION, SOUP, TOMATO, BatchState
from diverse_marl.envs.overcooked.layouts import (
    DISH_DISPENSER,
    FLOOR,
    ONION_DISPENSER,
    POT,
    SERVING,
    SYMBOL_OF_TERRAIN,
    TOMATO_DISPENSER,
    Layout,
)

TILE = 48  # pixels per cell

COLORS = {
    "floor": (222, 214, 196),
    "floor_line": (205, 196, 176),
    "counter": (168, 120, 72),
    "counter_edge": (120, 82, 46),
    "pot": (80, 80, 86),
    "pot_rim": (130, 130, 138),
    "pot_inside": (50, 50, 54),
    "onion": (214, 170, 60),
    "onion_dark": (160, 112, 30),
    "tomato": (214, 52, 40),
    "dish": (245, 245, 245),
    "dish_rim": (170, 170, 170),
    "soup": (176, 84, 36),
    "serving": (96, 168, 96),
    "serving_mark": (230, 240, 230),
    "cooking": (240, 140, 30),
    "ready": (60, 200, 60),
    "bar_bg": (40, 40, 40),
    "hat": (250, 250, 250),
    "nose": (250, 220, 180),
    "chef0": (52, 101, 200),
    "chef1": (40, 150, 70),
}
ARROWS = ("↑", "↓", "→", "←")


# ---- text ------------------------------------------------------------------------------------------------
def _soup_text(onions: int, tomatoes: int, tick: int, cook_time: int) -> str:
    s = "{" + "ø" * onions + "†" * tomatoes
    if tick >= cook_time:
        s += "✓"
    elif tick >= 0:
        s += str(tick)
    return s


def render_text(layout: Layout, s: BatchState, i: int = 0) -> str:
    """overcooked_ai-style text grid: terrain letters, objects after them, players as arrow + index + item."""
    players = {(int(s.pos[i, p, 0]), int(s.pos[i, p, 1])): p for p in range(2)}
    lines = []
    for y in range(layout.height):
        cells = []
        for x in range(layout.width):
            if (x, y) in players:
                p = players[(x, y)]
                cell = ARROWS[int(s.ori[i, p])] + str(p)
                held = int(s.held[i, p])
                if held == SOUP:
                    on, to = int(s.held_onions[i, p]), int(s.held_tomatoes[i, p])
                    cell += _soup_text(on, to, int(s.held_tick[i, p]), int(layout.recipe_time[on, to]))
                elif held != NOTHING:
                    cell += ("", "o", "t", "d")[held]
            else:
                cell = SYMBOL_OF_TERRAIN[int(layout.terrain[y, x])]
                code = int(s.obj[i, y, x])
                if code == SOUP:
                    on, to = int(s.soup_onions[i, y, x]), int(s.soup_tomatoes[i, y, x])
                    cell += _soup_text(on, to, int(s.soup_tick[i, y, x]), int(layout.recipe_time[on, to]))
                elif code != NOTHING:
                    cell += ("", "o", "t", "d")[code]
            cells.append(cell.ljust(7))
        lines.append(" ".join(cells).rstrip())
    lines.append(f"t={int(s.timestep[i])}")
    return "\n".join(lines) + "\n"


# ---- drawing primitives ---------------------------------------------------------------------------------
_YY, _XX = np.mgrid[0:TILE, 0:TILE] + 0.5


def _rect(tile: np.ndarray, x0: float, y0: float, x1: float, y1: float, color) -> None:
    tile[int(y0) : int(y1), int(x0) : int(x1)] = color


def _circle(tile: np.ndarray, cx: float, cy: float, r: float, color) -> None:
    tile[(_XX - cx) ** 2 + (_YY - cy) ** 2 <= r * r] = color


def _triangle(tile: np.ndarray, pts: Sequence[tuple[float, float]], color) -> None:
    (x0, y0), (x1, y1), (x2, y2) = pts

    def side(ax, ay, bx, by):
        return (_XX - bx) * (ay - by) - (ax - bx) * (_YY - by)

    d1, d2, d3 = side(x0, y0, x1, y1), side(x1, y1, x2, y2), side(x2, y2, x0, y0)
    neg = (d1 < 0) | (d2 < 0) | (d3 < 0)
    pos = (d1 > 0) | (d2 > 0) | (d3 > 0)
    tile[~(neg & pos)] = color


def _item(
    tile: np.ndarray, code: int, cx: float, cy: float, scale: float = 1.0, onions: int = 0, tomatoes: int = 0
) -> None:
    r = TILE * 0.16 * scale
    if code == ONION:
        _circle(tile, cx, cy, r, COLORS["onion_dark"])
        _circle(tile, cx, cy, r * 0.8, COLORS["onion"])
    elif code == TOMATO:
        _circle(tile, cx, cy, r, COLORS["tomato"])
        _rect(tile, cx - 1, cy - r - 2, cx + 2, cy - r + 2, (40, 140, 40))
    elif code in (DISH, SOUP):
        _circle(tile, cx, cy, r * 1.35, COLORS["dish_rim"])
        _circle(tile, cx, cy, r * 1.15, COLORS["dish"])
        if code == SOUP:
            _circle(tile, cx, cy, r * 0.9, COLORS["soup"])
            _ingredient_dots(tile, cx, cy, r * 0.45, onions, tomatoes)


def _ingredient_dots(tile: np.ndarray, cx: float, cy: float, spread: float, onions: int, tomatoes: int) -> None:
    kinds = [ONION] * onions + [TOMATO] * tomatoes
    for k, kind in enumerate(kinds):
        angle = 2 * np.pi * k / max(len(kinds), 1) - np.pi / 2
        px, py = cx + spread * np.cos(angle), cy + spread * np.sin(angle)
        radius = max(2.0, TILE * 0.085)
        _circle(tile, px, py, radius + 1, (30, 30, 30))
        _circle(tile, px, py, radius, COLORS["onion" if kind == ONION else "tomato"])


def _terrain_tile(code: int) -> np.ndarray:
    tile = np.empty((TILE, TILE, 3), dtype=np.uint8)
    tile[:] = COLORS["floor"]
    if code == FLOOR:
        tile[-1, :] = COLORS["floor_line"]
        tile[:, -1] = COLORS["floor_line"]
        return tile
    tile[:] = COLORS["counter_edge"]
    _rect(tile, 2, 2, TILE - 2, TILE - 2, COLORS["counter"])
    c = TILE / 2
    if code == POT:
        _circle(tile, c, c, TILE * 0.40, COLORS["pot_rim"])
        _circle(tile, c, c, TILE * 0.34, COLORS["pot"])
        _rect(tile, 1, c - 3, 7, c + 3, COLORS["pot"])
        _rect(tile, TILE - 7, c - 3, TILE - 1, c + 3, COLORS["pot"])
    elif code in (ONION_DISPENSER, TOMATO_DISPENSER):
        _rect(tile, 5, 5, TILE - 5, TILE - 5, COLORS["counter_edge"])
        item = ONION if code == ONION_DISPENSER else TOMATO
        for dx, dy in ((-0.2, -0.15), (0.2, -0.15), (0.0, 0.18)):
            _item(tile, item, c + dx * TILE, c + dy * TILE, 0.9)
    elif code == DISH_DISPENSER:
        _rect(tile, 5, 5, TILE - 5, TILE - 5, COLORS["counter_edge"])
        for k in range(3):
            _item(tile, DISH, c, c + (k - 1) * 4, 1.0)
    elif code == SERVING:
        _rect(tile, 4, 4, TILE - 4, TILE - 4, COLORS["serving"])
        _triangle(tile, [(c - 8, c - 10), (c - 8, c + 10), (c + 10, c)], COLORS["serving_mark"])
    return tile


def render_rgb(layout: Layout, s: BatchState, i: int = 0) -> np.ndarray:
    """(H * TILE, W * TILE, 3) uint8 image of env ``i``."""
    h, w = layout.height, layout.width
    img = np.zeros((h * TILE, w * TILE, 3), dtype=np.uint8)
    tiles = {}
    for y in range(h):
        for x in range(w):
            code = int(layout.terrain[y, x])
            if code not in tiles:
                tiles[code] = _terrain_tile(code)
            tile = tiles[code].copy()
            obj = int(s.obj[i, y, x])
            c = TILE / 2
            if obj == SOUP and code == POT:
                on, to, tick = int(s.soup_onions[i, y, x]), int(s.soup_tomatoes[i, y, x]), int(s.soup_tick[i, y, x])
                cook_time = int(layout.recipe_time[min(on, 3), min(to, 3)])
                if tick >= 0:
                    _circle(tile, c, c, TILE * 0.30, COLORS["soup"])
                _ingredient_dots(tile, c, c, TILE * 0.16, on, to)
                if tick >= 0:  # cooking bar under the pot
                    frac = min(1.0, tick / max(cook_time, 1))
                    _rect(tile, 6, TILE - 9, TILE - 6, TILE - 4, COLORS["bar_bg"])
                    color = COLORS["ready"] if tick >= cook_time else COLORS["cooking"]
                    _rect(tile, 6, TILE - 9, 6 + frac * (TILE - 12), TILE - 4, color)
            elif obj != NOTHING:
                _item(tile, obj, c, c, 1.2, int(s.soup_onions[i, y, x]), int(s.soup_tomatoes[i, y, x]))
            img[y * TILE : (y + 1) * TILE, x * TILE : (x + 1) * TILE] = tile
    for p in range(2):
        x, y = int(s.pos[i, p, 0]), int(s.pos[i, p, 1])
        tile = img[y * TILE : (y + 1) * TILE, x * TILE : (x + 1) * TILE].copy()
        _chef(tile, p, int(s.ori[i, p]), int(s.held[i, p]), int(s.held_onions[i, p]), int(s.held_tomatoes[i, p]))
        img[y * TILE : (y + 1) * TILE, x * TILE : (x + 1) * TILE] = tile
    return img


def _chef(tile: np.ndarray, p: int, ori: int, held: int, onions: int, tomatoes: int) -> None:
    c = TILE / 2
    dx, dy = (int(v) for v in DIRECTIONS[ori])
    body = COLORS["chef0" if p == 0 else "chef1"]
    _circle(tile, c, c + 2, TILE * 0.30, body)
    # nose/triangle pointing where the chef faces
    tip = (c + dx * TILE * 0.45, c + 2 + dy * TILE * 0.45)
    px, py = -dy, dx
    base = [
        (c + dx * TILE * 0.2 + px * TILE * 0.14, c + 2 + dy * TILE * 0.2 + py * TILE * 0.14),
        (c + dx * TILE * 0.2 - px * TILE * 0.14, c + 2 + dy * TILE * 0.2 - py * TILE * 0.14),
    ]
    _triangle(tile, [tip, *base], COLORS["nose"])
    # chef's hat
    _rect(tile, c - 8, c - 16, c + 8, c - 8, COLORS["hat"])
    _circle(tile, c, c - 17, 7, COLORS["hat"])
    if held != NOTHING:
        _item(tile, held, c + dx * TILE * 0.28, c + 4 + dy * TILE * 0.28, 0.8, onions, tomatoes)


# ---- GIF ---------------------------------------------------------------------------------------------------
def save_gif(frames: Sequence[np.ndarray], path: str, fps: int = 5) -> str:
    """Write RGB frames to a GIF (via a temp file + rename, so a crash never leaves half a file)."""
    import imageio.v2 as imageio  # imageio: only when writing GIFs

    tmp = f"{path}.tmp.gif"
    imageio.mimsave(tmp, [np.asarray(f, dtype=np.uint8) for f in frames], duration=1.0 / fps, loop=0)
    os.replace(tmp, path)
    return path


def record_episode_gif(
    env,
    policy: Callable[[dict, str], int],
    path: str,
    max_steps: int | None = None,
    fps: int = 5,
    seed: int | None = None,
) -> str:
    """Play one episode of an ``OvercookedEnv`` with ``policy(obs_dict, agent) -> action`` and save a GIF."""
    obs, _ = env.reset(seed=seed)
    frames = [render_rgb(env.layout, env.batch_state, 0)]
    steps = 0
    while env.agents and (max_steps is None or steps < max_steps):
        obs, *_ = env.step({a: policy(obs, a) for a in env.agents})
        frames.append(render_rgb(env.layout, env.batch_state, 0))
        steps += 1
    return save_gif(frames, path, fps)

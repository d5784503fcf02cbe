"""Text and RGB pictures of a hide-and-seek state, and a GIF writer for one episode.

ANSI: two characters per cell. ``##`` wall, ``. `` floor, ``B``/``R`` box/ramp followed by
``h``/``s`` if locked by hiders/seekers (space if unlocked); agents are ``h``/``s`` (upper case
``H``/``S`` when standing on a ramp) followed by their facing ``^ v > <``.
RGB: walls dark grey, boxes brown, ramps orange (locked: a border in the locking team's colour),
hiders blue, seekers red, with a white dot on the side they face.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from diverse_marl.envs.hide_and_seek.config import BOX, DIRECTIONS, HIDERS, UNLOCKED

FACING_CHARS = "^v><"
CELL_PX = 16
COLORS = {
    "floor": (225, 225, 215),
    "wall": (60, 60, 60),
    "box": (150, 100, 50),
    "ramp": (240, 160, 40),
    "hider": (40, 90, 220),
    "seeker": (210, 40, 40),
    "eye": (255, 255, 255),
}
TEAM_COLORS = {0: COLORS["hider"], 1: COLORS["seeker"]}


def ansi(
    walls: np.ndarray,
    obj_pos: np.ndarray,
    obj_kind: np.ndarray,
    obj_lock: np.ndarray,
    agent_pos: np.ndarray,
    facing: np.ndarray,
    n_hiders: int,
) -> str:
    """Two characters per cell (legend in the module docstring)."""
    rows, cols = walls.shape
    grid = [["##" if walls[r, c] else ". " for c in range(cols)] for r in range(rows)]
    ramp_at = set()
    for (r, c), kind, lock in zip(obj_pos.tolist(), obj_kind.tolist(), obj_lock.tolist()):
        mark = " " if lock == UNLOCKED else "hs"[lock]
        grid[r][c] = ("B" if kind == BOX else "R") + mark
        if kind != BOX:
            ramp_at.add((r, c))
    for i, ((r, c), f) in enumerate(zip(agent_pos.tolist(), facing.tolist())):
        ch = "h" if i < n_hiders else "s"
        grid[r][c] = (ch.upper() if (r, c) in ramp_at else ch) + FACING_CHARS[f]
    return "\n".join("".join(row) for row in grid)


def rgb(
    walls: np.ndarray,
    obj_pos: np.ndarray,
    obj_kind: np.ndarray,
    obj_lock: np.ndarray,
    agent_pos: np.ndarray,
    facing: np.ndarray,
    n_hiders: int,
    cell_px: int = CELL_PX,
) -> np.ndarray:
    """An (rows*cell_px, cols*cell_px, 3) uint8 picture."""
    rows, cols = walls.shape
    img = np.empty((rows * cell_px, cols * cell_px, 3), dtype=np.uint8)
    img[:] = COLORS["floor"]
    p = cell_px

    def fill(r: int, c: int, color: tuple[int, int, int], margin: int = 0) -> None:
        img[r * p + margin : (r + 1) * p - margin, c * p + margin : (c + 1) * p - margin] = color

    for r, c in zip(*np.nonzero(walls)):
        fill(r, c, COLORS["wall"])
    for (r, c), kind, lock in zip(obj_pos.tolist(), obj_kind.tolist(), obj_lock.tolist()):
        if lock != UNLOCKED:
            fill(r, c, TEAM_COLORS[lock])
        fill(r, c, COLORS["box"] if kind == BOX else COLORS["ramp"], margin=2 if lock != UNLOCKED else 1)
    yy, xx = np.mgrid[0:p, 0:p]
    disc = (yy - (p - 1) / 2) ** 2 + (xx - (p - 1) / 2) ** 2 <= (p * 0.36) ** 2
    for i, ((r, c), f) in enumerate(zip(agent_pos.tolist(), facing.tolist())):
        cell = img[r * p : (r + 1) * p, c * p : (c + 1) * p]
        cell[disc] = TEAM_COLORS[HIDERS if i < n_hiders else 1]
        dr, dc = DIRECTIONS[f]
        er, ec = int((p - 1) / 2 + dr * p * 0.25), int((p - 1) / 2 + dc * p * 0.25)
        cell[max(er - 1, 0) : er + 2, max(ec - 1, 0) : ec + 2] = COLORS["eye"]
    return img


def write_gif(
    path: str,
    env: Any,
    policy: Callable[[dict[str, np.ndarray]], dict[str, int]] | None = None,
    seed: int | None = 0,
    fps: int = 6,
    max_steps: int | None = None,
) -> int:
    """Play one episode of ``env`` (made with ``render_mode="rgb_array"``) and write it as a GIF.

    ``policy(obs) -> actions`` picks the actions (uniformly random if None). Returns the frame count.
    """
    import imageio.v2 as imageio  # imageio: only when writing GIFs

    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    frames = [env.render()]
    steps = 0
    while env.agents and (max_steps is None or steps < max_steps):
        if policy is None:
            actions = {a: int(rng.integers(0, env.action_space(a).n)) for a in env.agents}
        else:
            actions = policy(obs)
        obs, *_ = env.step(actions)
        frames.append(env.render())
        steps += 1
    imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
    return len(frames)

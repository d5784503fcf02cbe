"""Hide-and-seek as text, for agents that read (LLM agents): one agent's view of one env.

Built on the ANSI map of ``render.ansi``, limited to what the agent sees right now (the same
radius, view cone and line of sight as its numeric observation; walls are known everywhere),
then spelled out: the agent's cell, facing and hold, the objects and agents in view with their
locks, the phase and time left, and the eight actions by name. Cells are (row, col), row 0 at
the top, north = up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diverse_marl.agents import TextObservation
from diverse_marl.envs.hide_and_seek.config import (
    ACTION_NAMES,
    BOX,
    DIRECTIONS,
    UNLOCKED,
    HideAndSeekConfig,
)
from diverse_marl.envs.hide_and_seek.geometry import between, in_view
from diverse_marl.envs.hide_and_seek.render import ansi
from diverse_marl.errors import ConfigError

FACING_NAMES = ("north", "south", "east", "west")
TEAM_NAMES = ("hiders", "seekers")
UNSEEN = "? "
ACTION_HELP = {
    "noop": "do nothing",
    "move_n": "move north (up); turns you north unless you hold an object",
    "move_s": "move south (down); turns you south unless you hold an object",
    "move_e": "move east (right); turns you east unless you hold an object",
    "move_w": "move west (left); turns you west unless you hold an object",
    "grab": "grab / release the unlocked object in front of you (a held object moves with you)",
    "lock": "lock the object in front of you (nobody can move it; only your team can unlock it)",
    "unlock": "unlock the object in front of you if your team locked it",
}
LEGEND = (
    "Map legend (two characters per cell): ## wall, '. ' floor, '? ' floor you cannot see now, "
    "B box, R ramp, followed by h/s if locked by hiders/seekers; agents are h (hider) or s (seeker), "
    "upper case on a ramp, followed by their facing ^ v > <."
)


def rules(cfg: HideAndSeekConfig) -> str:
    return (
        f"Hide-and-seek: {cfg.n_hiders} hiders against {cfg.n_seekers} seekers. During the preparation "
        f"phase (the first {cfg.prep_steps} steps) seekers are frozen. After it, every step each hider "
        "gets +1 if no hider is seen by any seeker, else -1; seekers get the opposite. Boxes block sight "
        "and can be pushed, grabbed and locked; ramps let an agent standing on one cross a wall."
    )


@dataclass
class Scene:
    """One env's state in plain (row, col) terms, from either env class."""

    walls: np.ndarray  # (rows, cols) bool
    obj_pos: np.ndarray  # (O, 2)
    obj_kind: np.ndarray  # (O,)
    obj_lock: np.ndarray  # (O,) UNLOCKED, HIDERS or SEEKERS
    pos: np.ndarray  # (A, 2)
    facing: np.ndarray  # (A,)
    holding: np.ndarray  # (A,) object index or -1
    t: int


def scene_of_env(env) -> Scene:
    """The scene of a ``HideAndSeekEnv``."""
    return Scene(
        np.asarray(env.walls, bool),
        np.array(env.obj_pos, dtype=np.int64).reshape(-1, 2),
        np.array(env.obj_kind, dtype=np.int64),
        np.array(env.obj_lock, dtype=np.int64),
        np.array(env.pos, dtype=np.int64),
        np.array(env.facing, dtype=np.int64),
        np.array(env.holding, dtype=np.int64),
        int(env.t),
    )


def scene_of_batched(env, i: int) -> Scene:
    """The scene of copy ``i`` of a ``HideAndSeekBatchedEnv`` (cells are stored flat there)."""
    cols, cells = env.cols, env.cells
    return Scene(
        env.walls[i * cells : (i + 1) * cells].reshape(env.rows, cols),
        np.stack(np.divmod(env.obj_pos[i], cols), 1),
        np.asarray(env.obj_kind),
        env.obj_lock[i].copy(),
        np.stack(np.divmod(env.pos[i], cols), 1),
        env.facing[i].copy(),
        env.holding[i].copy(),
        int(env.t[i]),
    )


def visible_cells(scene: Scene, cfg: HideAndSeekConfig, a: int) -> np.ndarray:
    """(rows, cols) bool: the cells agent ``a`` sees (radius, cone, no wall or box strictly between)."""
    rows, cols = scene.walls.shape
    blocks = scene.walls.copy()
    for (r, c), kind in zip(scene.obj_pos.tolist(), scene.obj_kind.tolist()):
        if kind == BOX:
            blocks[r, c] = True
    r0, c0 = (int(v) for v in scene.pos[a])
    seen = np.zeros((rows, cols), bool)
    radius = cfg.view_radius
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            r, c = r0 + dr, c0 + dc
            if not (0 <= r < rows and 0 <= c < cols):
                continue
            if in_view(dr, dc, int(scene.facing[a]), radius, cfg.cone_cos) and not any(
                blocks[r0 + br, c0 + bc] for br, bc in between(dr, dc)
            ):
                seen[r, c] = True
    return seen


def _map(scene: Scene, cfg: HideAndSeekConfig, seen: np.ndarray) -> str:
    full = ansi(scene.walls, scene.obj_pos, scene.obj_kind, scene.obj_lock, scene.pos, scene.facing, cfg.n_hiders)
    rows = full.split("\n")
    out = ["    " + "".join(f"{c % 10} " for c in range(scene.walls.shape[1]))]
    for r, line in enumerate(rows):
        cells = [line[k : k + 2] for k in range(0, len(line), 2)]
        cells = [cell if seen[r, c] or scene.walls[r, c] else UNSEEN for c, cell in enumerate(cells)]
        out.append(f"{r:>3} " + "".join(cells))
    return "\n".join(out)


def _object_words(scene: Scene, o: int, team: int) -> str:
    kind = "box" if scene.obj_kind[o] == BOX else "ramp"
    lock = int(scene.obj_lock[o])
    state = "unlocked" if lock == UNLOCKED else ("locked by your team" if lock == team else "locked by the other team")
    r, c = (int(v) for v in scene.obj_pos[o])
    return f"a {kind} at ({r}, {c}), {state}"


def describe(scene: Scene, cfg: HideAndSeekConfig, agents: list[str], a: int) -> str:
    """The text of ``scene`` for agent index ``a``."""
    team = cfg.team_of(a)
    seen = visible_cells(scene, cfg, a)
    r, c = (int(v) for v in scene.pos[a])
    lines = [
        f"You are {agents[a]} (team {TEAM_NAMES[team]}, the '{'hs'[team]}' at ({r}, {c}) on the map).",
        rules(cfg),
        "",
        "Your view (row numbers on the left, column numbers on top):",
        _map(scene, cfg, seen),
        LEGEND,
        "",
    ]
    held = int(scene.holding[a])
    dr, dc = DIRECTIONS[int(scene.facing[a])]
    front = (r + dr, c + dc)
    in_front = [o for o in range(len(scene.obj_kind)) if tuple(int(v) for v in scene.obj_pos[o]) == front]
    lines.append(
        f"You: at ({r}, {c}), facing {FACING_NAMES[int(scene.facing[a])]}, "
        + ("holding nothing" if held < 0 else "holding " + _object_words(scene, held, team))
        + (f", in front of you {_object_words(scene, in_front[0], team)}" if in_front else "")
        + "."
    )
    visible_objects = [o for o in range(len(scene.obj_kind)) if seen[tuple(int(v) for v in scene.obj_pos[o])]]
    lines.append(
        "Objects in view: " + ("; ".join(_object_words(scene, o, team) for o in visible_objects) or "none") + "."
    )
    others = [j for j in range(len(agents)) if j != a and seen[tuple(int(v) for v in scene.pos[j])]]
    lines.append(
        "Agents in view: "
        + (
            "; ".join(
                f"{agents[j]} ({'teammate' if cfg.team_of(j) == team else 'opponent'}) at "
                f"({int(scene.pos[j][0])}, {int(scene.pos[j][1])}), facing {FACING_NAMES[int(scene.facing[j])]}"
                for j in others
            )
            or "none"
        )
        + "."
    )
    prep_left = cfg.prep_steps - scene.t
    phase = f"preparation phase, {prep_left} steps until seekers may move" if prep_left > 0 else "seeking phase"
    lines.append(f"Time: step {scene.t} of {cfg.horizon} ({phase}), {cfg.horizon - scene.t} steps left.")
    lines.append("Actions: " + "; ".join(f"{name} ({ACTION_HELP[name]})" for name in ACTION_NAMES) + ".")
    return "\n".join(lines)


def text_observation(scene: Scene, cfg: HideAndSeekConfig, agents: list[str], agent: str) -> TextObservation:
    """The :class:`TextObservation` of ``agent`` (every action is always legal; some do nothing)."""
    if agent not in agents:
        raise ConfigError(f"unknown agent {agent!r}; allowed: {', '.join(agents)}")
    a = agents.index(agent)
    return TextObservation(
        agent=agent, text=describe(scene, cfg, agents, a), actions=ACTION_NAMES, step=scene.t, horizon=cfg.horizon
    )

"""Maps: the built-in scenarios and user maps written as text grids.

Text map symbols (one character per cell, every row the same length, border all ``#``)::

    #   wall                         .   floor
    B   box (starts here)            R   ramp (starts here)
    H   hider spawn cell             S   seeker spawn cell

If a map has ``H`` cells, hiders spawn on randomly chosen ``H`` cells (else on any free floor
cell); the same for ``S`` and seekers. ``B``/``R`` fix the objects; a map without them gets
``n_boxes``/``n_ramps`` objects on random ``.`` cells. Leading/trailing blank lines and the
indentation common to all lines are ignored. A malformed map raises a ``ConfigError`` naming the
row and column (counting from 0).

Scenarios:

* ``quadrant``: a room in the top-left quadrant with one doorway in each of its two walls
  (positions drawn from the seed). Hiders and boxes spawn inside the room, seekers and ramps
  outside (as in Baker et al.'s quadrant game).
* ``random_rooms``: rooms by recursive division (walls on even, doorways on odd coordinates,
  so a doorway is never blocked by a later wall); up to ``max_rooms`` rooms, all drawn from
  the seed; everything spawns on random free cells.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

from diverse_marl.envs.hide_and_seek.config import (
    BOX,
    DEFAULT_OBJECTS,
    DEFAULT_SIZE,
    RAMP,
    HideAndSeekConfig,
)
from diverse_marl.errors import ConfigError

SCENARIOS = ("quadrant", "random_rooms")
MAP_SYMBOLS = {"#": "wall", ".": "floor", "B": "box", "R": "ramp", "H": "hider spawn", "S": "seeker spawn"}
MIN_ROOM = 2  # random_rooms: at least this many floor rows/cols on each side of a dividing wall


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios (a text map is accepted too)."""
    return list(SCENARIOS)


@dataclass
class EpisodeInit:
    """Everything drawn at reset: the map and where everyone starts."""

    walls: np.ndarray  # (rows, cols) bool
    obj_pos: np.ndarray  # (n_objects, 2) int (row, col); boxes first, then ramps
    obj_kind: np.ndarray  # (n_objects,) int: BOX or RAMP
    agent_pos: np.ndarray  # (n_agents, 2) int; hiders first, then seekers
    facing: np.ndarray  # (n_agents,) int in 0..3


@dataclass
class TextMap:
    """A parsed user map."""

    walls: np.ndarray
    boxes: list[tuple[int, int]]
    ramps: list[tuple[int, int]]
    hider_cells: list[tuple[int, int]]
    seeker_cells: list[tuple[int, int]]
    floor: list[tuple[int, int]]  # '.' cells

    @property
    def shape(self) -> tuple[int, int]:
        return self.walls.shape  # type: ignore[return-value]


def parse_text_map(text: str) -> TextMap:
    """Parse a text grid (see module docstring); raise ConfigError naming row and column on errors."""
    lines = textwrap.dedent(text).split("\n")
    lines = [ln.rstrip() for ln in lines]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 3:
        raise ConfigError(f"text map has {len(lines)} rows; need at least 3 (walls around at least one floor row)")
    width = len(lines[0])
    allowed = ", ".join(f"'{k}' {v}" for k, v in MAP_SYMBOLS.items())
    walls = np.zeros((len(lines), width), dtype=bool)
    tm = TextMap(walls, [], [], [], [], [])
    for r, line in enumerate(lines):
        if len(line) != width:
            raise ConfigError(
                f"text map row {r} has {len(line)} columns but row 0 has {width} (counting rows from 0); "
                "all rows must have the same length"
            )
        for c, ch in enumerate(line):
            if ch not in MAP_SYMBOLS:
                raise ConfigError(f"text map row {r}, column {c}: unknown symbol {ch!r}; allowed: {allowed}")
            border = r in (0, len(lines) - 1) or c in (0, width - 1)
            if border and ch != "#":
                raise ConfigError(
                    f"text map row {r}, column {c}: border cell is {ch!r} but the map must be surrounded by walls '#'"
                )
            cell = (r, c)
            if ch == "#":
                walls[r, c] = True
            elif ch == "B":
                tm.boxes.append(cell)
            elif ch == "R":
                tm.ramps.append(cell)
            elif ch == "H":
                tm.hider_cells.append(cell)
            elif ch == "S":
                tm.seeker_cells.append(cell)
            else:
                tm.floor.append(cell)
    return tm


def _dims(cfg: HideAndSeekConfig) -> tuple[int, int]:
    if cfg.size is None:
        return DEFAULT_SIZE, DEFAULT_SIZE
    if isinstance(cfg.size, (tuple, list)):
        return int(cfg.size[0]), int(cfg.size[1])
    return int(cfg.size), int(cfg.size)


def _pick(rng: np.random.Generator, cells: list[tuple[int, int]], k: int, what: str) -> list[tuple[int, int]]:
    if k > len(cells):
        raise ConfigError(
            f"cannot place {what}: needs {k} free cells but only {len(cells)} are available; "
            "use a bigger size or fewer agents/objects"
        )
    idx = rng.choice(len(cells), size=k, replace=False) if k else []
    return [cells[int(i)] for i in idx]


def _outer_walls(rows: int, cols: int) -> np.ndarray:
    walls = np.zeros((rows, cols), dtype=bool)
    walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
    return walls


class MapSpec:
    """Turns a config into fresh ``EpisodeInit``s; all randomness comes from the given generator."""

    def __init__(self, cfg: HideAndSeekConfig) -> None:
        self.cfg = cfg
        self.text_map: TextMap | None = None
        if "\n" in cfg.scenario:
            self.text_map = parse_text_map(cfg.scenario)
            self.shape = self.text_map.shape
            if cfg.size is not None and _dims(cfg) != self.shape:
                raise ConfigError(
                    f"size={cfg.size!r} does not match the text map ({self.shape[0]}x{self.shape[1]}); "
                    "leave size unset for text maps"
                )
            self.n_boxes = self._object_count("n_boxes", cfg.n_boxes, len(self.text_map.boxes))
            self.n_ramps = self._object_count("n_ramps", cfg.n_ramps, len(self.text_map.ramps))
            for team, cells, n in (
                ("hider", self.text_map.hider_cells, cfg.n_hiders),
                ("seeker", self.text_map.seeker_cells, cfg.n_seekers),
            ):
                if cells and len(cells) < n:
                    raise ConfigError(f"text map has {len(cells)} {team} spawn cells but {n} {team}s were asked for")
        elif cfg.scenario in SCENARIOS:
            self.shape = _dims(cfg)
            boxes, ramps = DEFAULT_OBJECTS[cfg.scenario]
            self.n_boxes = boxes if cfg.n_boxes is None else cfg.n_boxes
            self.n_ramps = ramps if cfg.n_ramps is None else cfg.n_ramps
        else:
            raise ConfigError(
                f"unknown scenario {cfg.scenario!r}; allowed: {', '.join(SCENARIOS)} "
                "or a text map (a string with newlines)"
            )
        self.obj_kind = np.array([BOX] * self.n_boxes + [RAMP] * self.n_ramps, dtype=np.int64)
        # fail early (at construction, not at the first reset) if things cannot be placed
        self.sample(np.random.default_rng(0))

    @staticmethod
    def _object_count(name: str, asked: int | None, on_map: int) -> int:
        if asked is None or on_map == 0:
            return on_map if asked is None else asked
        if asked != on_map:
            raise ConfigError(
                f"{name}={asked} but the text map places {on_map}; leave {name} unset or remove "
                "the symbols from the map"
            )
        return on_map

    # ---- sampling --------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> EpisodeInit:
        cfg = self.cfg
        if self.text_map is not None:
            walls, obj, agents = self._sample_text(rng)
        elif cfg.scenario == "quadrant":
            walls, obj, agents = self._sample_quadrant(rng)
        else:
            walls, obj, agents = self._sample_random_rooms(rng)
        facing = rng.integers(0, 4, size=cfg.n_agents)
        return EpisodeInit(
            walls,
            np.array(obj, dtype=np.int64).reshape(-1, 2),
            self.obj_kind.copy(),
            np.array(agents, dtype=np.int64).reshape(-1, 2),
            facing.astype(np.int64),
        )

    def _sample_text(self, rng: np.random.Generator):
        cfg, tm = self.cfg, self.text_map
        assert tm is not None
        walls = tm.walls.copy()
        boxes = list(tm.boxes) if tm.boxes else []
        ramps = list(tm.ramps) if tm.ramps else []
        free = list(tm.floor)
        if not tm.boxes and self.n_boxes:
            boxes = _pick(rng, free, self.n_boxes, f"{self.n_boxes} boxes")
            free = [c for c in free if c not in boxes]
        if not tm.ramps and self.n_ramps:
            ramps = _pick(rng, free, self.n_ramps, f"{self.n_ramps} ramps")
        objects = set(boxes) | set(ramps)
        any_floor = [c for c in sorted(tm.floor + tm.hider_cells + tm.seeker_cells) if c not in objects]
        hiders = _pick(rng, tm.hider_cells or any_floor, cfg.n_hiders, f"{cfg.n_hiders} hiders")
        rest = [c for c in (tm.seeker_cells or any_floor) if c not in hiders]
        seekers = _pick(rng, rest, cfg.n_seekers, f"{cfg.n_seekers} seekers")
        return walls, boxes + ramps, hiders + seekers

    def _sample_quadrant(self, rng: np.random.Generator):
        cfg = self.cfg
        rows, cols = self.shape
        walls = _outer_walls(rows, cols)
        wall_row, wall_col = rows // 2, cols // 2
        walls[wall_row, 1 : wall_col + 1] = True
        walls[1 : wall_row + 1, wall_col] = True
        door_col = int(rng.integers(1, wall_col))
        door_row = int(rng.integers(1, wall_row))
        walls[wall_row, door_col] = False
        walls[door_row, wall_col] = False
        room = [(r, c) for r in range(1, wall_row) for c in range(1, wall_col)]
        room_set = set(room)
        doors = {(wall_row, door_col), (door_row, wall_col)}
        outside = [
            (r, c)
            for r in range(1, rows - 1)
            for c in range(1, cols - 1)
            if not walls[r, c] and (r, c) not in room_set and (r, c) not in doors
        ]
        inside = _pick(rng, room, cfg.n_hiders + self.n_boxes, "hiders and boxes inside the quadrant room")
        out = _pick(rng, outside, cfg.n_seekers + self.n_ramps, "seekers and ramps outside the room")
        hiders, boxes = inside[: cfg.n_hiders], inside[cfg.n_hiders :]
        seekers, ramps = out[: cfg.n_seekers], out[cfg.n_seekers :]
        return walls, boxes + ramps, hiders + seekers

    def _sample_random_rooms(self, rng: np.random.Generator):
        cfg = self.cfg
        rows, cols = self.shape
        walls = _outer_walls(rows, cols)
        regions = [(1, rows - 2, 1, cols - 2)]  # inclusive floor bounds (r0, r1, c0, c1)
        n_rooms = 1
        while n_rooms < cfg.max_rooms:
            splittable = [reg for reg in regions if _split_positions(reg, 0) or _split_positions(reg, 1)]
            if not splittable:
                break
            reg = max(splittable, key=lambda g: (g[1] - g[0] + 1) * (g[3] - g[2] + 1))
            regions.remove(reg)
            r0, r1, c0, c1 = reg
            h_pos, v_pos = _split_positions(reg, 0), _split_positions(reg, 1)
            height, width = r1 - r0 + 1, c1 - c0 + 1
            if h_pos and v_pos:
                horizontal = height > width if height != width else bool(rng.integers(0, 2))
            else:
                horizontal = bool(h_pos)
            if horizontal:
                w = h_pos[int(rng.integers(0, len(h_pos)))]
                doors = list(range(c0, c1 + 1, 2))
                door = doors[int(rng.integers(0, len(doors)))]
                walls[w, c0 : c1 + 1] = True
                walls[w, door] = False
                regions += [(r0, w - 1, c0, c1), (w + 1, r1, c0, c1)]
            else:
                w = v_pos[int(rng.integers(0, len(v_pos)))]
                doors = list(range(r0, r1 + 1, 2))
                door = doors[int(rng.integers(0, len(doors)))]
                walls[r0 : r1 + 1, w] = True
                walls[door, w] = False
                regions += [(r0, r1, c0, w - 1), (r0, r1, w + 1, c1)]
            n_rooms += 1
        floor = [(r, c) for r in range(rows) for c in range(cols) if not walls[r, c]]
        n_a = cfg.n_agents
        cells = _pick(rng, floor, n_a + self.n_boxes + self.n_ramps, "agents and objects")
        return walls, cells[n_a:], cells[:n_a]


def _split_positions(region: tuple[int, int, int, int], axis: int) -> list[int]:
    """Even wall coordinates that leave MIN_ROOM floor cells on both sides (axis 0: a horizontal wall)."""
    lo, hi = (region[0], region[1]) if axis == 0 else (region[2], region[3])
    return [w for w in range(lo + MIN_ROOM, hi - MIN_ROOM + 1) if w % 2 == 0]

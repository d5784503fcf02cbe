"""Rules constants and the validated options shared by the single and the batched env.

Both implementations read the same ``HideAndSeekConfig`` so that "same options" means
"same game"; all user input is checked here once, with one clear ``ConfigError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diverse_marl.errors import ConfigError

# ---- actions (Discrete(8)) -------------------------------------------------------------
NOOP, MOVE_N, MOVE_S, MOVE_E, MOVE_W, GRAB, LOCK, UNLOCK = range(8)
N_ACTIONS = 8
ACTION_NAMES = ("noop", "move_n", "move_s", "move_e", "move_w", "grab", "lock", "unlock")

# ---- directions: index = facing; (d_row, d_col); north is row - 1 -------------------------
DIRECTIONS = ((-1, 0), (1, 0), (0, 1), (0, -1))  # N, S, E, W  (move action a -> direction a - 1)
DIRECTION_NAMES = ("N", "S", "E", "W")

# ---- teams and object kinds --------------------------------------------------------------
HIDERS, SEEKERS = 0, 1
UNLOCKED = -1
BOX, RAMP = 0, 1

# default scenario parameters
DEFAULT_SIZE = 16
DEFAULT_OBJECTS = {"quadrant": (2, 1), "random_rooms": (2, 1)}  # (boxes, ramps)
MIN_SIZE = 7

# ---- observation layout ------------------------------------------------------------------
# egocentric window channels (all masked by visibility except VISIBLE itself)
OBS_CHANNELS = ("visible", "wall", "box", "ramp", "lock_own", "lock_other", "teammate", "opponent")
# own features appended after the window
OWN_FEATURES = ("row", "col", "face_n", "face_s", "face_e", "face_w", "holding", "prep", "time", "is_seeker")
# global state grid channels
STATE_CHANNELS = ("wall", "box", "ramp", "lock_hiders", "lock_seekers", "hider", "seeker", "self")
AGENT_STATE_FEATURES = ("row", "col", "face_n", "face_s", "face_e", "face_w", "holding")

# ---- per-episode behaviour statistics (exact definitions in README.md) --------------------
STAT_KEYS = (
    "box_moves_prep",
    "box_moves_after",
    "ramp_moves_prep",
    "ramp_moves_after",
    "box_displacement_prep",
    "box_displacement_after",
    "ramp_displacement_prep",
    "ramp_displacement_after",
    "locks_hiders_prep",
    "locks_hiders_after",
    "locks_seekers_prep",
    "locks_seekers_after",
    "unlocks_hiders",
    "unlocks_seekers",
    "ramp_crossings_hiders",
    "ramp_crossings_seekers",
    "seen_steps",
    "hidden_steps",
    "hidden_fraction",
    "boxes_locked_hiders_end",
    "ramps_locked_hiders_end",
    "boxes_locked_seekers_end",
    "ramps_locked_seekers_end",
    "hiders_enclosed_prep_end",
    "hiders_enclosed_end",
    "return_hiders",
    "return_seekers",
    "length",
)
STAT_INDEX = {k: i for i, k in enumerate(STAT_KEYS)}
# counters that are running totals during the episode (reported per step)
RUNNING_KEYS = (
    "box_moves_prep",
    "box_moves_after",
    "ramp_moves_prep",
    "ramp_moves_after",
    "locks_hiders_prep",
    "locks_hiders_after",
    "locks_seekers_prep",
    "locks_seekers_after",
    "unlocks_hiders",
    "unlocks_seekers",
    "ramp_crossings_hiders",
    "ramp_crossings_seekers",
    "seen_steps",
    "hidden_steps",
    "return_hiders",
    "return_seekers",
    "length",
)

# ---- reward features (per agent and step; README.md "Reward features") ---------------------
# Object events of the step (the same for every agent; team names in the key, not "own"/"other").
EVENT_FEATURES = RUNNING_KEYS[: RUNNING_KEYS.index("seen_steps")]
# Outcome of the step: win/lose from the agent's team's view (its reward is win - lose),
# hidden/seen (post-prep, no hider seen / some hider seen) and prep (the step was in preparation).
OUTCOME_FEATURES = ("win", "lose", "hidden", "seen", "prep")
FEATURE_NAMES = (*OUTCOME_FEATURES, *EVENT_FEATURES)


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):  # int or numpy integer
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    value = int(value)  # type: ignore[arg-type]
    if value < lo or (hi is not None and value > hi):
        allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ConfigError(f"{name}={value} is out of range; allowed: {allowed}")
    return value


@dataclass(frozen=True)
class HideAndSeekConfig:
    """All options of the game. ``scenario`` is ``quadrant``, ``random_rooms`` or a text map."""

    scenario: str = "quadrant"
    n_hiders: int = 2
    n_seekers: int = 2
    size: int | tuple[int, int] | None = None
    n_boxes: int | None = None
    n_ramps: int | None = None
    horizon: int = 100
    prep_fraction: float = 0.4
    view_radius: int = 5
    view_cone: float = 135.0
    allow_grab: bool = True
    max_rooms: int = 4

    def __post_init__(self) -> None:
        _check_int("n_hiders", self.n_hiders, 1, 16)
        _check_int("n_seekers", self.n_seekers, 1, 16)
        _check_int("horizon", self.horizon, 1)
        _check_int("view_radius", self.view_radius, 1, 32)
        _check_int("max_rooms", self.max_rooms, 1, 64)
        if self.n_boxes is not None:
            _check_int("n_boxes", self.n_boxes, 0, 64)
        if self.n_ramps is not None:
            _check_int("n_ramps", self.n_ramps, 0, 64)
        if not isinstance(self.prep_fraction, (int, float)) or not 0.0 <= float(self.prep_fraction) < 1.0:
            raise ConfigError(f"prep_fraction={self.prep_fraction!r} is out of range; allowed: 0 <= x < 1")
        if not isinstance(self.view_cone, (int, float)) or not 0.0 < float(self.view_cone) <= 360.0:
            raise ConfigError(f"view_cone={self.view_cone!r} degrees is out of range; allowed: 0 < x <= 360")
        if not isinstance(self.scenario, str):
            raise ConfigError(f"scenario must be a string (a scenario name or a text map), got {self.scenario!r}")
        if self.size is not None:
            dims = (self.size, self.size) if not isinstance(self.size, (tuple, list)) else tuple(self.size)
            if len(dims) != 2:
                raise ConfigError(f"size={self.size!r} must be an int or (rows, cols)")
            for d in dims:
                _check_int("size", d, MIN_SIZE, 128)

    @property
    def prep_steps(self) -> int:
        """Number of preparation steps (seekers frozen, rewards 0)."""
        return int(round(self.prep_fraction * self.horizon))

    @property
    def agents(self) -> list[str]:
        return [f"hider_{i}" for i in range(self.n_hiders)] + [f"seeker_{i}" for i in range(self.n_seekers)]

    @property
    def n_agents(self) -> int:
        return self.n_hiders + self.n_seekers

    @property
    def cone_cos(self) -> float:
        """Cosine of the half cone angle; a cell is in view if cos(angle to facing) >= this."""
        return math.cos(math.radians(float(self.view_cone) / 2.0))

    @property
    def window(self) -> int:
        return 2 * self.view_radius + 1

    @property
    def obs_size(self) -> int:
        return len(OBS_CHANNELS) * self.window**2 + len(OWN_FEATURES)

    def state_size(self, rows: int, cols: int) -> int:
        return len(STATE_CHANNELS) * rows * cols + self.n_agents * len(AGENT_STATE_FEATURES) + 2 + self.n_agents + 2

    def team_of(self, agent_index: int) -> int:
        return HIDERS if agent_index < self.n_hiders else SEEKERS


def check_action(agent: str, action: object) -> int:
    """Return the action as int or raise a ConfigError naming the agent and the allowed range."""
    try:
        a = int(action)  # type: ignore[arg-type]
        valid = not isinstance(action, (str, bytes, bool)) and float(action) == a  # type: ignore[arg-type]
    except (TypeError, ValueError):
        valid = False
    if not valid or not 0 <= a < N_ACTIONS:
        raise ConfigError(
            f"illegal action {action!r} for agent {agent!r}; allowed: integers 0..{N_ACTIONS - 1} "
            f"({', '.join(f'{i}={n}' for i, n in enumerate(ACTION_NAMES))})"
        )
    return a

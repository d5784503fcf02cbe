"""Scripted Overcooked roles with the :class:`~diverse_marl.agents.Agent` interface: populations of known behaviour.

Three cooks built on the goal-directed :class:`~diverse_marl.envs.overcooked.scripted.ScriptedCook`:

- ``potter``: only fetches onions (or tomatoes), fills pots and starts them;
- ``server``: only fetches dishes, plates cooked soups and delivers them;
- ``all_rounder``: does both (the plain ScriptedCook).

A potter with a server delivers soups; two potters or two servers never do, which is what makes
them a test bed for clustering and cross-play. ``potter_server`` / ``server_potter`` are such teams
as one population member (a job per seat: agent_0 pots and agent_1 serves, or the reverse), the
known answer for role descriptors ("agent_0 pots every onion, agent_1 delivers every soup").
With probability ``epsilon`` a cook acts at random (noise: several seeds of one role are similar,
not identical).

The cooks read the whole kitchen: they act on overcooked_ai's lossless grid encoding, which is
the env's agent-specific global state (``env.state(agent)``) and also its observation with
``obs: lossless``. They set ``view = "state"``, so evaluation, cross-play and analysis rollouts
hand them the state whatever the observation type; as training partners (``partners:``) use an
env with ``obs: lossless``. As import paths they are population members and seat fillers::

    diverse-marl eval RUN_DIR --seat agent_1=diverse_marl.envs.overcooked.roles:server
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from diverse_marl.agents import STATE_VIEW, batch_rows
from diverse_marl.envs.overcooked.core import DISH, NUM_PLAYERS, ONION, SOUP, TOMATO, BatchState
from diverse_marl.envs.overcooked.features import NUM_LOSSLESS_CHANNELS
from diverse_marl.envs.overcooked.layouts import COUNTER, POT, Layout, get_layout
from diverse_marl.envs.overcooked.scripted import ScriptedCook
from diverse_marl.errors import ConfigError

ROLES: dict[str, tuple[str, ...]] = {"potter": ("pot",), "server": ("serve",), "all_rounder": ("pot", "serve")}
DEFAULT_EPSILON = 0.1
# lossless channels (overcooked_ai's LAYERS order; features.py writes them)
_ME, _OTHER, _ME_ORI, _OTHER_ORI = 0, 1, 2, 6
_ON_POT, _TOM_POT, _ON_SOUP, _TOM_SOUP, _COOK, _DONE, _DISH, _ONION, _TOMATO = range(16, 25)
_ITEM_CHANNELS = ((_ONION, ONION), (_TOMATO, TOMATO), (_DISH, DISH))


def decode_lossless(grids: np.ndarray, layout: Layout | str) -> BatchState:
    """Kitchens from lossless encodings (B, W, H, 26) or flat (B, W*H*26), seen by the viewer.

    Player 0 of the result is the viewer, player 1 the other cook. Everything a cook decides on
    is recovered (positions, orientations, held items, pot and counter contents, cooking ticks);
    the timestep is not (the encoding only has the urgency flag) and is left at 0.
    """
    layout = get_layout(layout)
    w, h = layout.width, layout.height
    grids = np.asarray(grids)
    try:
        g = grids.reshape(-1, w, h, NUM_LOSSLESS_CHANNELS)
    except ValueError:
        raise ConfigError(
            f"expected lossless Overcooked grids of {w}x{h}x{NUM_LOSSLESS_CHANNELS} for layout "
            f"{layout.name!r}, got shape {grids.shape}; scripted roles read the env's global state "
            "(or env_config.obs: lossless)"
        ) from None
    n = g.shape[0]
    s = BatchState.initial(layout, n)
    gi = np.rint(g).astype(np.int64)
    for p, (loc, ori) in enumerate(((_ME, _ME_ORI), (_OTHER, _OTHER_ORI))):
        r, x, y = np.nonzero(gi[..., loc])
        s.pos[r, p, 0], s.pos[r, p, 1] = x, y
        s.ori[r, p] = np.argmax(gi[r, x, y, ori : ori + 4], axis=-1)
    terrain = np.asarray(layout.terrain)
    rows = np.arange(n)
    for p in range(NUM_PLAYERS):  # held items sit on the holder's (floor) cell
        x, y = s.pos[:, p, 0], s.pos[:, p, 1]
        cell = gi[rows, x, y]
        for channel, code in _ITEM_CHANNELS:
            s.held[cell[:, channel] > 0, p] = code
        soup = cell[:, _DONE] > 0
        s.held[soup, p] = SOUP
        s.held_onions[soup, p], s.held_tomatoes[soup, p] = cell[soup, _ON_SOUP], cell[soup, _TOM_SOUP]
        s.held_tick[soup, p] = layout.recipe_time[cell[soup, _ON_SOUP], cell[soup, _TOM_SOUP]]
    on_grid = np.isin(terrain, (COUNTER, POT)).T  # (W, H)
    for channel, code in _ITEM_CHANNELS:
        r, x, y = np.nonzero((gi[..., channel] > 0) & on_grid)
        s.obj[r, y, x] = code
    idle = gi[..., _ON_POT] + gi[..., _TOM_POT]
    cooking = gi[..., _ON_SOUP] + gi[..., _TOM_SOUP]
    r, x, y = np.nonzero(((idle > 0) | (cooking > 0)) & on_grid)
    in_pot = terrain[y, x] == POT
    started = (cooking[r, x, y] > 0) & in_pot
    on = np.where(started | ~in_pot, gi[r, x, y, _ON_SOUP], gi[r, x, y, _ON_POT])
    to = np.where(started | ~in_pot, gi[r, x, y, _TOM_SOUP], gi[r, x, y, _TOM_POT])
    cook = layout.recipe_time[on, to]
    tick = np.where(gi[r, x, y, _DONE] > 0, cook, cook - gi[r, x, y, _COOK])
    s.obj[r, y, x] = SOUP
    s.soup_onions[r, y, x], s.soup_tomatoes[r, y, x] = on, to
    s.soup_tick[r, y, x] = np.where(started | ~in_pot, tick, -1)
    return s


class RoleAgent:
    """A scripted cook with one role (``ROLES``); an Agent and a BatchedAgent on lossless grids."""

    view = STATE_VIEW

    def __init__(
        self,
        role: str,
        layout: Layout | str = "cramped_room",
        epsilon: float = DEFAULT_EPSILON,
        seed: int | None = None,
        old_dynamics: bool = False,
    ) -> None:
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ConfigError(f"epsilon must be a probability in [0, 1], got {epsilon!r}")
        self.role, self.layout, self.seed = role, get_layout(layout), 0 if seed is None else int(seed)
        # the viewer is always player 0 of a decoded kitchen
        self.cook = ScriptedCook(self.layout, 0, old_dynamics, float(epsilon), seed, tasks=ROLES[role])

    def reset(self, seed: int | None = None) -> None:
        """Reseed from the episode seed *and* the agent's own seed: copies of a role seeded apart stay apart."""
        if seed is not None:
            self.cook.rng = np.random.default_rng([int(seed), self.seed])

    def act(self, obs: Any) -> int:
        return int(self.act_batch(np.asarray(obs)[None])[0])

    def act_batch(self, obs: Any) -> np.ndarray:
        state = decode_lossless(obs, self.layout)
        return np.array([self.cook.act(state, i) for i in range(batch_rows(obs))], dtype=np.int64)

    def __repr__(self) -> str:
        return f"RoleAgent({self.role!r}, layout={self.layout.name!r}, epsilon={self.cook.epsilon})"


def make_role(
    role: str, env_config: Mapping[str, Any] | None = None, seed: int | None = None, epsilon: float = DEFAULT_EPSILON
) -> RoleAgent:
    """A role for the kitchen of ``env_config`` (its ``layout`` and ``old_dynamics``)."""
    config = dict(env_config or {})
    return RoleAgent(role, config.get("layout", "cramped_room"), epsilon, seed, bool(config.get("old_dynamics", False)))


def potter(env_config: Mapping[str, Any] | None = None, seed: int | None = None) -> RoleAgent:
    """Factory (``diverse_marl.envs.overcooked.roles:potter``): fills and starts pots only."""
    return make_role("potter", env_config, seed)


def server(env_config: Mapping[str, Any] | None = None, seed: int | None = None) -> RoleAgent:
    """Factory (``...roles:server``): plates and delivers soups only."""
    return make_role("server", env_config, seed)


def all_rounder(env_config: Mapping[str, Any] | None = None, seed: int | None = None) -> RoleAgent:
    """Factory (``...roles:all_rounder``): does every job."""
    return make_role("all_rounder", env_config, seed)


TEAMS: dict[str, tuple[str, str]] = {"potter_server": ("potter", "server"), "server_potter": ("server", "potter")}


def make_team_seat(
    team: str, seat: str, env_config: Mapping[str, Any] | None = None, seed: int | None = None
) -> RoleAgent:
    """The cook of ``seat`` (``agent_0`` / ``agent_1``) in a team of ``TEAMS``."""
    if team not in TEAMS:
        raise ConfigError(f"unknown team {team!r}; allowed: {', '.join(TEAMS)}")
    index = {"agent_0": 0, "agent_1": 1}.get(seat)
    if index is None:
        raise ConfigError(f"team {team!r} has seats agent_0 and agent_1, not {seat!r}")
    return make_role(TEAMS[team][index], env_config, seed)


def potter_server(seat: str, env_config: Mapping[str, Any] | None = None, seed: int | None = None) -> RoleAgent:
    """Factory (``...roles:potter_server``), one member in both seats: agent_0 pots, agent_1 serves."""
    return make_team_seat("potter_server", seat, env_config, seed)


def server_potter(seat: str, env_config: Mapping[str, Any] | None = None, seed: int | None = None) -> RoleAgent:
    """Factory (``...roles:server_potter``): agent_0 serves, agent_1 pots."""
    return make_team_seat("server_potter", seat, env_config, seed)

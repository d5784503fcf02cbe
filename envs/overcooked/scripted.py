"""A scripted, goal-directed Overcooked cook: fetch onions, fill pots, start them, serve and deliver.

Used to drive play that reaches cooking and delivery (differential tests, benchmarks, sanity checks of
training). It works on any layout, including split kitchens (forced_coordination): items needed on the
other side are put on a counter both cooks can reach. With probability ``epsilon`` it acts randomly,
which also breaks deadlocks in corridors. ``tasks`` restricts which jobs it starts with empty hands
(``"pot"``: fetch ingredients, fill and start pots; ``"serve"``: fetch dishes, plate and deliver soups);
scripted roles (``roles.py``) are cooks with one of the two.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from diverse_marl.envs.overcooked.core import (
    ACTION_INTERACT,
    ACTION_STAY,
    DIRECTIONS,
    DISH,
    NOTHING,
    NUM_ACTIONS,
    ONION,
    SOUP,
    TOMATO,
    BatchState,
)
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
from diverse_marl.errors import ConfigError

UNREACHABLE = 10**6
TASKS = ("pot", "serve")


class ScriptedCook:
    """Greedy cook for player ``p``; ``act(state, i)`` returns an action for env ``i`` of a BatchState."""

    def __init__(
        self,
        layout: Layout,
        player: int,
        old_dynamics: bool = False,
        epsilon: float = 0.1,
        seed: int | None = None,
        tasks: tuple[str, ...] = TASKS,
    ):
        unknown = sorted(set(tasks) - set(TASKS))
        if unknown or not tasks:
            raise ConfigError(f"unknown scripted cook tasks {unknown or list(tasks)}; allowed: {', '.join(TASKS)}")
        self.layout, self.p, self.old_dynamics, self.epsilon = layout, player, old_dynamics, epsilon
        self.pots, self.serves = "pot" in tasks, "serve" in tasks
        self.rng = np.random.default_rng(seed)
        h, w = layout.height, layout.width
        self.h, self.w = h, w
        terr = layout.terrain
        self.floor = [(x, y) for y in range(h) for x in range(w) if terr[y, x] == FLOOR]
        self.index = {c: k for k, c in enumerate(self.floor)}
        # all-pairs walking distances between floor cells (other cooks ignored)
        n = len(self.floor)
        self.dist = np.full((n, n), UNREACHABLE, dtype=np.int64)
        for k, start in enumerate(self.floor):
            self.dist[k, k] = 0
            queue = deque([start])
            while queue:
                x, y = queue.popleft()
                for dx, dy in DIRECTIONS.tolist():
                    nb = (x + dx, y + dy)
                    j = self.index.get(nb)
                    if j is not None and self.dist[k, j] == UNREACHABLE:
                        self.dist[k, j] = self.dist[k, self.index[(x, y)]] + 1
                        queue.append(nb)
        # stand spots of every non-floor cell: (floor cell index, direction to face)
        self.stands: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for y in range(h):
            for x in range(w):
                if terr[y, x] == FLOOR:
                    continue
                spots = []
                for d, (dx, dy) in enumerate(DIRECTIONS.tolist()):
                    j = self.index.get((x - dx, y - dy))
                    if j is not None:
                        spots.append((j, d))
                self.stands[(x, y)] = spots
        # static lookups: closest stand spot of every cell from every floor cell, hand-over counters
        self.cost_table = [{c: self._closest_stand(k, c) for c in self.stands} for k in range(n)]
        self.handoff_static = [
            [
                c
                for c in map(tuple, layout.counter_positions.tolist())
                if self.cost_table[k][c][0] < UNREACHABLE
                and any(self.dist[k, j] >= UNREACHABLE for j, _ in self.stands[c])
            ]
            for k in range(n)
        ]
        self.cells = {
            code: [tuple(c) for c in np.argwhere(terr == code)[:, ::-1].tolist()]
            for code in (COUNTER, POT, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, SERVING)
        }

    # -- geometry ------------------------------------------------------------------------------------
    def _cost(self, me: int, cell: tuple[int, int]) -> tuple[int, int, int]:
        """(distance, stand cell index, facing) of the closest stand spot of ``cell``."""
        return self.cost_table[me][cell]

    def _closest_stand(self, me: int, cell: tuple[int, int]) -> tuple[int, int, int]:
        best = (UNREACHABLE, -1, -1)
        for j, d in self.stands.get(cell, ()):
            c = int(self.dist[me, j])
            if c < best[0]:
                best = (c, j, d)
        return best

    def _reachable(self, me: int, cells) -> list[tuple[int, int]]:
        return [c for c in cells if self._cost(me, c)[0] < UNREACHABLE]

    def _go(self, me: int, other: int, ori: int, cells) -> int | None:
        """Action moving towards / interacting with the closest of ``cells``; None if none is reachable."""
        options = [(self._cost(me, c), c) for c in cells]
        options = [o for o in options if o[0][0] < UNREACHABLE]
        if not options:
            return None
        (dist, j, d), _ = min(options)
        if dist == 0:
            return ACTION_INTERACT if ori == d else d
        dist_to_goal = self.dist[:, j]
        step = self._first_step(me, dist_to_goal, other)
        if step is None:  # the other cook blocks every shortest path: walk around it if possible
            dist_to_goal = self._distances_avoiding(j, other)
            step = self._first_step(me, dist_to_goal, other)
        return step if step is not None else int(self.rng.integers(4))

    def _first_step(self, me: int, dist_to_goal: np.ndarray, other: int) -> int | None:
        x, y = self.floor[me]
        for a, (dx, dy) in enumerate(DIRECTIONS.tolist()):
            k = self.index.get((x + dx, y + dy))
            if k is not None and k != other and dist_to_goal[k] == dist_to_goal[me] - 1:
                return a
        return None

    def _distances_avoiding(self, goal: int, blocked: int) -> np.ndarray:
        dist = np.full(len(self.floor), UNREACHABLE, dtype=np.int64)
        if goal == blocked:
            return dist
        dist[goal] = 0
        queue = deque([goal])
        while queue:
            k = queue.popleft()
            x, y = self.floor[k]
            for dx, dy in DIRECTIONS.tolist():
                j = self.index.get((x + dx, y + dy))
                if j is not None and j != blocked and dist[j] == UNREACHABLE:
                    dist[j] = dist[k] + 1
                    queue.append(j)
        return dist

    # -- policy --------------------------------------------------------------------------------------
    def act(self, s: BatchState, i: int = 0) -> int:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(NUM_ACTIONS))
        p, q = self.p, 1 - self.p
        me = self.index[tuple(int(v) for v in s.pos[i, p])]
        other = self.index[tuple(int(v) for v in s.pos[i, q])]
        ori = int(s.ori[i, p])
        held = int(s.held[i, p])
        obj = s.obj[i]
        L = self.layout
        pots = self.cells[POT]

        def pot_info(c):
            x, y = c
            if obj[y, x] != SOUP:
                return 0, -1, False
            n = int(s.soup_onions[i, y, x] + s.soup_tomatoes[i, y, x])
            tick = int(s.soup_tick[i, y, x])
            ready = tick >= 0 and tick >= L.recipe_time[s.soup_onions[i, y, x], s.soup_tomatoes[i, y, x]]
            return n, tick, ready

        info = {c: pot_info(c) for c in pots}
        started = [c for c in pots if info[c][1] >= 0]
        ready = [c for c in pots if info[c][2]]
        fillable = [c for c in pots if info[c][1] < 0 and info[c][0] < 3]
        counters_with = lambda code: [c for c in self.cells[COUNTER] if obj[c[1], c[0]] == code]  # noqa: E731
        # counters next to floor we cannot reach: hand-over points to the other side of the kitchen
        handoff = [c for c in self.handoff_static[me] if obj[c[1], c[0]] == NOTHING]

        def go(*cell_lists):
            for cells in cell_lists:
                a = self._go(me, other, ori, cells)
                if a is not None:
                    return a
            return None

        action = None
        if (held == DISH and not self.serves) or (held in (ONION, TOMATO) and not self.pots):
            action = go([c for c in self.cells[COUNTER] if obj[c[1], c[0]] == NOTHING])  # not our job: put it down
        elif held == SOUP:
            action = go(self.cells[SERVING], handoff)
        elif held == DISH:
            action = go(ready, started, handoff if started and not self._reachable(me, started) else [])
            if action is None and not started and self.pots:  # a server alone would block the pot
                action = go([c for c in pots if info[c][0] > 0])
        elif held in (ONION, TOMATO):
            action = go(fillable, handoff if fillable and not self._reachable(me, fillable) else [])
        else:
            to_start = (
                [] if self.old_dynamics or not self.pots else [c for c in pots if info[c][1] < 0 and info[c][0] == 3]
            )
            dishes = int((s.held[i] == DISH).sum()) + len(counters_with(DISH))
            need_dish = self.serves and len(started) > dishes
            dish_sources = counters_with(DISH) + self.cells[DISH_DISPENSER] if self.serves else []
            ingredient_sources = (
                counters_with(ONION)
                + counters_with(TOMATO)
                + self.cells[ONION_DISPENSER]
                + self.cells[TOMATO_DISPENSER]
                if self.pots
                else []
            )
            soups_on_counters = counters_with(SOUP) if self.serves else []
            if need_dish:
                action = go(to_start, soups_on_counters, dish_sources, ingredient_sources)
            else:
                action = go(to_start, soups_on_counters, ingredient_sources if fillable else [], dish_sources)
        if action is None:
            action = int(self.rng.integers(NUM_ACTIONS)) if self.rng.random() < 0.5 else ACTION_STAY
        return int(action)

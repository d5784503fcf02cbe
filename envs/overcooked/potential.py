"""Potential-based reward shaping for Overcooked: pay progress towards *delivered* soups, and only that.

overcooked_ai's default shaping pays events (3 per onion potted, 3 per dish picked up, 5 per soup
served onto a dish). In the new dynamics a cook starts a pot by hand, so those events can be farmed
with 1-onion soups that are worth nothing; on counter_circuit MAPPO learns exactly that and never
delivers (README, "Benchmark notes"). Potential-based shaping (Ng, Harada and Russell 1999; in
overcooked_ai as ``use_phi``) cannot be farmed: the shaped reward of a step is

    F(s, s') = gamma * phi(s') - phi(s)

so along any episode it sums to ``gamma^T phi(s_T) - phi(s_0)`` whatever the cooks do, and the
optimal policies of the sparse task are unchanged (with gamma = the trainer's discount).

Our phi (not overcooked_ai's planner-based one) credits the progress the event shaping pays for,
as a *state* instead of an event, so whatever is paid is taken back when undone:

    phi(s) = ONION_IN_POT * onions in pots that can still make a soup worth something
           + COOKING      * full soups cooking or ready in a pot (on top of their 3 onions)
           + DISH_HELD    * dishes held while some pot holds a full soup
           + PLATED_SOUP  * soups worth something in a cook's hands (everything above, plus 3)
           + ONION_HELD   * onions held while some pot can take one
           + TOWARDS      * (1 - d / d_max) for each useful item held or put on a counter,
                            d = steps until it is where it goes next (a pot, or the window)

Starting a 1-onion pot turns it into a soup worth 0: phi loses the onion's credit. Plating that
soup, or putting an onion down where nobody uses it, is no gain either. The distance term pays each
step that brings a useful item closer to its pot or window (counter_circuit's long ring); an item
put on a counter keeps only the pull of that counter, so handing an onion or a dish over is neutral
and parking a plated soup on a counter gives its credit back (with ``potential_gamma = 1``, credit
never taken back would be kept at the horizon: the cooks learned to plate soups and park them). It uses
shortest-path tables (``planning.py``) in which an item may also be handed over a counter
(forced_coordination's split kitchen).
"""

from __future__ import annotations

import numpy as np

from diverse_marl.envs.overcooked.core import DISH, ONION, SOUP, BatchState
from diverse_marl.envs.overcooked.layouts import Layout
from diverse_marl.envs.overcooked.planning import NUM_ORIENTATIONS, UNREACHABLE, distance_tables, motion_goals

DEFAULT_POTENTIAL_GAMMA = 0.99  # set to the trainer's discount: then the shaping leaves optimal policies unchanged
# credits, in reward units (a delivery pays 20). Each step of a soup's life raises phi: potting +3,
# starting a full pot +1, a dish +2, plating +3 (each minus the pull the item had), delivering
# 20 - PLATED_SOUP - pull = +3; undoing any of them (or spoiling a pot) takes the credit back.
ONION_IN_POT = 3.0
COOKING = 1.0
DISH_HELD = 2.0
TOWARDS = 1.0  # the pull's maximum: a useful item held next to where it goes next
PLATED_SOUP = 3 * ONION_IN_POT + COOKING + DISH_HELD + TOWARDS + 3.0
ONION_HELD = 0.0
HAND_OVER = 2  # steps to put an item on a counter and pick it up from the other side


class SoupPotential:
    """``phi(s)`` for N kitchens of one layout (``__call__``), and the shaped reward of a step."""

    def __init__(self, layout: Layout, gamma: float = DEFAULT_POTENTIAL_GAMMA):
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"potential gamma must be in (0, 1], got {gamma!r}")
        self.gamma = float(gamma)
        w, h = layout.width, layout.height
        self.w = w
        self.pots = layout.flat_index(layout.pot_positions)
        self.counters = layout.flat_index(layout.counter_positions)
        self.serving = layout.flat_index(layout.serving_positions)
        counter_cells = {tuple(int(v) for v in p) for p in layout.counter_positions}
        tables = distance_tables(layout, counter_goals=counter_cells)
        # steps from a cook's motion state to facing a cell; from facing one cell to facing another
        self.to_cell = np.where(tables.to_cell == UNREACHABLE, np.inf, tables.to_cell).astype(np.float64)
        terrain = np.asarray(layout.terrain)
        cell_to_cell = np.full((h * w, h * w), np.inf)
        for c in range(h * w):
            goals = motion_goals(terrain, (c % w, c // w), counter_cells)
            if goals:
                cell_to_cell[c] = self.to_cell[goals].min(axis=0)
        self.counter_to_cell = cell_to_cell[self.counters]
        self.counter_to_pot = self.counter_to_cell[:, self.pots][None]  # (1, counters, pots)
        self.counter_to_serve = self.counter_to_cell[:, self.serving].min(axis=1)  # (counters,)
        targets = np.concatenate([self.pots, self.serving])
        finite = self.to_cell[:, targets][np.isfinite(self.to_cell[:, targets])]
        self.d_max = float(finite.max()) + HAND_OVER if finite.size else 1.0
        self.recipe_value = np.asarray(layout.recipe_value, dtype=np.float64)
        self.best_value = np.asarray(layout.best_value, dtype=np.float64)

    def shaped_reward(self, phi_before: np.ndarray, phi_after: np.ndarray) -> np.ndarray:
        """F = gamma * phi(s') - phi(s), (N,)."""
        return self.gamma * phi_after - phi_before

    def __call__(self, s: BatchState) -> np.ndarray:
        """(N,) potential of each kitchen."""
        n = s.num_envs
        obj = s.obj.reshape(n, -1)
        on, to, tick = (a.reshape(n, -1) for a in (s.soup_onions, s.soup_tomatoes, s.soup_tick))

        # -- pots --------------------------------------------------------------------------------------
        p_on, p_to, p_tick = on[:, self.pots], to[:, self.pots], tick[:, self.pots]
        is_soup = obj[:, self.pots] == SOUP
        n_ing = np.where(is_soup, p_on + p_to, 0)
        started = is_soup & (p_tick >= 0)
        worth = np.where(started, self.recipe_value[p_on, p_to], self.best_value[p_on, p_to]) > 0
        full = worth & (started | (n_ing == 3))  # a soup worth something, cooking, ready or startable
        takes_onion = worth & ~started & (n_ing < 3)  # an idle pot that an onion brings closer to a soup
        phi = (ONION_IN_POT * np.where(worth, n_ing, 0) + COOKING * (full & started)).sum(axis=1)

        # -- items in hands: credited while useful, plus a step-by-step pull to where they go next --------
        motion_state = (s.pos[..., 1] * self.w + s.pos[..., 0]) * NUM_ORIENTATIONS + s.ori
        dist = self._with_hand_over(self.to_cell[motion_state])  # (N, 2, cells)
        to_pot = dist[:, :, self.pots]  # (N, 2, pots)
        soup_value = self.recipe_value[s.held_onions, s.held_tomatoes]
        # (held item, its credit, steps to where it goes next, credited even with no reachable goal?)
        goals = (
            (s.held == ONION, ONION_HELD, np.where(takes_onion[:, None, :], to_pot, np.inf).min(axis=2), False),
            (s.held == DISH, DISH_HELD, np.where(full[:, None, :], to_pot, np.inf).min(axis=2), False),
            ((s.held == SOUP) & (soup_value > 0), PLATED_SOUP, dist[:, :, self.serving].min(axis=2), True),
        )
        for holds, credit, d, always in goals:
            useful = holds & (np.isfinite(d) | always)
            pull = np.where(np.isfinite(d), 1.0 - d / self.d_max, 0.0)
            phi += np.where(useful, credit + TOWARDS * pull, 0.0).sum(axis=1)

        # -- items put down on counters keep only their pull: a soup parked on a counter is not progress --
        c_obj, c_on, c_to = obj[:, self.counters], on[:, self.counters], to[:, self.counters]
        for lying, d in (
            (c_obj == ONION, np.where(takes_onion[:, None, :], self.counter_to_pot, np.inf).min(axis=2)),
            (c_obj == DISH, np.where(full[:, None, :], self.counter_to_pot, np.inf).min(axis=2)),
            (
                (c_obj == SOUP) & (self.recipe_value[c_on, c_to] > 0),
                np.broadcast_to(self.counter_to_serve, c_obj.shape),
            ),
        ):
            if lying.any():
                pull = 1.0 - (d + HAND_OVER / 2) / self.d_max
                phi += np.where(lying & np.isfinite(d), TOWARDS * pull, 0.0).sum(axis=1)
        return phi

    def _with_hand_over(self, dist: np.ndarray) -> np.ndarray:
        """``dist`` (..., cells) lowered to the cost through one counter hand-over where that is shorter."""
        via = dist[..., self.counters, None] + HAND_OVER + self.counter_to_cell
        return np.minimum(dist, via.min(axis=-2))

"""Registration of the envs shipped with diverse-marl.

Factories and layout lists are import strings, so ``diverse-marl envs`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable

from diverse_marl.envs import register, resolve_factory


def _lazy(path: str) -> Callable[[], list[str]]:
    return lambda: list(resolve_factory(path)())


register(
    "overcooked",
    "diverse_marl.envs.overcooked:OvercookedEnv",
    description="Overcooked-AI (Carroll et al. 2019): two cooks, onion soups; dynamics identical to overcooked_ai",
    choices={"layout": _lazy("diverse_marl.envs.overcooked.layouts:list_layouts")},
)
register(
    "hide_and_seek",
    "diverse_marl.envs.hide_and_seek:HideAndSeekEnv",
    description="Grid hide-and-seek (Baker et al. 2019): boxes, ramps, locks, prep phase, line of sight",
    choices={"scenario": _lazy("diverse_marl.envs.hide_and_seek.maps:list_scenarios")},
)
register(
    "credit_assignment",
    "diverse_marl.envs.testbeds:CreditAssignmentEnv",
    description="Tiny cooperative game where only a centralized critic assigns credit (MAPPO test)",
)
register(
    "multi_goal",
    "diverse_marl.envs.testbeds:MultiGoalEnv",
    description="Grid with a goal in each corner, all paying the same: four equally good strategies (SIPO testbed)",
)
register(
    "stag_hunt",
    "diverse_marl.envs.matrix_games:StagHuntEnv",
    description="Iterated Stag Hunt: payoff-dominant (stag) vs risk-dominant (hare) equilibria (RPG testbed)",
    choices={"payoff_preset": _lazy("diverse_marl.envs.matrix_games:list_payoff_presets")},
)
register(
    "monster_hunt",
    "diverse_marl.envs.monster_hunt:MonsterHuntEnv",
    description="Monster-Hunt (Tang et al. 2021): 5x5 grid, hunt the monster together (+5) or eat apples (+2) alone",
)
register(
    "memory_task",
    "diverse_marl.envs.memory_task:MemoryTaskEnv",
    description="Recall a cue seen at the first step after a delay: feed-forward policies cannot, GRU policies can",
)

"""The envs shipped with diverse-marl, as plain data that ``diverse_marl.envs`` registers.

Factories and the choice lists (layouts, scenarios, presets) are import strings, so
``diverse-marl envs`` stays fast; this module imports nothing of the registry it feeds.
"""

from __future__ import annotations

from typing import NamedTuple


class BuiltinEnv(NamedTuple):
    name: str
    factory: str  # "package.module:callable"
    description: str
    choices: dict[str, str]  # option -> "package.module:function" listing its allowed values


BUILTIN_ENVS: tuple[BuiltinEnv, ...] = (
    BuiltinEnv(
        "overcooked",
        "diverse_marl.envs.overcooked:OvercookedEnv",
        "Overcooked-AI (Carroll et al. 2019): two cooks, onion soups; dynamics identical to overcooked_ai",
        {"layout": "diverse_marl.envs.overcooked.layouts:list_layouts"},
    ),
    BuiltinEnv(
        "hide_and_seek",
        "diverse_marl.envs.hide_and_seek:HideAndSeekEnv",
        "Grid hide-and-seek (Baker et al. 2019): boxes, ramps, locks, prep phase, line of sight",
        {"scenario": "diverse_marl.envs.hide_and_seek.maps:list_scenarios"},
    ),
    BuiltinEnv(
        "credit_assignment",
        "diverse_marl.envs.testbeds:CreditAssignmentEnv",
        "Tiny cooperative game where only a centralized critic assigns credit (MAPPO test)",
        {},
    ),
    BuiltinEnv(
        "multi_goal",
        "diverse_marl.envs.testbeds:MultiGoalEnv",
        "Grid with a goal in each corner, all paying the same: four equally good strategies (SIPO testbed)",
        {},
    ),
    BuiltinEnv(
        "stag_hunt",
        "diverse_marl.envs.matrix_games:StagHuntEnv",
        "Iterated Stag Hunt: payoff-dominant (stag) vs risk-dominant (hare) equilibria (RPG testbed)",
        {"payoff_preset": "diverse_marl.envs.matrix_games:list_payoff_presets"},
    ),
    BuiltinEnv(
        "monster_hunt",
        "diverse_marl.envs.monster_hunt:MonsterHuntEnv",
        "Monster-Hunt (Tang et al. 2021): 5x5 grid, hunt the monster together (+5) or eat apples (+2) alone",
        {},
    ),
    BuiltinEnv(
        "memory_task",
        "diverse_marl.envs.memory_task:MemoryTaskEnv",
        "Recall a cue seen at the first step after a delay: feed-forward policies cannot, GRU policies can",
        {},
    ),
)

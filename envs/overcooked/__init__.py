"""Overcooked-AI (Carroll et al. 2019) with overcooked_ai's exact dynamics, fast numpy core.

``OvercookedEnv`` is a PettingZoo ParallelEnv; ``OvercookedBatchedEnv`` steps N kitchens at once.
"""

from __future__ import annotations

from typing import Any

from diverse_marl.envs.overcooked.layouts import Layout, get_layout, layout_from_grid, list_layouts

__all__ = [
    "OvercookedEnv",
    "OvercookedBatchedEnv",
    "EVENT_NAMES",
    "Layout",
    "get_layout",
    "layout_from_grid",
    "list_layouts",
]


def __getattr__(name: str) -> Any:  # lazy: importing layouts must not pull in gymnasium/pettingzoo
    if name in ("OvercookedEnv", "OvercookedBatchedEnv"):
        from diverse_marl.envs.overcooked import env  # gymnasium, pettingzoo: only for the env

        return getattr(env, name)
    if name == "EVENT_NAMES":
        from diverse_marl.envs.overcooked.events import EVENT_NAMES  # lazy like the env (see above)

        return EVENT_NAMES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Grid hide-and-seek (Baker et al. 2019): boxes, ramps, locks, a preparation phase, line of sight.

``HideAndSeekEnv`` is the PettingZoo ``ParallelEnv``; ``HideAndSeekBatchedEnv`` steps many copies
at once with numpy (same rules, tested step by step against the single env). Rules, map symbols,
observation layout and the exact behaviour statistics are documented in ``README.md`` next to
this file.
"""

from diverse_marl.envs.hide_and_seek.batched import HideAndSeekBatchedEnv, env_seed
from diverse_marl.envs.hide_and_seek.config import ACTION_NAMES, HideAndSeekConfig
from diverse_marl.envs.hide_and_seek.env import HideAndSeekEnv
from diverse_marl.envs.hide_and_seek.maps import list_scenarios, parse_text_map
from diverse_marl.envs.hide_and_seek.render import write_gif

__all__ = [
    "HideAndSeekEnv",
    "HideAndSeekBatchedEnv",
    "HideAndSeekConfig",
    "ACTION_NAMES",
    "env_seed",
    "list_scenarios",
    "parse_text_map",
    "write_gif",
]

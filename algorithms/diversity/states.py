"""Which state the diversity terms measure, read from stored episodes or from a live env.

``state`` (the ``diversity.state`` option) names the source:

- ``diversity_state``: the env's compact ``infos[agent]["diversity_state"]`` vector (Overcooked:
  both cooks' positions, orientations and held items; hide-and-seek: agents' and boxes'
  positions; the multi-goal grid: both positions), scaled by the env;
- ``state``: MAPPO's agent-specific global state (the critic's input, ``obs["state"]``);
- ``obs``: the agent's own observation;
- ``auto``: ``diversity_state`` when the env gives one, else ``state``, else ``obs``.

The state of step t is the one the agent acted in (observation t and the infos that came with
it: the reset infos for t = 0), so the episode's last observation is never needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from diverse_marl.algorithms.mappo.module import OBS_KEY, STATE_KEY
from diverse_marl.envs.reward import DIVERSITY_STATE_KEY
from diverse_marl.errors import ConfigError


def resolve_source(source: str, infos: Mapping[str, Any] | None, obs: Any) -> str:
    """``auto`` -> the first available of diversity_state, state, obs; others checked for presence."""
    has = {
        "diversity_state": isinstance(infos, Mapping) and DIVERSITY_STATE_KEY in infos,
        "state": isinstance(obs, Mapping) and STATE_KEY in obs,
        "obs": True,
    }
    if source == "auto":
        return next(k for k, ok in has.items() if ok)
    if not has[source]:
        where = (
            "infos[agent]['diversity_state']"
            if source == "diversity_state"
            else "critic state (training.critic_input: state or joint_obs)"
        )
        raise ConfigError(
            f"diversity.state is {source!r} but the env gives no {where}; "
            f"available here: {', '.join(k for k, ok in has.items() if ok)}"
        )
    return source


def episode_states(source: str, observations: Any, infos: Sequence[Any], steps: int) -> np.ndarray:
    """(steps, D) float32 states of an episode chunk's first ``steps`` observations."""
    if source == "diversity_state":
        return np.stack([np.asarray(i[DIVERSITY_STATE_KEY], np.float32).reshape(-1) for i in infos[:steps]])
    key = STATE_KEY if source == "state" else OBS_KEY
    x = observations[key] if isinstance(observations, Mapping) else observations
    x = np.asarray(x[:steps], np.float32)
    return x.reshape(len(x), -1)

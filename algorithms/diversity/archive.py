"""Archives of finished policies' states: what later SIPO iterations keep their distance from.

After an iteration, its policy plays ``episodes`` seeded episodes in the plain env (stochastic
actions, as it was trained); the states it acted in (``states.py`` decides which vector) are
pooled over agents and a seeded sample of at most ``size`` rows is kept. An episode that *terminates*
(reaches a goal) before the horizon ``H`` enters an absorbing state: its last state counts ``H - T``
more times, so the archive is the policy's state distribution over the whole horizon, where it
ends weighing as much as it would if it stayed there (``terms.py`` measures new episodes the same
way). Without it the goal itself, never acted in, is not in the archive at all and two policies
that walk to different goals along similar paths look alike. The same episodes give
the policy's task-return scale (mean ``|episode return|`` per agent: of ``infos[agent]["sparse_reward"]``
where the env reports its unshaped task reward, as Overcooked does, else of the reward),
which sets the size of later iterations' intrinsic budget (``terms.py``); it is kept in the
archive's metadata (``RETURN_KEY``). The file is an ``.npz`` written atomically (temp file, then
rename) into the iteration's run dir.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from diverse_marl import envs
from diverse_marl.algorithms.diversity.states import episode_states, resolve_source
from diverse_marl.errors import CheckpointError
from diverse_marl.loading import load_policy
from diverse_marl.run_dir import atomic_open

ARCHIVE_FILE = "archive.npz"
RETURN_KEY = "return_scale"  # archive metadata: the archived policy's mean |episode return| per agent
LENGTH_KEY = "length_mean"  # archive metadata: its mean episode length
HORIZON_KEY = "horizon"  # archive metadata: H, the episode length a terminated episode is completed to
SPARSE_REWARD_KEY = "sparse_reward"  # infos[agent]: the task reward without shaping (Overcooked), if reported


class StateSample(NamedTuple):
    """What :func:`collect_states` measured: the states, their source, and the task-return scale."""

    states: np.ndarray
    source: str
    return_scale: float
    length_mean: float = 0.0  # mean episode length (agent steps) of the archived episodes
    horizon: int = 0  # H (HORIZON_KEY)


def env_horizon(env: Any) -> int | None:
    """The env's episode limit where it names one (``horizon``, or PettingZoo's ``max_cycles``), else None."""
    for obj in (env, getattr(env, "unwrapped", None)):
        for name in ("horizon", "max_cycles"):
            value = getattr(obj, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def collect_states(
    run_dir: str | os.PathLike,
    env: str,
    env_config: dict[str, Any],
    source: str,
    *,
    episodes: int,
    size: int,
    seed: int,
) -> StateSample:
    """(rows, D) states of ``run_dir``'s policy in ``episodes`` episodes (at most ``size`` rows), the source
    used, and the mean absolute episode return per agent of those episodes."""
    from diverse_marl.algorithms.mappo.env import MAPPOObservationAdapter  # imports ray: only when archiving

    par_env = envs.make(env, **dict(env_config))
    adapter = MAPPOObservationAdapter(par_env, "state")
    policies = {a: load_policy(run_dir, a, seed=seed) for a in par_env.possible_agents}
    rows: list[np.ndarray] = []
    returns: list[float] = []
    lengths: list[int] = []
    resolved = None
    finals: list[tuple[int, list[np.ndarray]]] = []  # per terminated episode: its length, its last states

    def states_of(mobs: dict, infos: dict) -> list[np.ndarray]:
        nonlocal resolved
        out = []
        for a in mobs:
            resolved = resolved or resolve_source(source, infos.get(a), mobs[a])
            out.append(episode_states(resolved, {k: v[None] for k, v in mobs[a].items()}, [infos.get(a, {})], 1))
        return out

    for ep in range(episodes):
        obs, infos = par_env.reset(seed=seed + ep)
        episode_return = dict.fromkeys(par_env.possible_agents, 0.0)
        par_env_steps, terminated, truncated = 0, {}, {}
        while obs and par_env.agents:
            par_env_steps += 1
            mobs = adapter(par_env, obs)
            rows += states_of(mobs, infos)
            actions = {a: int(policies[a](mobs[a])) for a in par_env.agents if a in mobs}
            obs, rewards, terminated, truncated, infos = par_env.step(actions)
            for a, r in rewards.items():  # the task's own reward where the env reports one (no shaping)
                info = infos.get(a)
                task = info.get(SPARSE_REWARD_KEY, r) if isinstance(info, dict) else r
                episode_return[a] = episode_return.get(a, 0.0) + float(task)
        if any(terminated.values()) and not any(truncated.values()) and obs:
            finals.append((par_env_steps, states_of(adapter(par_env, obs), infos)))
        returns += [abs(r) for r in episode_return.values()]
        lengths.append(par_env_steps)
    horizon = max([env_horizon(par_env) or 0, *lengths])
    par_env.close()
    for length, last in finals:  # the absorbing state: the rest of the horizon spent where the episode ended
        rows += [np.repeat(x, horizon - length, axis=0) for x in last]
    states = np.concatenate(rows).astype(np.float32)
    if len(states) > size:
        states = states[np.sort(np.random.default_rng(seed).choice(len(states), size, replace=False))]
    return StateSample(
        states,
        str(resolved),
        float(np.mean(returns)) if returns else 0.0,
        float(np.mean(lengths)) if lengths else 0.0,
        int(horizon),
    )


def save_archive(path: str | os.PathLike, states: np.ndarray, meta: dict[str, Any]) -> Path:
    """Write ``states`` and ``meta`` (JSON) to ``path`` atomically."""
    path = Path(path)
    with atomic_open(path, "wb") as f:
        np.savez(f, states=np.asarray(states, np.float32), meta=np.array(json.dumps(meta)))
    return path


def load_archive(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """``(states, meta)`` of an archive file; CheckpointError if missing or corrupt."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data["states"], np.float32), json.loads(str(data["meta"]))
    except (OSError, KeyError, ValueError) as exc:
        raise CheckpointError(f"archive {str(path)!r} is missing or corrupt: {exc}") from None

"""Self-play rollouts of every population member, as compressed arrays, cached on disk.

``collect_rollouts(population, env, env_config, episodes, seed)`` (also ``Population.rollouts``)
plays each member in every seat of the env's batched form (``diverse_marl.rollout.play_batched``)
and records per step the global state the step started from (the first agent's view), every
agent's action and original reward; per episode the returns, length, sparse return and the
env's episode statistics (Overcooked's per-cook event counts, hide-and-seek's statistics, any
env's ``episode_stats``) plus, for envs that report them, episode totals of ``reward_features``.

The arrays of one member are one ``.npz`` (``np.savez_compressed``), keyed by a hash of the
member's checkpoint files, the env and its config, the seed, the episode count and the action
mode: a second call with the same inputs reads the file instead of playing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.crossplay import TRAINING_ONLY_ENV_KEYS, eval_env_config
from diverse_marl.envs import make as make_env
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.metrics import SPARSE_RETURN
from diverse_marl.rollout import play_batched

CACHE_VERSION = 1  # bump when the recorded arrays change
CACHE_DIR_NAME = "rollouts"  # a run member's cache lives in RUN_DIR/rollouts/
REWARD_FEATURES_KEY = "reward_features"
_ARRAYS = ("states", "actions", "rewards", "lengths", "returns", "sparse_returns", "stats", "features")


@dataclass
class MemberRollouts:
    """One member's episodes. ``E`` episodes, ``T`` = longest episode, ``A`` agents.

    states (E, T, S) float32, actions (E, T, A) int64, rewards (E, T, A) float32 (original reward;
    steps after an episode's end are zero), lengths (E,), returns (E, A), sparse_returns (E,)
    (NaN if the env reports none), stats (E, K) named by ``stat_names``, features (E, A, F)
    reward-feature totals named by ``feature_names`` (F = 0 if the env reports none).
    """

    name: str
    agents: list[str]
    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    returns: np.ndarray
    sparse_returns: np.ndarray
    stats: np.ndarray
    stat_names: list[str]
    features: np.ndarray
    feature_names: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def episodes(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def step_mask(self) -> np.ndarray:
        """(E, T) bool: which steps belong to their episode."""
        return np.arange(self.actions.shape[1])[None, :] < self.lengths[:, None]

    def visited_states(self, max_states: int | None = None, random_state: int = 0) -> np.ndarray:
        """(M, S) the states of all steps, flattened over episodes; a seeded subsample of at most ``max_states``."""
        flat = self.states.reshape(-1, *self.states.shape[2:])[self.step_mask.reshape(-1)]
        flat = flat.reshape(len(flat), -1)
        if max_states is not None and len(flat) > max_states:
            idx = np.random.default_rng(random_state).choice(len(flat), max_states, replace=False)
            flat = flat[np.sort(idx)]
        return flat

    def headline_returns(self) -> np.ndarray:
        """(E,) sparse team returns where the env reports them, else team original returns."""
        return self.sparse_returns if not np.isnan(self.sparse_returns).any() else self.returns.sum(axis=1)

    def subset(self, episodes: Any) -> MemberRollouts:
        """The same member restricted to some episodes (an index array or slice), e.g. to measure noise."""
        arrays = {k: getattr(self, k)[episodes] for k in _ARRAYS}
        return MemberRollouts(
            name=self.name,
            agents=self.agents,
            stat_names=self.stat_names,
            feature_names=self.feature_names,
            meta=dict(self.meta),
            **arrays,
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write one compressed ``.npz`` (temp file, then rename)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp.npz")
        header = {
            "name": self.name,
            "agents": self.agents,
            "stat_names": self.stat_names,
            "feature_names": self.feature_names,
            "meta": self.meta,
            "version": CACHE_VERSION,
        }
        np.savez_compressed(tmp, header=np.array(json.dumps(header)), **{k: getattr(self, k) for k in _ARRAYS})
        os.replace(tmp, out)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> MemberRollouts:
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {k: data[k] for k in _ARRAYS}
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"rollout file {str(path)!r} is corrupt: {exc}") from None
        return cls(
            name=header["name"],
            agents=header["agents"],
            stat_names=header["stat_names"],
            feature_names=header["feature_names"],
            meta=header.get("meta", {}),
            **arrays,
        )


class PopulationRollouts(Mapping[str, MemberRollouts]):
    """Member name -> :class:`MemberRollouts`, in population order; ``env``/``env_config`` they were played in."""

    def __init__(
        self,
        members: Mapping[str, MemberRollouts],
        env: str,
        env_config: Mapping[str, Any],
        seed: int,
        groups: Mapping[str, str] | None = None,
    ) -> None:
        self._members = dict(members)
        self.env, self.env_config, self.seed = env, dict(env_config), seed
        self.groups = dict(groups or {})  # member name -> known group (e.g. a scripted role), if any

    def __getitem__(self, name: str) -> MemberRollouts:
        return self._members[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    @property
    def names(self) -> list[str]:
        return list(self._members)


class _Recorder:
    """Collects what :func:`diverse_marl.rollout.play_batched` shows it, per row (= episode)."""

    def __init__(self, episodes: int, agents: list[str], state_agent: str) -> None:
        self.n, self.agents, self.state_agent = episodes, agents, state_agent
        self.states: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[np.ndarray] = []
        self.features: dict[str, np.ndarray] = {}  # feature name -> (E, A) totals

    def __call__(
        self,
        first_row: int,
        states: Mapping[str, np.ndarray],
        actions: Mapping[str, np.ndarray],
        rewards: Mapping[str, np.ndarray],
        infos: Mapping[str, Any],
        live: np.ndarray,
    ) -> None:
        if first_row != 0:
            raise ConfigError("analysis rollouts play all episodes of a member in one batch; lower episodes")
        state = np.asarray(states[self.state_agent], dtype=np.float32)
        self.states.append(state * live.reshape(-1, *[1] * (state.ndim - 1)))  # zeros after an episode's end
        self.actions.append(np.stack([np.where(live, actions[a], 0) for a in self.agents], axis=-1))
        self.rewards.append(
            np.stack([np.where(live, rewards[a], 0.0) for a in self.agents], axis=-1).astype(np.float32)
        )
        finals = infos.get("final_env_infos") or [None] * live.shape[0]
        for i, env_info in enumerate(infos.get("env_infos") or ()):  # wrapped PettingZoo envs: per-copy infos
            env_info = finals[i] if finals[i] is not None else env_info  # an episode's last step, not the reset
            if live[i] and isinstance(env_info, Mapping):
                self._add_features(i, env_info)

    def _add_features(self, row: int, env_info: Mapping[str, Any]) -> None:
        for j, a in enumerate(self.agents):
            info = env_info.get(a)
            features = info.get(REWARD_FEATURES_KEY) if isinstance(info, Mapping) else None
            for key, value in (features or {}).items():
                self.features.setdefault(key, np.zeros((self.n, len(self.agents))))[row, j] += float(value)


def collect_member(
    member: Any,
    env: str,
    env_config: Mapping[str, Any],
    episodes: int,
    seed: int = 0,
    deterministic: bool = False,
    quiet: bool = True,
) -> MemberRollouts:
    """Play ``episodes`` self-play episodes of one member (every seat its own player) and record them."""
    probe = make_env(env, **dict(env_config))
    agents = list(probe.possible_agents)
    probe.close()
    seats = {a: member.policy(a) for a in agents}
    recorder = _Recorder(episodes, agents, agents[0])
    played = play_batched(
        env,
        env_config,
        seats,
        episodes,
        seed=seed,
        deterministic=deterministic,
        max_rows=max(episodes, 1),
        quiet=quiet,
        recorder=recorder,
    )
    stat_names = sorted({k for e in played for k in e["stats"]})
    feature_names = sorted(recorder.features)
    return MemberRollouts(
        name=member.name,
        agents=agents,
        states=np.stack(recorder.states, axis=1),
        actions=np.stack(recorder.actions, axis=1).astype(np.int64),
        rewards=np.stack(recorder.rewards, axis=1),
        lengths=np.array([e["length"] for e in played], dtype=np.int64),
        returns=np.array([[e["returns"][a] for a in agents] for e in played], dtype=np.float64),
        sparse_returns=np.array([e.get(SPARSE_RETURN, np.nan) for e in played], dtype=np.float64),
        stats=np.array([[e["stats"].get(k, np.nan) for k in stat_names] for e in played], dtype=np.float64).reshape(
            len(played), len(stat_names)
        ),
        stat_names=stat_names,
        features=np.stack([recorder.features[k] for k in feature_names], axis=-1)
        if feature_names
        else np.zeros((episodes, len(agents), 0)),
        feature_names=feature_names,
        meta={
            "env": env,
            "env_config": dict(env_config),
            "seed": seed,
            "episodes": episodes,
            "deterministic": deterministic,
        },
    )


def cache_key(
    member: Any, env: str, env_config: Mapping[str, Any], episodes: int, seed: int, deterministic: bool
) -> str:
    """Hash of what determines a member's rollouts: its policy files (or factory and seed), env, config, seed."""
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "v": CACHE_VERSION,
                "env": env,
                "env_config": dict(env_config),
                "episodes": episodes,
                "seed": seed,
                "deterministic": deterministic,
            },
            sort_keys=True,
            default=str,
        ).encode()
    )
    if getattr(member, "path", None) is None:
        h.update(
            json.dumps(
                {"source": getattr(member, "source", member.name), "seed": getattr(member, "seed", None)},
                sort_keys=True,
            ).encode()
        )
    else:
        checkpoint = Path(member.checkpoint)
        for f in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
            h.update(f.relative_to(checkpoint).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def default_env(population: Any) -> tuple[str, dict[str, Any]]:
    """The first run member's evaluation env: its config without training-only keys (``reward_weights``).

    Read from the member's metadata (its config.yaml), so no trainer module (nor Ray) is imported.
    """
    for m in population:
        if getattr(m, "path", None) is not None:
            meta = getattr(m, "metadata", {})
            if meta.get("env"):
                return meta["env"], {
                    k: v for k, v in (meta.get("env_config") or {}).items() if k not in TRAINING_ONLY_ENV_KEYS
                }
            return eval_env_config(m.path)
    raise ConfigError("no run directory among the members to take the env from; give env and env_config")


def collect_rollouts(
    population: Any,
    env: str | None = None,
    env_config: Mapping[str, Any] | None = None,
    episodes: int = 10,
    seed: int = 0,
    deterministic: bool = False,
    cache_dir: str | os.PathLike | None = None,
    quiet: bool = True,
) -> PopulationRollouts:
    """Rollouts of every member (see module docstring). ``env`` defaults to the first run member's.

    Cached per member in ``cache_dir`` when given, else in each run member's ``RUN_DIR/rollouts/``
    (members without a run directory, e.g. scripted ones, are then not cached).
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    if env is None:
        env, base = default_env(population)
        env_config = {**base, **dict(env_config or {})}
    env_config = dict(env_config or {})
    out: dict[str, MemberRollouts] = {}
    for m in population:
        folder = (
            Path(cache_dir)
            if cache_dir is not None
            else (Path(m.path) / CACHE_DIR_NAME if getattr(m, "path", None) is not None else None)
        )
        path = None
        if folder is not None:
            key = cache_key(m, env, env_config, episodes, seed, deterministic)
            path = folder / f"{m.name.replace('/', '__')}-{key}.npz"
        if path is not None and path.exists():
            out[m.name] = MemberRollouts.load(path)
            out[m.name].name = m.name
            continue
        out[m.name] = collect_member(m, env, env_config, episodes, seed, deterministic, quiet)
        if path is not None:
            out[m.name].save(path)
    groups = {m.name: m.metadata["group"] for m in population if "group" in getattr(m, "metadata", {})}
    return PopulationRollouts(out, env, env_config, seed, groups)

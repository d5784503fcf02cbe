"""Experiment configs: YAML (or a dict) -> typed :class:`ExperimentConfig` -> RLlib ``AlgorithmConfig``.

Everything is validated before Ray starts: an unknown key, a wrong type, an unknown env or
algorithm raises :class:`~diverse_marl.errors.ConfigError` naming the key and the allowed values.

A config file looks like::

    name: cramped-mappo
    algorithm: mappo            # see ALGORITHMS (algorithms/family.py)
    env: overcooked             # a registered env, or "package.module:factory"
    env_config: {layout: cramped_room, horizon: 400}
    seed: 0
    stop: {iterations: 20}      # and/or env_steps, time_s
    checkpoint_every: 5
    training: {lr: 0.0005}      # algorithm options; `diverse-marl options ALGORITHM` lists them
    reward_schedule: {shaping_factor: [[0, 1.0], [2500000, 0.0]]}  # over global env steps (reward_schedule.py)
    init_from: null             # a run dir or checkpoint to warm-start from (weights only)
    population:                 # optional: many members, each its own run dir
      sample: {env_config.reward_weights.onion_pickup_dispenser: {uniform: [-1, 1]}}
      size: 4
    method: {name: rpg, ...}    # optional: a diversity method's pipeline (algorithms/methods/)
    ray: {address: null}        # null: local embedded Ray; "auto" or "ray://host:10001": a cluster
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import yaml

from diverse_marl import envs
from diverse_marl.algorithms.diversity import parse_diversity, with_diversity
from diverse_marl.algorithms.family import ALGORITHMS, AlgorithmFamily, get_family
from diverse_marl.algorithms.methods import get_method
from diverse_marl.envs.reward import WEIGHTS_OPTION, check_reward_weights, reward_params
from diverse_marl.errors import ConfigError, did_you_mean
from diverse_marl.partners import validate_partners
from diverse_marl.reward_schedule import RewardSchedule
from diverse_marl.warm_start import resolve_init_from

__all__ = ["ALGORITHMS", "ExperimentConfig", "load_config", "member_config", "member_overrides"]

# the distributions population.sample draws from: {uniform: [lo, hi]} and {choice: [v1, v2, ...]}
SAMPLERS = ("uniform", "choice")


_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


@dataclass
class StopConfig:
    """When training stops: whichever limit is reached first (at least one must be set).

    Without a ``stop`` block training runs 10 iterations; a ``stop`` block sets exactly the
    limits it names."""

    iterations: int | None = 10
    env_steps: int | None = None
    time_s: float | None = None


@dataclass
class RayConfig:
    """Where Ray runs. ``address: null`` starts a local embedded Ray (dashboard off, quiet logs)."""

    address: str | None = None
    num_cpus: int | None = None  # local Ray only; default: the machine's CPU count
    local_mode_tests: bool = False  # reserved for test fixtures


@dataclass
class EvalConfig:
    """``diverse-marl eval``: how many episodes, greedy or sampled actions."""

    episodes: int = 10
    deterministic: bool = False
    seed: int = 12345


@dataclass
class PopulationConfig:
    """Train many members of one experiment, one Ray Tune trial and one run directory each.

    Member ``i`` gets seed ``seed + i`` and, on top of the base config, its overrides:
    ``sample`` draws values per member (``{dotted.key: {uniform: [lo, hi]} | {choice: [...]}}``,
    drawn from ``numpy.random.default_rng(seed)``, so the same seed gives the same members);
    then ``members[i]`` (a nested mapping, e.g. ``{env_config: {reward_weights: {...}}}``) is
    deep-merged over that. With ``members`` the size is ``len(members)``. Size 1 without
    ``members``/``sample`` is a single run.
    """

    size: int = 1
    max_concurrent: int | None = None
    members: list = field(default_factory=list)
    sample: dict = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether the experiment is a population (its own parent dir with member run dirs)."""
        return self.size > 1 or bool(self.members) or bool(self.sample)


@dataclass
class ExperimentConfig:
    """One training job. Load with :func:`load_config`; every field has a YAML key of the same name."""

    name: str = "experiment"
    algorithm: str = "mappo"
    env: str = "overcooked"
    env_config: dict = field(default_factory=dict)
    seed: int = 0
    stop: StopConfig = field(default_factory=StopConfig)
    checkpoint_every: int = 5
    keep_checkpoints: int = 3
    num_env_runners: int = 0
    training: dict = field(default_factory=dict)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    # warm start: a run dir or checkpoint whose weights (actor, critic, value normalizer) start this run
    init_from: str | None = None
    # frozen partners in some seats: {from: RUN_DIR | [RUN_DIR, ...] | "pkg.module:factory",
    #   seats: [agent_1], sample: per_episode, self_play: 0.2}
    partners: dict = field(default_factory=dict)
    # reward parameters over the trainer's global env-step count, piecewise linear:
    #   {shaping_factor: [[0, 1.0], [2500000, 0.0]], reward_weights.sparse: [[0, 0.0], [1000000, 1.0]]}
    reward_schedule: dict = field(default_factory=dict)
    # a diversity method deciding which runs to make: {name: rpg, samples: 8, sampler: {...}, ...}
    # (algorithms/methods/; each method validates its own block)
    method: dict = field(default_factory=dict)
    # intrinsic rewards keeping this run away from earlier strategies (SIPO / RSPO terms):
    #   {kind: sipo, distance: rbf, archives: [...], delta: 1.0, ...} (algorithms/diversity/spec.py)
    diversity: dict = field(default_factory=dict)
    ray: RayConfig = field(default_factory=RayConfig)
    runs_dir: str = "runs"

    # ---- conversions -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def family(self) -> AlgorithmFamily:
        """The algorithm family (``algorithms/family.py``) that trains this config."""
        return get_family(self.algorithm)

    def to_rllib(self):
        """The RLlib ``AlgorithmConfig`` this experiment trains with."""
        from ray.rllib.callbacks.callbacks import RLlibCallback  # Ray: only when building the RLlib config

        from diverse_marl.callbacks import EpisodeInfoCallback, with_reward_schedule  # imports Ray

        rllib_config = self.family().build(self)
        if rllib_config.callbacks_class is RLlibCallback:  # keep an algorithm's own callbacks
            rllib_config.callbacks(EpisodeInfoCallback)
        if self.partners:
            rllib_config.partners(self.partners)  # frozen partners (diverse_marl.partners)
        if self.reward_schedule:
            with_reward_schedule(rllib_config, self.parsed_reward_schedule())
        if self.diversity:
            with_diversity(rllib_config, self.diversity, self.seed)
        return rllib_config

    def parsed_reward_schedule(self) -> RewardSchedule:
        return RewardSchedule.parse(self.reward_schedule, self.env_config.get(WEIGHTS_OPTION))

    def validate(self) -> ExperimentConfig:
        """Check names and values that need the registries; raises ConfigError."""
        family = self.family()
        if self.env not in envs.list_envs() and ":" not in self.env:
            raise ConfigError(
                f"unknown env {self.env!r}; registered envs: {', '.join(envs.list_envs())} "
                "(or an import path 'package.module:factory')"
            )
        _check_env_config(self.env, self.env_config)
        self._check_rewards()
        defaults = family.option_defaults()
        for key, value in self.training.items():
            if key not in defaults:
                raise ConfigError(_unknown_key_message(f"training.{key}", key, defaults, f"{self.algorithm} option"))
            if key in getattr(family, "schedule_options", lambda: ())() and isinstance(value, list):
                self.training[key] = _coerce_schedule(value, f"training.{key}")
            else:
                self.training[key] = _coerce(value, _type_of_default(defaults[key]), f"training.{key}")
        if all(v is None for v in (self.stop.iterations, self.stop.env_steps, self.stop.time_s)):
            raise ConfigError("stop: set at least one of iterations, env_steps, time_s")
        for key in ("checkpoint_every", "keep_checkpoints"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.num_env_runners < 0:
            raise ConfigError(f"num_env_runners must be >= 0, got {self.num_env_runners}")
        if self.init_from is not None:
            resolve_init_from(self.init_from, self.algorithm)
        validate_partners(self)
        self._check_population()
        if self.diversity:
            parse_diversity(self.diversity)
        if self.method:
            get_method(self.method).validate(self)
        return self

    def _check_rewards(self) -> None:
        """``env_config.reward_weights`` and ``reward_schedule`` name the env's features and parameters."""
        weights = self.env_config.get(WEIGHTS_OPTION)
        schedule = self.parsed_reward_schedule()
        if weights is None and not schedule:
            return
        names = envs.reward_feature_names(self.env, self.env_config)
        if weights is not None:
            check_reward_weights(weights, names, self.env, where=f"env_config.{WEIGHTS_OPTION}")
        schedule.check_names(reward_params(envs.env_factory(self.env)), names, self.env)

    def _check_population(self) -> None:
        """Size, sampler specs, and every member's resolved config (errors name the member)."""
        pop = self.population
        if pop.size < 1:
            raise ConfigError(f"population.size must be >= 1, got {pop.size}")
        if pop.max_concurrent is not None and pop.max_concurrent < 1:
            raise ConfigError(f"population.max_concurrent must be >= 1 or null, got {pop.max_concurrent}")
        if pop.members:
            if pop.size not in (1, len(pop.members)):
                raise ConfigError(
                    f"population.size is {pop.size} but population.members lists {len(pop.members)} members; "
                    "drop size or make them agree"
                )
            pop.size = len(pop.members)
        for i, overrides in enumerate(pop.members):
            if not isinstance(overrides, Mapping):
                raise ConfigError(f"population.members[{i}]: expected a mapping of config overrides, got {overrides!r}")
        for key, spec in pop.sample.items():
            _check_sampler(key, spec)
        if not pop.enabled:
            return
        for i, overrides in enumerate(member_overrides(self)):
            try:
                member_config(self, i, overrides)
            except ConfigError as exc:
                raise ConfigError(f"population member {i} (overrides {overrides}): {exc}") from None


def _check_sampler(key: str, spec: Any) -> None:
    where = f"population.sample.{key}"
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in SAMPLERS:
        raise ConfigError(f"{where}: expected {{uniform: [lo, hi]}} or {{choice: [v1, v2, ...]}}, got {spec!r}")
    ((kind, arg),) = spec.items()
    if kind == "uniform":
        ok = (
            isinstance(arg, (list, tuple))
            and len(arg) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in arg)
            and arg[0] <= arg[1]
        )
        if not ok:
            raise ConfigError(f"{where}: uniform needs [lo, hi] with numbers lo <= hi, got {arg!r}")
    elif not isinstance(arg, (list, tuple)) or not arg:
        raise ConfigError(f"{where}: choice needs a non-empty list of values, got {arg!r}")


def _draw(rng: np.random.Generator, spec: Mapping[str, Any]) -> Any:
    ((kind, arg),) = spec.items()
    if kind == "uniform":
        return float(rng.uniform(float(arg[0]), float(arg[1])))
    return copy.deepcopy(arg[int(rng.integers(len(arg)))])


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``overrides`` merged in: mappings key by key, other values replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    """``"a.b.c", 1`` -> ``{"a": {"b": {"c": 1}}}``."""
    node: Any = value
    for part in reversed(dotted.split(".")):
        node = {part: node}
    return node


def member_overrides(cfg: ExperimentConfig) -> list[dict[str, Any]]:
    """Per member, its overrides of the base config: the sampled values, then ``members[i]``.

    Draws go member by member, keys in sorted order, from ``default_rng(cfg.seed)``.
    """
    pop = cfg.population
    rng = np.random.default_rng(cfg.seed)
    out = []
    for i in range(pop.size):
        overrides: dict[str, Any] = {}
        for key in sorted(pop.sample):
            overrides = deep_merge(overrides, _nest(key, _draw(rng, pop.sample[key])))
        if pop.members:
            overrides = deep_merge(overrides, pop.members[i])
        out.append(overrides)
    return out


def member_config(cfg: ExperimentConfig, index: int, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Member ``index``'s validated config: name ``<name>-member<NN>``, seed ``seed + index``
    (unless overridden), its overrides deep-merged, no nested population."""
    if overrides is None:
        overrides = member_overrides(cfg)[index]
    base = cfg.to_dict()
    base.update(name=f"{cfg.name}-member{index:02d}", seed=cfg.seed + index, population={})
    return load_config(deep_merge(base, overrides))


def _check_env_config(env: str, env_config: dict) -> None:
    """Unknown env options and unknown named choices (e.g. layouts) fail here, before Ray."""
    if env not in envs.list_envs():
        envs.resolve_factory(env)  # import path must at least resolve
        return
    if "shaping_anneal_steps" in env_config:
        start = env_config.get("shaping_factor", 1.0)
        raise ConfigError(
            "env_config.shaping_anneal_steps is replaced by reward_schedule, which anneals on the trainer's "
            f"global env-step count: reward_schedule: {{shaping_factor: [[0, {start}], "
            f"[{env_config['shaping_anneal_steps']}, 0.0]]}}"
        )
    spec = envs.env_spec(env)
    options = spec.options()
    for key in env_config:
        if key not in options and key != WEIGHTS_OPTION:  # every env takes reward_weights (envs.make)
            raise ConfigError(_unknown_key_message(f"env_config.{key}", key, options, f"option of env {env!r}"))
    for opt in spec.choices:
        if opt in env_config:
            spec.check_choices({opt: env_config[opt]}, where=f"env_config.{opt}: ")


def _unknown_key_message(path: str, key: str, allowed: Mapping[str, Any] | list[str], what: str = "config key") -> str:
    names = sorted(allowed)
    return f"unknown {what} {path!r}{did_you_mean(key, names)}; allowed: {', '.join(names)}"


def _type_of_default(default: Any) -> Any:
    """The type an option's value must have. Options defaulting to a string (a name, a path or
    ``auto``, e.g. ``env_runner_cls: auto``) may also be null or another type: the algorithm
    family checks those values itself, naming the allowed ones."""
    if default is None or isinstance(default, str):
        return Any
    return type(default)


def _coerce_schedule(value: list, path: str) -> list[list[float]]:
    """``[[env_step, value], ...]`` from step 0, steps increasing (RLlib interpolates linearly)."""
    pairs = []
    for item in value:
        if not (
            isinstance(item, (list, tuple))
            and len(item) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in item)
        ):
            raise ConfigError(f"{path}: a schedule is a list of [env_step, value] pairs, got {item!r} in {value!r}")
        pairs.append([int(item[0]), float(item[1])])
    steps = [s for s, _ in pairs]
    if not pairs or steps[0] != 0 or steps != sorted(set(steps)):
        raise ConfigError(f"{path}: a schedule starts at env_step 0 and its steps increase, got {value!r}")
    return pairs


def _is_union(tp: Any) -> bool:
    """``Union[X, Y]``, ``Optional[X]`` and ``X | Y`` (types.UnionType) alike."""
    return typing.get_origin(tp) in (Union, types.UnionType)


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against type hint ``tp``; ints are accepted for floats. Raises ConfigError."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except ConfigError:
                pass
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return list(value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 5e-4 as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")


def _type_name(tp: Any) -> str:
    if _is_union(tp):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _build(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking keys and types."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise ConfigError(_unknown_key_message(full, str(key), list(fields)))
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, full)
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"training.lr=1e-3"`` -> (["training", "lr"], 0.001). Values are parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set expects key.sub=value, got {text!r}")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects key.sub=value, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _FLOAT_RE.match(value):  # YAML 1.1 leaves "1e-3" a string
        value = float(value)
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[keys[-1]] = value
    return data


def read_yaml(path: str | os.PathLike) -> dict:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(f"config file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path!r} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path!r} must hold a mapping of keys, got {type(data).__name__}")
    return data


def load_config(
    source: str | os.PathLike | Mapping[str, Any] | ExperimentConfig,
    overrides: list[str] | None = None,
) -> ExperimentConfig:
    """YAML path, dict or ExperimentConfig (+ ``key.sub=value`` overrides) -> validated ExperimentConfig."""
    if isinstance(source, ExperimentConfig):
        data = source.to_dict()
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        data = read_yaml(source)
    data = apply_overrides(data, list(overrides or []))
    stop = data.get("stop")
    if isinstance(stop, Mapping) and stop:
        # a stop block means exactly the limits it names (no default iteration cap beside a time_s)
        data["stop"] = {"iterations": None, "env_steps": None, "time_s": None, **stop}
    return _build(ExperimentConfig, data, "").validate()

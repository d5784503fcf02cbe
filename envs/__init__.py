"""Environment registry: one way in for every env (``make``), one way to add yours (``register``).

Every env is a PettingZoo ``ParallelEnv``. Factories are stored as import strings
(``"package.module:callable"``) so listing envs never imports heavy modules.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diverse_marl.envs._builtin import BUILTIN_ENVS
from diverse_marl.envs.reward import WEIGHTS_OPTION, RewardWeightsWrapper, names_keyword, probe_feature_names
from diverse_marl.envs.user_code import construct, factory_path, is_user_factory
from diverse_marl.errors import ConfigError

Factory = str | Callable[..., Any]


@dataclass
class EnvSpec:
    """What the registry knows about one env."""

    name: str
    factory: Factory
    description: str = ""
    # option name -> callable returning the allowed values (e.g. layouts), for `diverse-marl envs`
    choices: dict[str, Callable[[], list[str]]] = field(default_factory=dict)

    def load(self) -> Callable[..., Any]:
        return resolve_factory(self.factory)

    def check_choices(self, kwargs: dict[str, Any], where: str = "") -> None:
        """Named choices (e.g. ``layout``) must be known; text grids (with newlines) are left to the env."""
        for opt, allowed in self.choices.items():
            value = kwargs.get(opt)
            if isinstance(value, str) and "\n" not in value:
                values = allowed()
                if value not in values:
                    raise ConfigError(
                        f"{where}unknown {opt} {value!r} for env {self.name!r}; allowed: {', '.join(values)}"
                    )

    def options(self) -> dict[str, Any]:
        """Keyword options of the factory with their defaults (``inspect.Parameter.empty`` if required)."""
        sig = inspect.signature(self.load())
        return {
            p.name: p.default for p in sig.parameters.values() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }


_REGISTRY: dict[str, EnvSpec] = {}


def resolve_factory(factory: Factory) -> Callable[..., Any]:
    """Turn ``"pkg.module:attr"`` into the callable it names; callables pass through."""
    if callable(factory):
        return factory
    if not isinstance(factory, str) or ":" not in factory:
        raise ConfigError(f"env factory {factory!r} is neither a callable nor an import path 'package.module:factory'")
    module_name, _, attr = factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r} for env factory {factory!r}: {exc}") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (AttributeError, ImportError) as exc:
        raise ConfigError(
            f"module {module_name!r} has no usable attribute {attr!r} (env factory {factory!r}): {exc}"
        ) from None
    if not callable(obj):
        raise ConfigError(f"env factory {factory!r} is not callable")
    return obj


def register(
    name: str,
    factory: Factory,
    *,
    description: str = "",
    choices: dict[str, Callable[[], list[str]]] | None = None,
    overwrite: bool = False,
) -> None:
    """Register ``factory(**kwargs) -> ParallelEnv`` under ``name``.

    >>> register("my_env", "my_pkg.envs:make_env")          # lazy import path
    >>> register("my_env2", lambda **kw: MyParallelEnv(**kw))  # or a callable
    """
    if name in _REGISTRY and not overwrite:
        raise ConfigError(f"env {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = EnvSpec(name, factory, description, dict(choices or {}))


def list_envs() -> list[str]:
    """Names of all registered envs, sorted."""
    return sorted(_REGISTRY)


def env_spec(name: str) -> EnvSpec:
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown env {name!r}; registered envs: {', '.join(list_envs())} "
            "(or give an import path 'package.module:factory')"
        )
    return _REGISTRY[name]


def check_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any], what: str) -> None:
    """Every key of ``kwargs`` must be a keyword ``fn`` takes (anything goes if it takes ``**kwargs``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    params = sig.parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return
    allowed = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} for env {what!r}; allowed: {', '.join(allowed) or '(none)'}")


def make(name: str, **kwargs: Any):
    """Build a registered env (or one given as ``"package.module:factory"``) with keyword options.

    ``reward_weights`` works for every env: it reaches the factory only when the factory names that
    parameter; any other factory (a class, a function, one taking ``**kwargs``) gets its env wrapped
    in :class:`~diverse_marl.envs.reward.RewardWeightsWrapper` (see ``envs/reward.py``).
    A user's env (any factory outside the toolkit) is built and stepped behind
    :class:`~diverse_marl.envs.user_code.UserEnvGuard`: its exceptions become one clear
    :class:`~diverse_marl.envs.user_code.UserEnvError`.
    """
    if name in _REGISTRY:
        spec = _REGISTRY[name]
        fn = spec.load()
        spec.check_choices(kwargs)
    elif ":" in name:
        fn = resolve_factory(name)
    else:
        env_spec(name)  # raises with the list of known envs
        raise AssertionError("unreachable")
    weights = None if names_keyword(fn, WEIGHTS_OPTION) else kwargs.pop(WEIGHTS_OPTION, None)
    check_kwargs(fn, kwargs, name)
    if is_user_factory(fn):  # its errors name the env and the phase (envs/user_code.py)
        spec = _REGISTRY.get(name)
        env = construct(fn, kwargs, factory_path(spec.factory if spec else fn, name))
    else:
        env = fn(**kwargs)
    return env if weights is None else RewardWeightsWrapper(env, weights, name)


def env_factory(env: str | Callable[..., Any]) -> Callable[..., Any]:
    """The factory of a registered name, an import path or a callable."""
    if callable(env):
        return env
    return env_spec(env).load() if env in _REGISTRY else resolve_factory(env)


def reward_feature_names(env: str | Callable[..., Any], env_config: dict[str, Any] | None = None) -> list[str]:
    """Names of the reward features env ``env`` reports with ``env_config`` ([] if none).

    Static names come from the env class (``reward_feature_names(**env_config)``); a user env is
    probed: built, reset with a fixed seed and stepped once with seeded random actions.
    """
    config = {k: v for k, v in dict(env_config or {}).items() if k != WEIGHTS_OPTION}
    factory = env_factory(env)
    static = getattr(factory, "reward_feature_names", None)
    if callable(static):
        return list(static(**config))
    instance = factory(**config) if callable(env) else make(env, **config)
    try:
        return probe_feature_names(instance)
    finally:
        close = getattr(instance, "close", None)
        if callable(close):
            close()


# ---- built-in envs (import paths: nothing heavy is imported until make) ----
def _lazy_choices(path: str) -> Callable[[], list[str]]:
    return lambda: list(resolve_factory(path)())


for _env in BUILTIN_ENVS:
    register(
        _env.name,
        _env.factory,
        description=_env.description,
        choices={option: _lazy_choices(path) for option, path in _env.choices.items()},
    )


__all__ = [
    "EnvSpec",
    "register",
    "make",
    "list_envs",
    "env_spec",
    "env_factory",
    "resolve_factory",
    "reward_feature_names",
]

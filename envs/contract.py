"""The env contract: what an env must do to be trained, evaluated and analysed here; ``check_env`` checks it.

Every built-in env passes these rules (``tests/test_env_contract.py`` runs them over ``list_envs()``);
run them on your own env before training on it::

    from diverse_marl.envs.contract import check_env
    check_env("my_pkg.envs:MyEnv", {"horizon": 50})      # an import path, a registered name,
    check_env(MyEnv, {"horizon": 50})                    # a class or factory, or
    check_env(MyEnv(horizon=50))                         # an instance (no batched check then)

The rules (``RULES``), each checked on short seeded rollouts with seeded random legal actions:

* ``api`` -- PettingZoo's ``parallel_api_test`` passes, without warnings.
* ``determinism`` -- ``reset(seed=s)`` and the same actions give the same episode (observations,
  rewards, terminations, truncations, infos): in a fresh env and after a second ``reset(seed=s)``.
* ``spaces`` -- observations lie in ``observation_space(agent)``; if the env has a state
  (``state_space``), every state lies in its space (per agent, or PettingZoo's global one).
* ``reward_features`` -- every step's ``infos[agent]["reward_features"]`` names exactly
  ``reward_feature_names(env)``, in that order, with finite values (or no features when it is empty).
* ``batched`` -- if the env class has a native batched form (a ``batched(num_envs, **config)``
  classmethod), it equals N single envs step by step: observations, global states, rewards, the env's
  own rewards, terminations, truncations, episode ends with their final observations and returns,
  and the same-step auto-reset. Copy ``i`` of ``reset(seed)`` is the single env reset with
  ``copy_seed(seed, i)`` (the batched class's ``copy_seed``, else ``envs.batched.derive_seed``).

A broken rule raises :class:`EnvCheckError`; its message has one line per broken rule saying what
was seen and what is expected, and ``error.failures`` maps each broken rule to its line.
"""

from __future__ import annotations

import contextlib
import io
import math
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo.test.parallel_test import parallel_api_test  # imports pygame: envs/__init__ loads this module lazily

from diverse_marl.agents import MASK_KEY
from diverse_marl.envs import env_factory, make, reward_feature_names
from diverse_marl.envs.batched import derive_seed
from diverse_marl.envs.global_state import ENV_AGENT, ENV_GLOBAL, GlobalStateRule
from diverse_marl.envs.reward import FEATURES_KEY, ORIGINAL_KEY, probe_feature_names
from diverse_marl.errors import ConfigError

RULES = ("api", "determinism", "spaces", "reward_features", "batched")
STEPS = 200  # steps per rollout (an episode ends sooner when the env ends it)
NUM_ENVS = 3  # copies in the batched check
API_CYCLES = 100  # steps per episode in PettingZoo's parallel_api_test
STEP_PARTS = ("actions", "obs", "rewards", "terminations", "truncations", "infos")
TOL = 1e-5  # float tolerance of the batched check (vectorized float arithmetic may round differently)


class EnvCheckError(ConfigError):
    """Rules of the env contract an env breaks: ``failures`` maps each broken rule to what went wrong."""

    def __init__(self, label: str, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        lines = "\n".join(f"  {rule}: {msg}" for rule, msg in self.failures.items())
        n = len(self.failures)
        super().__init__(f"env {label} breaks {n} rule{'s' * (n != 1)} of the env contract:\n{lines}")


class _Broken(Exception):
    """One rule's failure inside a check (becomes a line of EnvCheckError)."""


@dataclass
class _Subject:
    """The env under test: how to build a fresh one, its feature names and its batched form."""

    label: str
    build: Callable[[], Any]
    feature_names: Callable[[], list[str]]
    batched: Callable[[int], Any] | None
    fresh: bool  # build() returns a new env each call (False for an instance)


def _subject(env: Any, env_config: Mapping[str, Any] | None) -> _Subject:
    config = dict(env_config or {})
    if isinstance(env, str):  # a registered name or an import path
        factory = env_factory(env)
        batched = getattr(factory, "batched", None)
        return _Subject(
            repr(env),
            lambda: make(env, **config),
            lambda: reward_feature_names(env, config),
            (lambda n: batched(num_envs=n, **config)) if callable(batched) else None,
            True,
        )
    if isinstance(env, type) or (callable(env) and not (hasattr(env, "reset") and hasattr(env, "step"))):
        batched = getattr(env, "batched", None)  # a class or a factory function
        return _Subject(
            getattr(env, "__qualname__", repr(env)),
            lambda: env(**config),
            lambda: reward_feature_names(env, config),
            (lambda n: batched(num_envs=n, **config)) if callable(batched) else None,
            True,
        )
    if config:
        raise ConfigError("check_env: env_config applies to a class, factory or import path, not to a built env")
    # a built env: its options are unknown, so its features are probed (reset, one seeded random step)
    return _Subject(type(env).__qualname__, lambda: env, lambda: probe_feature_names(env), None, False)


# ---- rollouts ---------------------------------------------------------------------------------------
def _legal_actions(env: Any, obs: Mapping[str, Any], agent: str, rng: np.random.Generator) -> Any:
    space = env.action_space(agent)
    agent_obs = obs.get(agent)
    if isinstance(space, gym.spaces.Discrete):
        if isinstance(agent_obs, Mapping) and MASK_KEY in agent_obs:
            legal = np.flatnonzero(np.asarray(agent_obs[MASK_KEY]) > 0)
            return int(space.start + rng.choice(legal))
        return int(space.start + rng.integers(space.n))
    space.seed(int(rng.integers(2**31)))
    return space.sample()


def _rollout(env: Any, seed: int, steps: int) -> list[tuple]:
    """reset(seed), then seeded random legal actions until the episode ends or ``steps`` steps."""
    rng = np.random.default_rng(seed)
    obs, infos = env.reset(seed=seed)
    record: list[tuple] = [(obs, infos)]
    for _ in range(steps):
        if not env.agents:
            break
        actions = {a: _legal_actions(env, obs, a, rng) for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        record.append((actions, obs, rewards, terms, truncs, infos))
    return record


def _difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two nested values differ (None if equal); arrays compared exactly, NaN equal to NaN."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            return f"{path or 'dict'} keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        for k in a:
            found = _difference(a[k], b[k], f"{path}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path} lengths {len(a)} vs {len(b)}"
        for k, (x, y) in enumerate(zip(a, b)):
            found = _difference(x, y, f"{path}[{k}]")
            if found:
                return found
        return None
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        same = x.shape == y.shape and (
            np.array_equal(x, y, equal_nan=x.dtype.kind in "fc" and y.dtype.kind in "fc") or np.array_equal(x, y)
        )
        return None if same else f"{path} {_short(x)} vs {_short(y)}"
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return None
    try:
        equal = bool(a == b)
    except Exception:  # objects without a usable ==: compare their reprs
        equal = repr(a) == repr(b)
    return None if equal else f"{path} {a!r} vs {b!r}"


def _short(x: np.ndarray) -> str:
    text = np.array2string(x, threshold=8, edgeitems=2)
    return text if len(text) < 80 else text[:77] + "..."


# ---- the rules -----------------------------------------------------------------------------------------
def _check_api(subject: _Subject, seed: int, steps: int) -> None:
    env = subject.build()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its "Passed Parallel API test" line
                parallel_api_test(env, num_cycles=min(steps, API_CYCLES))
        except Warning as w:
            raise _Broken(f"PettingZoo's parallel_api_test warns: {w}") from None
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            text = str(exc) or (where.line or type(exc).__name__)
            raise _Broken(f"PettingZoo's parallel_api_test fails: {type(exc).__name__}: {text}") from None


def _check_determinism(subject: _Subject, seed: int, steps: int) -> None:
    env = subject.build()
    first = _rollout(env, seed, steps)
    again = _rollout(env, seed, steps)
    others = [("a second reset(seed) of the same env", again)]
    if subject.fresh:
        others.append(("a fresh env", _rollout(subject.build(), seed, steps)))
    for what, other in others:
        if len(other) != len(first):
            raise _Broken(f"seed {seed}: the episode lasts {len(first) - 1} steps, in {what} {len(other) - 1}")
        for t, (x, y) in enumerate(zip(first, other)):
            names = STEP_PARTS if t else ("obs", "infos")
            for name, u, v in zip(names, x, y):
                found = _difference(u, v)
                if found:
                    when = "after reset" if t == 0 else f"at step {t}"
                    raise _Broken(
                        f"seed {seed}, same actions: {name} {when} differ in {what}: {found} "
                        "(draw every random number from the generator reset(seed) seeds)"
                    )


def _state_checker(env: Any) -> Callable[[], None] | None:
    """A function checking the env's current state against its space (None: the env has no state)."""
    space = getattr(env, "state_space", None)
    if space is None or not hasattr(env, "state"):
        return None
    rule = GlobalStateRule(env, {a: 1 for a in env.possible_agents})
    if rule.source == ENV_AGENT:

        def check() -> None:
            states = rule._env_agent_states(env)
            for a in env.possible_agents:
                if a not in states:
                    raise _Broken(f"state() has no entry for {a!r}: give every possible agent's, even at the end")
                s = np.asarray(states[a])
                if not space(a).contains(s):
                    raise _Broken(f"state of {a!r} (shape {s.shape}, dtype {s.dtype}) is not in state_space({a!r})")

        return check
    if rule.source == ENV_GLOBAL:

        def check() -> None:
            s = np.asarray(env.state())
            if not space.contains(s):
                raise _Broken(f"state() (shape {s.shape}, dtype {s.dtype}) is not in state_space {space}")

        return check
    return None


def _check_spaces(subject: _Subject, seed: int, steps: int) -> None:
    env = subject.build()
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    check_state = _state_checker(env)
    for t in range(steps + 1):
        for a, o in obs.items():
            if not env.observation_space(a).contains(o):
                shape = np.shape(o) if not isinstance(o, Mapping) else sorted(o)
                raise _Broken(
                    f"{'after reset' if t == 0 else f'at step {t}'}, the observation of {a!r} ({shape}) "
                    f"is not in observation_space({a!r}) = {env.observation_space(a)}"
                )
        if check_state is not None:  # after the last step too: final states bootstrap the critic
            check_state()
        if not env.agents or t == steps:
            break
        obs, *_ = env.step({a: _legal_actions(env, obs, a, rng) for a in env.agents})


def _check_reward_features(subject: _Subject, seed: int, steps: int) -> None:
    expected = list(subject.feature_names())
    record = _rollout(subject.build(), seed, steps)
    for t, (*_, infos) in enumerate(record[1:], start=1):
        for a, info in infos.items():
            feats = info.get(FEATURES_KEY) if isinstance(info, Mapping) else None
            if not expected:
                if feats:
                    raise _Broken(
                        f"step {t}, {a!r} reports reward features {list(feats)} but reward_feature_names is empty "
                        "(give the env class a reward_feature_names(**config) classmethod naming them)"
                    )
                continue
            if not isinstance(feats, Mapping):
                raise _Broken(f"step {t}: infos[{a!r}] has no {FEATURES_KEY!r} dict; expected keys {expected}")
            if list(map(str, feats)) != expected:
                raise _Broken(
                    f"step {t}, {a!r} reports features {list(feats)}; reward_feature_names says {expected} "
                    "(the same names, in the same order, every step)"
                )
            bad = [k for k, v in feats.items() if not np.isfinite(float(v))]
            if bad:
                raise _Broken(f"step {t}, {a!r}: reward features {bad} are not finite")


def _check_batched(subject: _Subject, seed: int, steps: int, num_envs: int = NUM_ENVS) -> None:
    if subject.batched is None:
        return
    batched = subject.batched(num_envs)
    singles = [subject.build() for _ in range(num_envs)]
    copy_seed = getattr(batched, "copy_seed", derive_seed)
    agents = list(batched.possible_agents)
    first = singles[0]
    obs_sizes = {a: int(gym.spaces.flatdim(batched.observation_space(a))) for a in agents}
    rule = GlobalStateRule(first, obs_sizes)
    rng = np.random.default_rng(seed)

    def fail(t: int, i: int, what: str) -> None:
        raise _Broken(
            f"batched form != {num_envs} single envs (copy i reset with copy_seed(seed, i)): "
            f"{'after reset' if t == 0 else f'step {t}'}, copy {i}: {what}"
        )

    def close(x: Any, y: Any) -> bool:
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return x.shape == y.shape and np.allclose(x, y, rtol=TOL, atol=TOL, equal_nan=True)

    def split(o: Any) -> tuple[Any, Any]:
        """A single env's observation -> (the observation the batched form holds, its action mask or None)."""
        if isinstance(o, Mapping) and MASK_KEY in o:
            rest = [k for k in o if k != MASK_KEY]
            return (o[rest[0]] if len(rest) == 1 else o), o[MASK_KEY]
        return o, None

    def compare_obs(t: int, i: int, b_obs: Mapping, b_infos: Mapping, s_obs: Mapping, live: Sequence[str]) -> None:
        for a in live:
            o, mask = split(s_obs[a])
            if not close(b_obs[a][i], o):
                fail(t, i, f"observation of {a!r} differs")
            if mask is not None and not close(b_infos["action_mask"][a][i], mask):
                fail(t, i, f"action mask of {a!r} differs")

    def single_states(i: int) -> dict[str, np.ndarray]:
        flat = {a: np.asarray(split(s_obs[i][a])[0], np.float32).reshape(-1) for a in s_obs[i]}
        return rule.states(singles[i], flat, agents)

    b_obs, b_infos = batched.reset(seed=seed)
    s_obs = [env.reset(seed=copy_seed(seed, i))[0] for i, env in enumerate(singles)]
    returns = [dict.fromkeys(agents, 0.0) for _ in singles]
    for i, env in enumerate(singles):
        compare_obs(0, i, b_obs, b_infos, s_obs[i], env.agents)
    for t in range(1, steps + 1):
        b_state = batched.state()
        for i, env in enumerate(singles):
            for a, s in single_states(i).items():
                if a in env.agents and not close(b_state[a][i], s):
                    fail(t - 1, i, f"global state of {a!r} differs")
        acting = [list(env.agents) for env in singles]
        chosen = [{a: _legal_actions(env, s_obs[i], a, rng) for a in acting[i]} for i, env in enumerate(singles)]
        actions = {a: np.array([c.get(a, 0) for c in chosen]) for a in agents}
        b_obs, b_rew, b_term, b_trunc, b_infos = batched.step(actions)
        for i, env in enumerate(singles):
            obs, rew, term, trunc, info = env.step(chosen[i])
            for a in acting[i]:
                if not close(b_rew[a][i], rew[a]):
                    fail(t, i, f"reward of {a!r}: batched {float(b_rew[a][i])!r}, single {float(rew[a])!r}")
                if bool(b_term[a][i]) != bool(term[a]) or bool(b_trunc[a][i]) != bool(trunc[a]):
                    fail(t, i, f"termination / truncation of {a!r} differ")
                own = info.get(a, {}).get(ORIGINAL_KEY, rew[a]) if isinstance(info.get(a), Mapping) else rew[a]
                if ORIGINAL_KEY in b_infos and not close(b_infos[ORIGINAL_KEY][a][i], own):
                    fail(t, i, f"the env's own reward ({ORIGINAL_KEY}) of {a!r} differs")
                returns[i][a] += float(rew[a])
            done = not env.agents or all(term[a] or trunc[a] for a in acting[i])
            if bool(b_infos["done"][i]) != done:
                fail(t, i, f"episode end: batched done={bool(b_infos['done'][i])}, single done={done}")
            if not done:
                compare_obs(t, i, b_obs, b_infos, obs, env.agents)
                s_obs[i] = obs
                continue
            for a in acting[i]:
                if a in obs and not close(b_infos["final_obs"][a][i], split(obs[a])[0]):
                    fail(t, i, f"final observation of {a!r} differs")
                episode_return = b_infos["episode"][f"return/{a}"][i]
                if not close(episode_return, returns[i][a]):
                    fail(t, i, f"episode return of {a!r}: batched {float(episode_return)}, single {returns[i][a]}")
            s_obs[i] = {**s_obs[i], **obs}
            for a, s in single_states(i).items():
                if a in acting[i] and not close(b_infos["final_state"][a][i], s):
                    fail(t, i, f"final global state of {a!r} differs")
            returns[i] = dict.fromkeys(agents, 0.0)
            s_obs[i], _ = env.reset()  # the generator continues, as in the batched same-step reset
            compare_obs(t, i, b_obs, b_infos, s_obs[i], env.agents)


_CHECKS: dict[str, Callable[[_Subject, int, int], None]] = {
    "api": _check_api,
    "determinism": _check_determinism,
    "spaces": _check_spaces,
    "reward_features": _check_reward_features,
    "batched": _check_batched,
}


def check_env(
    env: Any,
    env_config: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    steps: int = STEPS,
    rules: Sequence[str] = RULES,
) -> None:
    """Check ``env`` against the env contract (module docstring); raise :class:`EnvCheckError` if it breaks a rule.

    ``env``: a registered name, an import path ``"pkg.module:factory"``, a class or factory called as
    ``env(**env_config)``, or a built env (then no batched check, and determinism only by re-reset).
    ``steps``: steps per rollout; keep an episode end within them (a short horizon in ``env_config``)
    to check episode ends and resets too.
    """
    unknown = [r for r in rules if r not in _CHECKS]
    if unknown:
        raise ConfigError(f"unknown env check {unknown[0]!r}; allowed: {', '.join(RULES)}")
    subject = _subject(env, env_config)
    failures: dict[str, str] = {}
    for rule in rules:
        try:
            _CHECKS[rule](subject, seed, steps)
        except _Broken as broken:
            failures[rule] = str(broken)
        except Exception as exc:  # the env's own code raised: that breaks the rule too
            where = traceback.extract_tb(exc.__traceback__)[-1]
            failures[rule] = f"raised {type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
    if failures:
        raise EnvCheckError(subject.label, failures)

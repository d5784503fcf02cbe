"""Errors raised by a user's own env: one line naming the env, the phase and the exception.

``diverse_marl.envs.make`` puts every env that is not the toolkit's own behind a
:class:`UserEnvGuard`. An exception in the env's construction, ``reset`` or ``step`` becomes a
:class:`UserEnvError` that carries the env's import path, the phase, the exception and the
traceback of the user's frames only (the toolkit's, RLlib's and Python's are left out), so the
CLI can show what the user has to fix and nothing else.

Inside a Ray actor (an env runner) the exception does not reach the driver: RLlib logs it and
restarts the actor. The guard therefore also writes the error to a small JSON file named after
the Ray job (in the temp dir of the node), where the training loop of the same job finds it
(:func:`pop_reported_error`). On a multi-node cluster only runners on the driver's node are
seen this way; the others' errors stay in their Ray worker logs.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import sysconfig
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diverse_marl.envs.reward import EnvProxy
from diverse_marl.errors import DiverseMarlError

TOOLKIT_PACKAGE = "diverse_marl"
PHASES = ("construction", "reset", "step")
_LIBRARY_DIRS = tuple(
    {str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib") if (p := sysconfig.get_path(key))}
)


class UserEnvError(DiverseMarlError):
    """A user's env raised in ``phase``; ``user_traceback`` holds the user's own frames, formatted."""

    def __init__(self, env: str, phase: str, exception: str, user_traceback: str = "", hint: str = "") -> None:
        self.env, self.phase, self.exception = env, phase, exception
        self.user_traceback, self.hint = user_traceback, hint
        where = "construction" if phase == "construction" else f"{phase}()"
        super().__init__(f"env {env!r} raised in {where}: {exception}" + (f"; {hint}" if hint else ""))

    def __reduce__(self):  # pickles across Ray (its attributes, not just the message)
        return (UserEnvError, (self.env, self.phase, self.exception, self.user_traceback, self.hint))

    def with_hint(self, hint: str) -> UserEnvError:
        """The same error with ``hint`` (e.g. where the checkpoints are, how to resume) appended."""
        return UserEnvError(self.env, self.phase, self.exception, self.user_traceback, hint)

    def to_json(self) -> dict[str, str]:
        return {"env": self.env, "phase": self.phase, "exception": self.exception, "traceback": self.user_traceback}


def factory_path(factory: Any, name: str = "") -> str:
    """The import path users know an env by (``pkg.module:Factory``); ``name`` if it is one already."""
    if ":" in name:
        return name
    if isinstance(factory, str):
        return factory
    module = getattr(factory, "__module__", None) or "?"
    return f"{module}:{getattr(factory, '__qualname__', type(factory).__name__)}"


def is_user_factory(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` is outside the toolkit (its errors are then the user's to fix)."""
    module = getattr(factory, "__module__", None) or ""
    return module != TOOLKIT_PACKAGE and not module.startswith(TOOLKIT_PACKAGE + ".")


def user_frames(tb: Any, user_package: str) -> traceback.StackSummary:
    """Frames of ``tb`` in the user's code: not the toolkit's, nor in the stdlib or installed
    libraries (unless they belong to ``user_package``, the top package of the env's factory)."""
    kept = []
    for frame, lineno in traceback.walk_tb(tb):
        module = frame.f_globals.get("__name__", "") or ""
        top = module.partition(".")[0]
        if top == TOOLKIT_PACKAGE:
            continue
        path = str(Path(frame.f_code.co_filename).resolve())
        if top != user_package and path.startswith(_LIBRARY_DIRS):
            continue
        kept.append((frame, lineno))
    return traceback.StackSummary.extract(iter(kept))


def user_env_error(env: str, phase: str, exc: BaseException, user_package: str) -> UserEnvError:
    """A :class:`UserEnvError` for ``exc`` caught in the guard (its traceback starts at the guard)."""
    frames = user_frames(exc.__traceback__, user_package)
    text = "".join(frames.format()) if frames else ""
    header = "Traceback of the env's code (most recent call last):\n"
    return UserEnvError(env, phase, f"{type(exc).__name__}: {exc}", header + text if text else "")


def construct(factory: Callable[..., Any], kwargs: dict[str, Any], env: str) -> Any:
    """``factory(**kwargs)`` guarded: the built env answers ``reset``/``step`` through :class:`UserEnvGuard`."""
    package = (getattr(factory, "__module__", None) or "").partition(".")[0]
    try:
        instance = factory(**kwargs)
    except DiverseMarlError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error of the user's code is reported, with its frames
        raise _reported(user_env_error(env, "construction", exc, package)) from None
    return UserEnvGuard(instance, env, package)


class UserEnvGuard(EnvProxy):
    """A user's PettingZoo env whose ``reset`` / ``step`` errors become :class:`UserEnvError`.

    Everything else (spaces, ``state``, attributes, ``set_reward_params``) is the env's own.
    """

    def __init__(self, env: Any, name: str, package: str) -> None:
        self.env, self._name, self._package = env, name, package

    def reset(self, seed: int | None = None, options: dict | None = None):
        try:
            return self.env.reset(seed=seed, options=options)
        except DiverseMarlError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _reported(user_env_error(self._name, "reset", exc, self._package)) from None

    def step(self, actions: dict[str, Any]):
        try:
            return self.env.step(actions)
        except DiverseMarlError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _reported(user_env_error(self._name, "step", exc, self._package)) from None


# ---- errors of env runner actors: a file per Ray session and job ---------------------------------
def _report_path(key: str) -> Path:
    return Path(tempfile.gettempdir()) / "diverse_marl" / f"user_env_error_{key}.json"


def _job_key(ray: Any) -> str:
    """The Ray session and job: job ids restart at 01000000 in every local Ray instance, so by job id
    alone two programs on one machine (a test and a long training) read each other's env errors."""
    context = ray.get_runtime_context()
    return f"{context.get_session_name()}_{context.get_job_id()}"


def _remote_env_runner_job() -> str | None:
    """The Ray session and job (:func:`_job_key`) when the env is stepped by a remote env runner (an actor
    whose runner has ``worker_index > 0``; not the local runner of a driver or a Tune trial), else None."""
    ray = sys.modules.get("ray")  # never imported here: an env used without Ray stays without it
    if ray is None or not ray.is_initialized() or not ray.get_runtime_context().get_actor_id():
        return None
    frame = inspect.currentframe()
    while frame is not None:  # the env runner that called reset/step, up the stack
        runner = frame.f_locals.get("self")
        if type(runner).__name__.endswith("EnvRunner") and getattr(runner, "worker_index", 0):
            return _job_key(ray)
        frame = frame.f_back
    return None


def _reported(error: UserEnvError) -> UserEnvError:
    """In a remote env runner, also leave ``error`` where the driver of the job finds it."""
    job = _remote_env_runner_job()
    if job is not None:
        path = _report_path(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**error.to_json(), "time": time.time()}))
        os.replace(tmp, path)
    return error


def pop_reported_error(since: float = 0.0) -> UserEnvError | None:
    """The user env error an env runner of this Ray session and job reported at or after ``since`` (then removed)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    path = _report_path(_job_key(ray))
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    if float(data.get("time", 0.0)) < since:
        return None
    return UserEnvError(data["env"], data["phase"], data["exception"], data.get("traceback", ""))


def find_user_env_error(exc: BaseException | None) -> UserEnvError | None:
    """The UserEnvError behind ``exc``: itself, its causes, or the cause a Ray task error carries."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, UserEnvError):
            return exc
        ray_cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError(...).cause
        if isinstance(ray_cause, BaseException) and isinstance(found := find_user_env_error(ray_cause), UserEnvError):
            return found
        exc = exc.__cause__ or exc.__context__
    return None

"""Population training: every member of a config's population is one Ray Tune trial.

Members differ by seed (``seed + i``) and by their overrides (``population.members`` /
``population.sample``, see :class:`~diverse_marl.config.PopulationConfig`). Running members
as Tune trials is what lets a population spread over a Ray cluster: with ``ray.address``
set, trials are scheduled on every node with no other change.

    runs/<name>-<timestamp>/
        config.yaml               the base config (with its population block)
        population.json           one entry per member, rewritten as members finish
        member_00/ member_01/ ... ordinary run directories (resolved config.yaml, metrics, checkpoints)
        tune/                     Tune's own records of the trials

``population.json`` is a list of ``{index, name, run_dir (relative), seed, overrides,
reward_weights, status: finished | unfinished, final_metrics}``. Resuming a population
(``diverse-marl train --resume PARENT [--set stop.iterations=N]``) skips the members whose
latest checkpoint meets their stop limits and continues the others from their latest
checkpoints (a raised limit continues every member).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any

from diverse_marl.config import ExperimentConfig, member_config, member_overrides
from diverse_marl.envs.user_code import UserEnvError
from diverse_marl.errors import ConfigError, MemberFailedError
from diverse_marl.metrics import headline_return
from diverse_marl.progress import Progress
from diverse_marl.ray_setup import init_ray
from diverse_marl.run_dir import RunDir, atomic_write_json, atomic_write_text
from diverse_marl.training import RUN_DIR_HINT, TrainHooks, TrainResult, reached_stop, run_single

# "SomeError: message" lines in a Ray error's text (root_cause picks the innermost)
_CAUSE_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)(\([^)]*\))?: \S")

POPULATION_FILE = "population.json"
FINISHED, UNFINISHED = "finished", "unfinished"


def member_dir_name(index: int) -> str:
    return f"member_{index:02d}"


def is_population_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / POPULATION_FILE).is_file()


class PopulationRecord:
    """``population.json``: one entry per member, written atomically after every change."""

    def __init__(self, parent: Path, configs: list[ExperimentConfig], overrides: list[dict[str, Any]], resume: bool):
        self.path = parent / POPULATION_FILE
        self.parent = parent
        self.entries = [
            {
                "index": i,
                "name": member_dir_name(i),
                "run_dir": member_dir_name(i),
                "seed": c.seed,
                "overrides": overrides[i],
                "reward_weights": c.env_config.get("reward_weights"),
                # resuming, a member is finished when its checkpoint meets its (possibly raised) stop
                "status": FINISHED if resume and reached_stop(c, parent / member_dir_name(i)) else UNFINISHED,
                "final_metrics": self.final_metrics(i),
            }
            for i, c in enumerate(configs)
        ]
        self.write()

    def final_metrics(self, index: int) -> dict[str, Any]:
        rows = RunDir(self.parent / member_dir_name(index)).read_metrics()
        return rows[-1] if rows else {}

    def unfinished(self) -> list[int]:
        return [e["index"] for e in self.entries if e["status"] != FINISHED]

    def finish(self, index: int) -> None:
        self.entries[index].update(status=FINISHED, final_metrics=self.final_metrics(index))
        self.write()

    def write(self) -> None:
        atomic_write_json(self.path, self.entries)


def train_population(
    cfg: ExperimentConfig,
    parent: str | os.PathLike,
    *,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train (or with ``resume`` continue) every unfinished member of ``cfg``'s population in ``parent``.

    Returns a TrainResult whose ``metrics`` are the members' final rows and ``members`` their run dirs.
    """
    overrides = member_overrides(cfg)
    configs = [member_config(cfg, i, o) for i, o in enumerate(overrides)]
    resources = []
    for i, member_cfg in enumerate(configs):  # algorithm options and env spaces, before Ray starts
        try:
            rllib_config = member_cfg.to_rllib()
        except ConfigError as exc:
            raise ConfigError(f"population member {i} (overrides {overrides[i]}): {exc}") from None
        # what the member's algorithm will ask Ray for (its driver + remote env runners)
        resources.append(rllib_config.algo_class.default_resource_request(rllib_config))
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(parent / "config.yaml", cfg.to_yaml())
    record = PopulationRecord(parent, configs, overrides, resume)
    pending = record.unfinished()
    bar = Progress(
        total=len(configs),
        desc=f"population {cfg.name}",
        unit="member",
        quiet=quiet,
        initial=len(configs) - len(pending),
    )
    try:
        if pending:
            failed = _run_trials(cfg, parent, configs, resources, pending, record, bar, resume)
            if failed:
                index, cause = next(iter(failed.items()))
                raise MemberFailedError(
                    f"population members {sorted(failed)} failed (member {index}: {cause}; full errors under "
                    f"{parent / 'tune'}); fix the cause and continue with: diverse-marl train --resume {parent}"
                )
    finally:
        bar.close()
    members = [parent / member_dir_name(i) for i in range(len(configs))]
    return TrainResult(
        run_dir=parent, config=cfg, metrics=[e["final_metrics"] for e in record.entries], members=members
    )


def _run_trials(
    cfg: ExperimentConfig,
    parent: Path,
    configs: list[ExperimentConfig],
    resources: list[Any],
    pending: list[int],
    record: PopulationRecord,
    bar: Progress,
    resume: bool,
) -> dict[int, str]:
    """One Tune trial per pending member, each reserving its algorithm's resource request (so members
    with remote env runners never starve each other); returns ``{member index: last line of its error}``
    for failed trials."""
    from ray import tune  # Ray: only when a population trains

    init_ray(cfg.ray)

    def member(params: dict[str, Any]) -> None:
        i = int(params["member"])
        report = TrainHooks(on_iteration=lambda row: tune.report({**row, "member": i}))
        run_single(configs[i], parent / member_dir_name(i), report, resume=resume, quiet=True)

    class MemberTracker(tune.Callback):
        """Driver side: mark members finished in population.json and show live per-member metrics."""

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            i = int(trial.config["member"])
            bar.note(**{f"m{i}": f"it{result.get('iteration')} ret {headline_return(result):.3g}"})

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            record.finish(int(trial.config["member"]))
            bar.update(1)

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no Tune status tables; our bar says enough
    tuner = tune.Tuner(
        tune.with_resources(member, lambda params: resources[int(params["member"])]),
        param_space={"member": tune.grid_search(pending)},
        tune_config=tune.TuneConfig(max_concurrent_trials=cfg.population.max_concurrent),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=str(parent.resolve()),
            verbose=0,
            progress_reporter=None,
            callbacks=[MemberTracker()],
        ),
    )
    with _quiet_logger("ray.tune"):  # a failed trial is reported once, by us, with where its traceback is
        grid = tuner.fit()
    return {int(res.config["member"]): root_cause(res.error) for res in grid if res.error}


def root_cause(error: BaseException) -> str:
    """The innermost ``SomeError: message`` line of a (Ray-wrapped, chained) error, for a one-line report."""
    lines = [ln.strip() for ln in str(error).splitlines()]
    causes = [ln for ln in lines if _CAUSE_LINE.match(ln) and not ln.startswith("ray.")]
    cause = causes[-1] if causes else (lines[-1] if lines and lines[-1] else type(error).__name__)
    # a user env's error already names the env, the phase and the exception; its advice on resuming
    # is the member's, and the population's own message says how to resume the whole population
    prefix = f"{UserEnvError.__module__}.{UserEnvError.__name__}: "
    if cause.startswith(prefix):
        cause = cause[len(prefix) :].split(f"; {RUN_DIR_HINT}", 1)[0]
    return cause


@contextlib.contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def train_stage(
    cfg: ExperimentConfig, root: Path, stage: str, method: str, resume: bool = False, quiet: bool = False
) -> TrainResult:
    """One population stage (``root/stage``) of a multi-stage method (RPG, HSP, FCP): a crashed
    member's error tells to resume the whole method run, not the stage."""
    try:
        return train_population(cfg, root / stage, resume=resume, quiet=quiet)
    except MemberFailedError as exc:
        raise MemberFailedError(
            f"{method} stage {stage}: " + str(exc).replace(f"--resume {root / stage}", f"--resume {root}")
        ) from None

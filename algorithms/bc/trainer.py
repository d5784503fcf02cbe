"""The BC training loop: epochs of cross-entropy on human actions, early stopping, report.

``training.half`` picks the human pairs the clone is fitted on (``bc`` or ``proxy``, see
:mod:`.data`); the other half is its held-out data. One iteration of the run is one epoch over
the fitted half minus its validation trials. The checkpoint holds the weights with the lowest
validation loss so far (that is the policy users load) and ``bc_state.pt`` (current weights,
optimizer, epoch counters) so ``--resume`` continues exactly. Training stops at the config's
``stop`` limits (``iterations`` = epochs) or after ``patience`` epochs without a lower validation
loss. At the end the run writes ``bc_report.json`` and ``report.md``: on the held-out half,
accuracy, cross-entropy and non-stay accuracy beside the majority-action and marginal baselines
(:mod:`.validity`), and the sparse return of the policy paired with itself (as loaded).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from diverse_marl.algorithms.bc.data import Samples, dataset_path, half_splits, load_samples, validation_split
from diverse_marl.algorithms.bc.family import OPTIONS
from diverse_marl.algorithms.bc.policy import accuracy, make_network, predict_probs, write_checkpoint
from diverse_marl.algorithms.bc.validity import baselines, prediction_metrics
from diverse_marl.config import ExperimentConfig
from diverse_marl.envs.overcooked.core import NUM_ACTIONS
from diverse_marl.envs.overcooked.env import AGENTS
from diverse_marl.envs.overcooked.layouts import list_layouts
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.loading import load_policy
from diverse_marl.metrics import SPARSE_RETURN_MEAN, SPARSE_RETURN_STD
from diverse_marl.progress import Progress
from diverse_marl.rollout import play_batched, summarize_episodes
from diverse_marl.run_dir import RunDir, atomic_write_json, atomic_write_text, read_checkpoint_meta
from diverse_marl.training import TrainHooks, TrainResult, should_stop

STATE_FILE = "bc_state.pt"
# a 64x64 MLP on 64-sample batches: one torch thread is fastest; a second one spins and, on a busy
# machine, made an epoch ~25x slower in CPU time (measured: 300 steps 0.43 s vs 10.6 s)
TORCH_THREADS = 1
REPORT_JSON, REPORT_MD = "bc_report.json", "report.md"


def check_config(cfg: ExperimentConfig) -> dict[str, Any]:
    """BC's options with defaults filled in; ConfigError for what BC cannot do."""
    if cfg.env != "overcooked":
        raise ConfigError(f"algorithm bc clones human Overcooked play; env must be 'overcooked', got {cfg.env!r}")
    layout = cfg.env_config.get("layout", "cramped_room")
    if layout not in list_layouts():
        raise ConfigError(
            f"algorithm bc needs a classic layout with human data; got {layout!r}; allowed: {', '.join(list_layouts())}"
        )
    if cfg.env_config.get("obs", "featurized") != "featurized":
        raise ConfigError("algorithm bc uses featurized observations (as Carroll et al. 2019); drop env_config.obs")
    for key in ("partners", "reward_schedule", "init_from"):
        if getattr(cfg, key):
            raise ConfigError(f"algorithm bc does not take {key}: it fits recorded human actions")
    if cfg.population.enabled or cfg.method:
        raise ConfigError("algorithm bc trains one run; drop population / method")
    opts = {**{k: v[0] for k, v in OPTIONS.items()}, **cfg.training}
    if not 0 < opts["validation_fraction"] < 1:
        raise ConfigError(f"training.validation_fraction must be in (0, 1), got {opts['validation_fraction']}")
    for key in ("batch_size", "patience", "eval_episodes"):
        if opts[key] < 1:
            raise ConfigError(f"training.{key} must be >= 1, got {opts[key]}")
    for key in ("stuck_steps", "history"):
        if isinstance(opts[key], bool) or not isinstance(opts[key], int) or opts[key] < 0:
            raise ConfigError(f"training.{key} must be an integer >= 0, got {opts[key]!r}")
    half_splits(opts["half"])
    return opts


def train_bc(
    cfg: ExperimentConfig,
    run_dir: str | os.PathLike,
    hooks: TrainHooks | None = None,
    *,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Fit, checkpoint and report one BC run (see module docstring); ``resume`` continues from the latest checkpoint."""
    opts = check_config(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        return _train(cfg, run_dir, hooks, opts, resume, quiet)
    finally:
        torch.set_num_threads(threads)


def _train(
    cfg: ExperimentConfig,
    run_dir: str | os.PathLike,
    hooks: TrainHooks | None,
    opts: dict[str, Any],
    resume: bool,
    quiet: bool,
) -> TrainResult:
    layout = cfg.env_config.get("layout", "cramped_room")
    fit_split, _ = half_splits(opts["half"])
    samples = load_samples(opts["data_dir"], layout, fit_split, opts["history"])
    train, val = validation_split(samples, opts["validation_fraction"], cfg.seed)
    rd = RunDir(run_dir)
    rd.path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(rd.config_path, cfg.to_yaml())

    torch.manual_seed(cfg.seed)
    in_dim = samples.obs.shape[1]
    obs_dim = in_dim - opts["history"] * NUM_ACTIONS  # the env's observation; the rest is the action history
    net = make_network(in_dim, NUM_ACTIONS, opts["hidden_sizes"])
    best = make_network(in_dim, NUM_ACTIONS, opts["hidden_sizes"])
    best.load_state_dict(net.state_dict())
    optim = torch.optim.Adam(net.parameters(), lr=opts["lr"], weight_decay=opts["weight_decay"])
    state = {"epoch": 0, "best_val_loss": math.inf, "since_best": 0, "early_stopped": False, "time_s": 0.0}
    metrics: list[dict[str, Any]] = []
    checkpoint = rd.latest_checkpoint() if resume else None
    if checkpoint is not None:
        try:
            saved = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
            net.load_state_dict(saved["net"])
            best.load_state_dict(saved["best"])
            optim.load_state_dict(saved["optimizer"])
            state.update(saved["counters"])
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file; all mean corrupt
            raise CheckpointError(
                f"checkpoint {str(checkpoint)!r} is corrupt: cannot resume from {STATE_FILE} "
                f"({type(exc).__name__}: {exc})"
            ) from None
        metrics = [r for r in rd.read_metrics() if r.get("iteration", 0) <= state["epoch"]]

    def save() -> Path:
        def write(path: str) -> None:
            write_checkpoint(path, best, obs_dim, NUM_ACTIONS, AGENTS, opts["stuck_steps"], opts["history"])
            torch.save(
                {
                    "net": net.state_dict(),
                    "best": best.state_dict(),
                    "optimizer": optim.state_dict(),
                    "counters": dict(state),
                },
                Path(path) / STATE_FILE,
            )

        meta = {"env_steps": 0, "time_s": state["time_s"], "algorithm": cfg.algorithm, "env": cfg.env}
        return rd.save_checkpoint(state["epoch"], write, meta, keep=cfg.keep_checkpoints)

    loss_fn = nn.CrossEntropyLoss()
    start, before = time.time(), state["time_s"]
    bar = Progress(total=cfg.stop.iterations, desc=f"bc {cfg.name}", unit="epoch", quiet=quiet, initial=state["epoch"])
    try:
        while not state["early_stopped"] and not should_stop(cfg.stop, state["epoch"], 0, before + time.time() - start):
            state["epoch"] += 1
            train_loss = _epoch(net, optim, loss_fn, train, opts["batch_size"], cfg.seed + state["epoch"])
            with torch.no_grad():
                val_loss = float(loss_fn(net(torch.from_numpy(val.obs)), torch.from_numpy(val.actions)))
            if val_loss < state["best_val_loss"]:
                state.update(best_val_loss=val_loss, since_best=0)
                best.load_state_dict(net.state_dict())
            else:
                state["since_best"] += 1
            state["early_stopped"] = state["since_best"] >= opts["patience"]
            state["time_s"] = before + time.time() - start
            row = {
                "iteration": state["epoch"],
                "env_steps": 0,
                "time_s": round(state["time_s"], 3),
                "train_loss": train_loss,
                "train_accuracy": accuracy(net, train.obs, train.actions),
                "val_loss": val_loss,
                "val_accuracy": accuracy(net, val.obs, val.actions),
                "best_val_loss": state["best_val_loss"],
                "epochs_since_best": state["since_best"],
            }
            metrics.append(row)
            rd.write_metrics(metrics)
            if state["epoch"] % cfg.checkpoint_every == 0 or state["early_stopped"]:
                checkpoint = save()
            if hooks is not None and hooks.on_iteration is not None:
                hooks.on_iteration(row)
            bar.update(1, val_loss=val_loss, val_acc=row["val_accuracy"])
        if checkpoint is None or read_checkpoint_meta(checkpoint)["iteration"] != state["epoch"]:
            checkpoint = save()
    finally:
        bar.close()
    write_report(cfg, rd, opts, best, train, val, quiet)
    return TrainResult(run_dir=rd.path, config=cfg, metrics=metrics, checkpoint=checkpoint)


def _epoch(
    net: nn.Module, optim: torch.optim.Optimizer, loss_fn: nn.Module, data: Samples, batch_size: int, seed: int
) -> float:
    """One pass over ``data`` in seeded random minibatches; the mean loss."""
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(data)))
    obs, actions = torch.from_numpy(data.obs), torch.from_numpy(data.actions)
    total = 0.0
    for k in range(0, len(order), batch_size):
        rows = order[k : k + batch_size]
        loss = loss_fn(net(obs[rows]), actions[rows])
        optim.zero_grad()
        loss.backward()
        optim.step()
        total += loss.item() * len(rows)
    return total / max(len(order), 1)


def write_report(
    cfg: ExperimentConfig, rd: RunDir, opts: dict[str, Any], best: nn.Module, train: Samples, val: Samples, quiet: bool
) -> dict[str, Any]:
    """``bc_report.json`` + ``report.md``: held-out metrics beside the baselines, and self-play return."""
    layout = cfg.env_config.get("layout", "cramped_room")
    fit_split, test_split = half_splits(opts["half"])
    report: dict[str, Any] = {
        "layout": layout,
        "half": opts["half"],
        "fit_split": fit_split,
        "history": opts["history"],
        "train_samples": len(train),
        "validation_samples": len(val),
        "validation_accuracy": accuracy(best, val.obs, val.actions),
    }
    if dataset_path(opts["data_dir"], layout, test_split).is_file():
        test = load_samples(opts["data_dir"], layout, test_split, opts["history"])
        fit_actions = np.concatenate([train.actions, val.actions])
        report.update(test_split=test_split, test=prediction_metrics(predict_probs(best, test.obs), test.actions))
        report["test_baselines"] = baselines(fit_actions, test.actions)
    policy = load_policy(rd.path, seed=cfg.evaluation.seed)
    env_config = {k: v for k, v in cfg.env_config.items() if k != "reward_weights"}
    episodes = play_batched(
        cfg.env, env_config, {a: policy for a in AGENTS}, opts["eval_episodes"], seed=cfg.evaluation.seed, quiet=quiet
    )
    summary = summarize_episodes(episodes)
    report.update(
        self_play_episodes=opts["eval_episodes"],
        self_play_sparse_return_mean=summary[SPARSE_RETURN_MEAN],
        self_play_sparse_return_std=summary[SPARSE_RETURN_STD],
        stuck_steps=opts["stuck_steps"],
    )
    atomic_write_json(rd.path / REPORT_JSON, report)
    atomic_write_text(rd.path / REPORT_MD, report_markdown(cfg.name, report))
    return report


def report_markdown(name: str, r: dict[str, Any]) -> str:
    lines = [
        f"# BC report: {name}",
        "",
        f"Layout `{r['layout']}`, half `{r['half']}` (fitted on the {r['fit_split']} file); "
        f"{r['train_samples']} samples fitted, {r['validation_samples']} in the validation trials "
        f"(both players' steps); own last {r['history']} actions as input.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| validation action accuracy | {r['validation_accuracy']:.3f} |",
    ]
    if "test" in r:
        t, b = r["test"], r["test_baselines"]
        lines += [
            f"| held-out ({r['test_split']} file, {t['samples']} samples) accuracy | {t['accuracy']:.3f} |",
            f"| ... always the majority action ({b['majority_action']}) | {b['majority_accuracy']:.3f} |",
            f"| held-out cross-entropy (nats) | {t['cross_entropy']:.3f} |",
            f"| ... the marginal action distribution | {b['marginal_cross_entropy']:.3f} |",
            f"| held-out accuracy on non-stay actions | {t['non_stay_accuracy']:.3f} |",
        ]
    rule = f"after {r['stuck_steps']} unchanged steps" if r["stuck_steps"] else "off"
    lines += [
        f"| sparse return paired with itself ({r['self_play_episodes']} episodes) | "
        f"{r['self_play_sparse_return_mean']:.1f} ± {r['self_play_sparse_return_std']:.1f} |",
        "",
        f"Anti-stuck rule: {rule} (see algorithms/bc/policy.py).",
        "",
    ]
    return "\n".join(lines)

"""The human-proxy validity report (Carroll et al. 2019's protocol): is each clone a human you can trust?

Per layout, clones of the two disjoint halves of the 2019 human pairs (``training.half``: ``bc``
is the partner agents train with, ``proxy`` the evaluation partner ``H_proxy``; see
``diverse_marl.algorithms.bc.data``), several seeds each. For every clone, on the *other* half:
accuracy and cross-entropy beside the majority-action and marginal baselines, accuracy on the
non-stay actions (``diverse_marl.algorithms.bc.validity``); then deliveries per episode of the clone
paired with itself, over episodes as long as the human trials, beside the human pairs' own
deliveries in the data (and the same rollouts with the anti-stuck rule off, to show what it does).

``build_report`` trains (or reuses) the clones under ``work_dir`` and returns the report; ``write_report``
writes ``report.json`` + ``report.md``. ``python -m bench.human_proxy`` runs both per layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.algorithms import load_policy
from diverse_marl.algorithms.bc.data import HALVES, read_trials
from diverse_marl.algorithms.bc.validity import human_deliveries
from diverse_marl.config import load_config
from diverse_marl.envs.overcooked.layouts import get_layout
from diverse_marl.errors import ConfigError
from diverse_marl.experiment import train
from diverse_marl.metrics import SPARSE_RETURN
from diverse_marl.rollout import play_batched
from diverse_marl.run_dir import RunDir, atomic_write_json, atomic_write_text

HALF_NAMES = {"bc": "BC", "proxy": "H_proxy"}
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_EPISODES = 20  # proxy+proxy episodes per clone
CE_MARGIN = 0.10  # "clearly below the marginal baseline": at least 10% lower cross-entropy
MAX_EPOCHS = 200  # early stopping ends far sooner (30-60 epochs on the 2019 data)


def clone_config(
    layout: str, half: str, seed: int, data_dir: str | os.PathLike, max_epochs: int = MAX_EPOCHS, **training: Any
) -> dict[str, Any]:
    """The config of one clone (``algorithm: bc``): the examples' settings, ``half`` and ``seed`` set;
    ``training`` overrides BC options (``diverse-marl options``)."""
    return {
        "name": f"{HALF_NAMES[half].lower()}-{layout}-seed{seed}",
        "algorithm": "bc",
        "env": "overcooked",
        "seed": int(seed),
        "env_config": {"layout": layout, "old_dynamics": True, "horizon": 400},
        "stop": {"iterations": int(max_epochs)},
        "checkpoint_every": 10,
        "training": {"data_dir": str(Path(data_dir).resolve()), "half": half, "eval_episodes": 1, **training},
    }


def _relative(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (reports name no machine's paths)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def is_trained(config: dict[str, Any], run_dir: Path) -> bool:
    """Has ``run_dir`` a finished clone of exactly ``config``?"""
    report_path, config_path = run_dir / "bc_report.json", run_dir / "clone_config.json"
    return report_path.is_file() and config_path.is_file() and json.loads(config_path.read_text()) == config


def train_clone(config: dict[str, Any], run_dir: Path, quiet: bool = True) -> dict[str, Any]:
    """Train one clone into ``run_dir`` (reused when its report exists with the same config); its bc_report."""
    report_path, config_path = run_dir / "bc_report.json", run_dir / "clone_config.json"
    if is_trained(config, run_dir):
        return json.loads(report_path.read_text())
    saved = RunDir(run_dir).config_path
    if saved.is_file():  # an interrupted run of this config continues (from scratch if it saved nothing)
        if saved.read_text() != load_config(config).to_yaml():
            raise ConfigError(f"{str(run_dir)!r} holds a clone of another config; remove it or pick another work dir")
        train(resume=run_dir, quiet=quiet)
    else:
        train(config, run_dir=run_dir, quiet=quiet)
    atomic_write_json(config_path, config)
    return json.loads(report_path.read_text())


def pair_deliveries(
    run_dir: Path, layout: str, horizon: int, episodes: int, seed: int, stuck_rule: bool = True
) -> list[int]:
    """Soups delivered per episode by the clone paired with itself (old dynamics, ``horizon`` steps)."""
    policy = load_policy(run_dir, seed=seed)
    if not stuck_rule and hasattr(policy, "stuck_steps"):
        policy.stuck_steps = 0
    env_config = {"layout": layout, "old_dynamics": True, "horizon": int(horizon)}
    played = play_batched("overcooked", env_config, {"agent_0": policy, "agent_1": policy}, episodes, seed=seed)
    per_soup = get_layout(layout).delivery_reward
    return [int(round(e[SPARSE_RETURN] / per_soup)) for e in played]


def build_report(
    layout: str,
    data_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    episodes: int = DEFAULT_EPISODES,
    quiet: bool = True,
    max_epochs: int = MAX_EPOCHS,
    train_missing: bool = True,
    **training: Any,
) -> dict[str, Any]:
    """Train (or reuse) a clone per half and seed under ``work_dir``; the validity report of ``layout``.

    ``train_missing=False`` reports only the clones already trained (with this config) and lists the
    others under ``missing_clones``: a report from a partial run, never a silent gap."""
    humans = {half: human_deliveries(read_trials(data_dir, layout, HALVES[half][0])["trials"]) for half in HALVES}
    everyone = humans["bc"]["per_trial"] + humans["proxy"]["per_trial"]
    horizon = int(np.median([humans[h]["trial_length_median"] for h in HALVES]))
    report: dict[str, Any] = {
        "layout": layout,
        "protocol": "BC fitted on overcooked-ai 1.1.0's clean_train_trials, H_proxy on clean_test_trials "
        "(disjoint human pairs, Carroll et al. 2019); each judged on the other half",
        "seeds": list(seeds),
        "episodes_per_clone": episodes,
        "episode_horizon": horizon,
        "human_deliveries": {
            **{HALF_NAMES[h]: humans[h] for h in HALVES},
            "all": {"min": int(min(everyone)), "max": int(max(everyone)), "mean": float(np.mean(everyone))},
        },
        "ce_margin": CE_MARGIN,
        "halves": {},
        "missing_clones": [],
    }
    for half in HALVES:
        clones = []
        for seed in seeds:
            run_dir = Path(work_dir) / layout / f"{half}_seed{seed}"
            config = clone_config(layout, half, seed, data_dir, max_epochs, **training)
            if not train_missing and not is_trained(config, run_dir):
                report["missing_clones"].append(f"{HALF_NAMES[half]} seed {seed}")
                continue
            bc = train_clone(config, run_dir, quiet)
            with_rule = pair_deliveries(run_dir, layout, horizon, episodes, seed)
            without_rule = pair_deliveries(run_dir, layout, horizon, episodes, seed, stuck_rule=False)
            clones.append(
                {
                    "seed": seed,
                    "run_dir": _relative(run_dir),
                    "history": bc["history"],
                    "stuck_steps": bc["stuck_steps"],
                    "test_split": bc["test_split"],
                    **{k: bc["test"][k] for k in ("samples", "accuracy", "cross_entropy", "non_stay_accuracy")},
                    "baselines": {k: v for k, v in bc["test_baselines"].items() if k != "marginal"},
                    "deliveries": with_rule,
                    "deliveries_mean": float(np.mean(with_rule)),
                    "deliveries_without_stuck_rule_mean": float(np.mean(without_rule)),
                }
            )
        if clones:
            report["halves"][HALF_NAMES[half]] = summarize_half(clones, report["human_deliveries"]["all"])
    return report


def summarize_half(clones: list[dict[str, Any]], human_range: dict[str, Any]) -> dict[str, Any]:
    """Seed means of one half's clones and whether they pass (CE, accuracy, deliveries in the human range)."""

    def mean(key: str) -> float:
        return float(np.mean([c[key] for c in clones]))

    base = clones[0]["baselines"]  # the baselines depend on the data only, not the seed
    ce, marginal = mean("cross_entropy"), base["marginal_cross_entropy"]
    deliveries = mean("deliveries_mean")
    return {
        "clones": clones,
        "accuracy": mean("accuracy"),
        "majority_accuracy": base["majority_accuracy"],
        "cross_entropy": ce,
        "marginal_cross_entropy": marginal,
        "non_stay_accuracy": mean("non_stay_accuracy"),
        "deliveries_mean": deliveries,
        "deliveries_without_stuck_rule_mean": mean("deliveries_without_stuck_rule_mean"),
        "checks": {
            "cross_entropy_clearly_below_marginal": bool(ce <= (1 - CE_MARGIN) * marginal),
            "accuracy_at_least_majority": bool(mean("accuracy") >= base["majority_accuracy"]),
            "deliveries_in_human_range": bool(human_range["min"] <= deliveries <= human_range["max"]),
        },
    }


def report_markdown(r: dict[str, Any]) -> str:
    h = r["human_deliveries"]
    lines = [
        f"# Human proxy validity: {r['layout']}",
        "",
        f"{r['protocol']}. Seeds {r['seeds']}; cross-entropy in nats on the held-out half; deliveries per "
        f"episode of {r['episode_horizon']} steps (the human trials' median length, old dynamics), "
        f"{r['episodes_per_clone']} episodes per clone paired with itself.",
        "",
        "| clone | accuracy | majority baseline | cross-entropy | marginal baseline | non-stay accuracy "
        "| deliveries (proxy+proxy) | without anti-stuck rule | checks passed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in r["halves"].items():
        passed = sum(s["checks"].values())
        lines.append(
            f"| {name} | {s['accuracy']:.3f} | {s['majority_accuracy']:.3f} | {s['cross_entropy']:.3f} | "
            f"{s['marginal_cross_entropy']:.3f} | {s['non_stay_accuracy']:.3f} | {s['deliveries_mean']:.1f} | "
            f"{s['deliveries_without_stuck_rule_mean']:.1f} | {passed}/{len(s['checks'])} |"
        )
    lines += [
        "",
        "Human pairs' deliveries per trial: "
        + "; ".join(f"{name} half {h[name]['per_trial']} (mean {h[name]['mean']:.1f})" for name in ("BC", "H_proxy"))
        + f"; range over all pairs {h['all']['min']}-{h['all']['max']}.",
        "",
        "Per seed:",
        "",
        "| clone | seed | accuracy | cross-entropy | non-stay accuracy | deliveries mean (min-max) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in r["halves"].items():
        for c in s["clones"]:
            lines.append(
                f"| {name} | {c['seed']} | {c['accuracy']:.3f} | {c['cross_entropy']:.3f} | "
                f"{c['non_stay_accuracy']:.3f} | {c['deliveries_mean']:.1f} "
                f"({min(c['deliveries'])}-{max(c['deliveries'])}) |"
            )
    checks = [
        f"- {name}: " + ", ".join(f"{k.replace('_', ' ')}: {'yes' if v else 'NO'}" for k, v in s["checks"].items())
        for name, s in r["halves"].items()
    ]
    lines += ["", f"Checks (cross-entropy at least {r['ce_margin']:.0%} below the marginal baseline):", "", *checks, ""]
    if r.get("missing_clones"):
        lines += [f"Not trained in time, so not in this report: {', '.join(r['missing_clones'])}.", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """``<out_dir>/report.json`` and ``report.md`` (atomic writes)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", report_markdown(report))
    return out / "report.json", out / "report.md"

"""Plots and a short text report for training runs (``diverse-marl analyze RUN_DIR ...``).

Reads only files of the run directory (``metrics.jsonl``, ``config.yaml``, its newest ``evals/*.json``),
so it works on runs from any machine without Ray.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from diverse_marl.analysis.descriptors import MIN_ROLE_SHARE, SHARE_PREFIX  # noqa: E402
from diverse_marl.errors import DiverseMarlError  # noqa: E402
from diverse_marl.metrics import (  # noqa: E402
    EPISODE_PREFIX,
    EPISODE_RETURN_MEAN,
    SPARSE_RETURN,
    SPARSE_RETURN_MEAN,
    episode_key,
    headline_return_key,
)
from diverse_marl.run_dir import RunDir, atomic_write_text, latest_evaluation  # noqa: E402

RETURN_KEYS = (episode_key(SPARSE_RETURN), EPISODE_RETURN_MEAN)  # the curves of the returns panel
MAX_BEHAVIOUR_LINES = 10
MAX_REPORT_STATS = 20  # most variable behaviour statistics listed in report.md


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        if key in r and r[key] is not None:
            xs.append(r.get("env_steps", r.get("iteration", 0)))
            ys.append(float(r[key]))
    return xs, ys


def _load_run(path: str | os.PathLike) -> tuple[RunDir, list[dict[str, Any]]]:
    rd = RunDir(path)
    if not rd.path.is_dir():
        raise DiverseMarlError(f"{path} does not exist")
    rows = rd.read_metrics()
    if not rows:
        raise DiverseMarlError(f"{path} has no metrics (expected {rd.metrics_jsonl.name}); is it a run directory?")
    return rd, rows


def main_return_key(rows: list[dict[str, Any]]) -> str:
    """The headline return of the rows (:func:`diverse_marl.metrics.headline_return_key`)."""
    return headline_return_key(rows)


def plot_training(rows: list[dict[str, Any]], out: Path, title: str = "") -> Path:
    """A 2x2 figure: returns, per-agent returns, learner stats, behaviour statistics."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0, 0]
    for key in RETURN_KEYS:
        xs, ys = _series(rows, key)
        if xs:
            ax.plot(xs, ys, label=key.split("/")[-1])
    ax.set(title="episode return", xlabel="env steps")
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    keys = sorted({k for r in rows for k in r if k.startswith("agent_episode_returns_mean/")})
    for key in keys:
        ax.plot(*_series(rows, key), label=key.split("/")[-1])
    ax.set(title="return by agent", xlabel="env steps")
    if keys:
        ax.legend(fontsize=8)

    ax = axes[1, 0]
    keys = sorted(
        {k for r in rows for k in r if k.startswith("learner/") and k.endswith(("/entropy", "/vf_explained_var"))}
    )
    for key in keys:
        ax.plot(*_series(rows, key), label=key.replace("learner/", ""))
    ax.set(title="learner", xlabel="env steps")
    if keys:
        ax.legend(fontsize=8)

    ax = axes[1, 1]
    keys = behaviour_keys(rows)[:MAX_BEHAVIOUR_LINES]
    for key in keys:
        ax.plot(*_series(rows, key), label=key.replace(EPISODE_PREFIX, ""))
    ax.set(title="behaviour statistics (per episode)", xlabel="env steps")
    if keys:
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.text(
            0.5,
            0.5,
            "this env reports no behaviour statistics",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="gray",
        )
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out


def behaviour_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Behaviour statistics that vary over training, most variable first."""
    keys = {k for r in rows for k in r if k.startswith(EPISODE_PREFIX) and k != episode_key(SPARSE_RETURN)}
    spread = {}
    for key in keys:
        _, ys = _series(rows, key)
        if ys:
            spread[key] = max(ys) - min(ys)
    return sorted((k for k in spread if spread[k] > 0), key=lambda k: -spread[k]) + sorted(
        k for k in spread if spread[k] == 0
    )


def write_report(rd: RunDir, rows: list[dict[str, Any]], out_dir: Path, plot: Path) -> Path:
    key = main_return_key(rows)
    _, ys = _series(rows, key)
    last = rows[-1]
    lines = [f"# Run report: {rd.path.name}", ""]
    if rd.config_path.exists():
        cfg = yaml.safe_load(rd.config_path.read_text()) or {}
        lines += [
            f"- algorithm: `{cfg.get('algorithm')}`, env: `{cfg.get('env')}` {cfg.get('env_config') or ''}",
            f"- seed: {cfg.get('seed')}",
        ]
    lines += [
        f"- iterations: {last.get('iteration')}, env steps: {last.get('env_steps')}, "
        f"wall time: {last.get('time_s', 0):.0f} s",
        f"- {key}: first {ys[0]:.2f}, last {ys[-1]:.2f}, best {max(ys):.2f}" if ys else f"- no {key} recorded",
    ]
    if last.get("steps_per_s"):
        lines.append(f"- throughput (last iteration): {last['steps_per_s']:.0f} env steps/s")
    eval_path = latest_evaluation(rd.path)
    if eval_path is not None:
        ev = json.loads(eval_path.read_text())
        lines.append(
            f"- evaluation: {ev.get('episodes')} episodes, mean return {ev.get('return_mean', float('nan')):.2f} "
            f"± {ev.get('return_std', float('nan')):.2f}"
            + (f", mean sparse return {ev[SPARSE_RETURN_MEAN]:.2f}" if SPARSE_RETURN_MEAN in ev else "")
        )
    bkeys = behaviour_keys(rows)
    if bkeys:
        lines += ["", "## Behaviour statistics (last iteration, mean per episode; most variable first)", ""]
        lines += [f"- {k.replace('episode/', '')}: {last[k]:.3g}" for k in bkeys[:MAX_REPORT_STATS] if k in last]
        if len(bkeys) > MAX_REPORT_STATS:
            lines.append(f"- ... {len(bkeys) - MAX_REPORT_STATS} more in metrics.csv")
    lines += ["", f"![training curves]({os.path.relpath(plot, out_dir)})", ""]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return report


def plot_comparison(runs: list[tuple[RunDir, list[dict[str, Any]]]], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5))
    for rd, rows in runs:
        key = main_return_key(rows)
        ax.plot(*_series(rows, key), label=f"{rd.path.name} ({key.split('/')[-1]})")
    ax.set(title="episode return", xlabel="env steps")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def analyze_runs(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike | None = None) -> list[Path]:
    """Write ``training_curves.png`` + ``report.md`` per run (and ``comparison.png`` for several)."""
    runs = [_load_run(p) for p in run_dirs]
    written: list[Path] = []
    for rd, rows in runs:
        out_dir = Path(out) / rd.path.name if out and len(runs) > 1 else Path(out) if out else rd.path / "analysis"
        plot = plot_training(rows, out_dir / "training_curves.png", title=rd.path.name)
        written += [plot, write_report(rd, rows, out_dir, plot)]
    if len(runs) > 1:
        written.append(plot_comparison(runs, Path(out or ".") / "comparison.png"))
    return written


# ---------------------------------------------------------------------------------------
# populations: strategy clusters in words
# ---------------------------------------------------------------------------------------
DISTINGUISHING_PER_CLUSTER = 4  # descriptors named per cluster in report.md
MAX_MATRIX_MEMBERS = 12  # report.md prints every cross-play pair up to this many members
MIN_EFFECT_SD = 0.5  # a descriptor is named when its cluster mean differs by this many sds
DESCRIPTOR_LINE = "- {direction} `{name}`: {inside} vs {outside} in the other clusters ({effect:+.1f} sd)"
EVEN_SPLIT_TOLERANCE = 0.15  # shares within this of an even split are "shared"
DISTANCE_LABELS = {
    "descriptors": "standardized descriptor",
    "roles": "role-share (who does what)",
    "mmd": "state-distribution (RBF MMD)",
    "wasserstein": "state-distribution (Wasserstein)",
    "sliced_wasserstein": "state-distribution (sliced Wasserstein)",
    "crossplay": "cross-play",
}
FIGURE_TITLES = {
    "population_map": "population map",
    "dendrogram": "dendrogram",
    "silhouette": "choice of k",
    "descriptor_profiles": "descriptor profiles",
    "crossplay_clusters": "cross-play by cluster",
    "learning_curves": "learning curves",
}


def cluster_differences(
    X: Any, labels: Any, names: Sequence[str], cluster: int, top: int = DISTINGUISHING_PER_CLUSTER
) -> list[dict[str, Any]]:
    """The descriptors whose mean in ``cluster`` differs most from the other members', in sd units."""
    X, labels = np.asarray(X, dtype=float), np.asarray(labels)
    inside, outside = X[labels == cluster], X[labels != cluster]
    if not len(inside) or not len(outside):
        return []
    sd = X.std(axis=0)
    effect = (inside.mean(axis=0) - outside.mean(axis=0)) / np.where(sd > 0, sd, np.inf)
    order = [j for j in np.argsort(-np.abs(effect), kind="stable")[:top] if abs(effect[j]) >= MIN_EFFECT_SD]
    return [
        {
            "name": names[j],
            "inside": float(inside[:, j].mean()),
            "outside": float(outside[:, j].mean()),
            "effect": float(effect[j]),
            "direction": "higher" if effect[j] > 0 else "lower",
        }
        for j in order
    ]


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def describe_share(agent: str | None, share: float, phrase: tuple[str, str, str]) -> str:
    """``agent_0 pots 94% of the onions`` / ``agent_1 delivers every soup`` / ``agent_1 pots none of the onions``
    (without the agent when ``agent`` is None: ``pots 94% of the onions``)."""
    verb, plural, singular = phrase
    if share >= 0.995:
        text = f"{verb} every {singular}"
    elif share <= 0.005:
        text = f"{verb} none of the {plural}"
    else:
        text = f"{verb} {_percent(share)} of the {plural}"
    return text if agent is None else f"{agent} {text}"


def phrase_for(event: str, phrases: Mapping[str, tuple[str, str, str]]) -> tuple[str, str, str]:
    """The env's phrase for ``event`` (``ROLE_EVENTS``), else a plain one."""
    return tuple(phrases.get(event, ("does", f"`{event}` events", f"`{event}` event")))  # type: ignore[return-value]


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def who_does_what(
    shares: Mapping[str, Mapping[str, float]],
    phrases: Mapping[str, tuple[str, str, str]],
    events: Sequence[str] | None = None,
    min_share: float = MIN_ROLE_SHARE,
) -> str:
    """One sentence on the jobs. Per event (in ``events`` order, a soup's order for Overcooked) the agent
    doing at least ``min_share`` of it, grouped by agent, then the events the agents share about evenly;
    e.g. "agent_0 pots 94% of the onions; agent_1 plates 90% of the soups and delivers every soup;
    agent_0 and agent_1 share: fetching the dishes (55% / 45%)". Events missing from an agent's shares
    (too few to say) are left out."""
    agents = list(shares)
    if not agents:
        return ""
    events = [e for e in (events or list(next(iter(shares.values())))) if all(e in shares[a] for a in agents)]
    jobs: dict[str, list[str]] = {}
    shared, mixed = [], []
    for event in events:
        top = max(agents, key=lambda a: shares[a][event])
        phrase = phrase_for(event, phrases)
        split = " / ".join(_percent(shares[a][event]) for a in agents)
        if shares[top][event] >= min_share:
            jobs.setdefault(top, []).append(describe_share(None, shares[top][event], phrase))
        elif all(abs(shares[a][event] - 1 / len(agents)) <= EVEN_SPLIT_TOLERANCE for a in agents):
            shared.append(f"{phrase[0]} the {phrase[1]} ({split})")
        else:
            mixed.append(f"{phrase[0]} the {phrase[1]} ({split})")
    parts = [f"{agent} {_join(done)}" for agent, done in jobs.items()]
    if shared:
        parts.append(f"{' and '.join(agents)} share: {_join(shared)}")
    if mixed:
        parts.append(f"unevenly ({' / '.join(agents)}): {_join(mixed)}")
    return "; ".join(parts)


def _format_value(name: str, value: float) -> str:
    return _percent(value) if f"/{SHARE_PREFIX}" in name else f"{value:.3g}"


def crossplay_block_means(V: Any, labels: Any, k: int) -> Any:
    """(k, k) mean cross-play value of agent_0 from cluster i with agent_1 from cluster j (NaN if empty)."""
    V, labels = np.asarray(V, dtype=float), np.asarray(labels)
    out = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            rows, cols = np.flatnonzero(labels == i), np.flatnonzero(labels == j)
            if len(rows) and len(cols):
                block = V[np.ix_(rows, cols)]
                if i == j and len(rows) > 1:  # a member with itself is self-play, not mixing
                    block = block[~np.eye(len(rows), dtype=bool)]
                out[i, j] = block.mean()
    return out


def crossplay_lines(crossplay: Any, V: Any, labels: Any, k: int, names: Sequence[str]) -> list[str]:
    """report.md's cross-play section: what mixing strategies costs (cluster blocks), then every pair."""
    seat_a, seat_b = (", ".join(side) for side in crossplay.seats[:2])  # cross-play has two sides
    lines = ["", "## Cross-play: mixing strategies", ""]
    if k > 1:
        B = crossplay_block_means(V, labels, k)
        lines += [
            f"Mean {crossplay.metric} when {seat_a} comes from the row's cluster and {seat_b} from the column's "
            "(a cluster with itself: its members paired with each other, or self-play for a single member):",
            "",
            f"| {seat_a} from | " + " | ".join(f"{seat_b} from cluster {j + 1}" for j in range(k)) + " |",
            "|---" * (k + 1) + "|",
        ]
        lines += [f"| cluster {i + 1} | " + " | ".join(f"{B[i, j]:.1f}" for j in range(k)) + " |" for i in range(k)]
        diag, off = np.nanmean(np.diag(B)), np.nanmean(B[~np.eye(k, dtype=bool)])
        cost = ""
        if diag > 0:
            cost = f" (mixing costs {100 * (1 - off / diag):.0f}%)" if off < diag else " (mixing costs nothing)"
        lines += ["", f"Within a strategy: {diag:.1f}; across strategies: {off:.1f}{cost}.", ""]
    if len(names) <= MAX_MATRIX_MEMBERS:
        lines += [
            f"Every pair, {crossplay.metric} ({seat_a}: the row's member, {seat_b}: the column's):",
            "",
            "| | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        lines += [f"| {n} | " + " | ".join(f"{v:.1f}" for v in row) + " |" for n, row in zip(names, V.tolist())]
    return lines


def write_population_report(result: Any, out_dir: Path, figures: dict[str, Path]) -> Path:
    """``report.md`` of a :class:`~diverse_marl.analysis.pipeline.PopulationAnalysis`: clusters, sizes,
    what sets each apart (in words from :data:`DESCRIPTOR_LINE`), cross-play within and across."""
    labels, names, k = result.labels, result.names, result.clusters.n_clusters_
    headline = result.headline
    episodes = next(iter(result.rollouts.values())).episodes
    how = "k chosen by silhouette" if result.clusters.n_clusters == "auto" else f"k = {result.clusters.n_clusters}"
    if result.clusters.method == "hdbscan":
        how = "HDBSCAN's own number of clusters"
    mode = "greedy" if result.deterministic else "sampled"
    lines = [
        f"# Strategy analysis: {len(names)} members",
        "",
        f"Env `{result.env}` {result.env_config or ''}; {episodes} self-play episodes per member ({mode} "
        "actions); "
        f"clustered on {DISTANCE_LABELS.get(result.distance, result.distance)} distances with "
        f"{result.clusters.method} clustering ({how}).",
        "",
        f"**{k} strateg{'y' if k == 1 else 'ies'} found.**"
        + (
            f" Stability over rollout seeds: mean adjusted Rand index {result.stability:.2f}."
            if result.stability is not None
            else ""
        ),
    ]
    summary = result.summary()
    if "ari_vs_groups" in summary:
        lines.append(f"Agreement with the members' known groups: adjusted Rand index {summary['ari_vs_groups']:.2f}.")
    lines += [
        "",
        f"| cluster | size | members | self-play {result.headline_name} (mean over members) |",
        "|---|---|---|---|",
    ]
    for c in range(k):
        members = result.members_of(c)
        lines.append(
            f"| {c + 1} | {len(members)} | {', '.join(members)} | {np.mean([headline[m] for m in members]):.1f} |"
        )
    noise = result.members_of(-1)
    if noise:
        lines.append(f"| noise | {len(noise)} | {', '.join(noise)} | {np.mean([headline[m] for m in noise]):.1f} |")
    V = None if result.crossplay is None else np.asarray(result.crossplay.value_mean)
    member_shares, phrases = result.role_shares, result.role_phrases
    events = list(phrases)
    member_roles = result.roles
    roles = {}
    for c in range(k):
        members = result.members_of(c)
        if not member_shares:
            roles[c] = ""
            continue
        agents = list(member_shares[members[0]])
        mean = {  # over the members whose team does the event often enough to say
            a: {
                e: float(np.mean(vals))
                for e in events
                if (vals := [member_shares[m][a][e] for m in members if e in member_shares[m][a]])
            }
            for a in agents
        }
        roles[c] = who_does_what(mean, phrases, events)
    for c in range(k):
        members = result.members_of(c)
        best = max(members, key=lambda m: headline[m])
        lines += [
            "",
            f"## Cluster {c + 1}: {len(members)} member{'s' if len(members) != 1 else ''}",
            "",
            f"Members: {', '.join(members)}. Best self-play {result.headline_name}: {headline[best]:.1f} ({best}).",
        ]
        if roles[c]:
            lines.append(f"Who does what (self-play, mean over the cluster's members): {roles[c]}.")
        diffs = cluster_differences(result.descriptors, labels, result.descriptor_names, c)
        if diffs:
            lines += ["Compared with the other members, this cluster has"]
            lines += [
                DESCRIPTOR_LINE.format(
                    **{
                        **d,
                        "inside": _format_value(d["name"], d["inside"]),
                        "outside": _format_value(d["name"], d["outside"]),
                    }
                )
                for d in diffs
            ]
        elif k > 1:
            lines.append(f"No descriptor differs by {MIN_EFFECT_SD} sd or more from the other members.")
        if V is not None and k > 1:
            idx, rest = np.flatnonzero(labels == c), np.flatnonzero(labels != c)
            within = V[np.ix_(idx, idx)].mean()
            across = (V[np.ix_(idx, rest)].mean() + V[np.ix_(rest, idx)].mean()) / 2
            lines.append(
                f"Cross-play {result.crossplay.metric}: {within:.1f} within the cluster, {across:.1f} "
                "with members of other clusters."
            )
        gif = figures.get(f"cluster_{c + 1}.gif")
        if gif is not None:
            lines.append(f"Representative episode: [{gif.name}]({os.path.relpath(gif, out_dir)}).")
    if V is not None:
        lines += crossplay_lines(result.crossplay, V, labels, k, names)
    lines += ["", "## Members", ""]
    if member_roles:
        lines += [f"| member | cluster | self-play {result.headline_name} | who does what |", "|---|---|---|---|"]
        lines += [
            f"| {n} | {'noise' if c < 0 else c + 1} | {headline[n]:.1f} | {member_roles[n]} |"
            for n, c in zip(names, labels.tolist())
        ]
    else:
        lines += [f"| member | cluster | self-play {result.headline_name} |", "|---|---|---|"]
        lines += [
            f"| {n} | {'noise' if c < 0 else c + 1} | {headline[n]:.1f} |" for n, c in zip(names, labels.tolist())
        ]
    shown = [(key, path) for key, path in figures.items() if key in FIGURE_TITLES]
    if shown:
        lines += ["", "## Figures", ""]
        lines += [f"![{FIGURE_TITLES[key]}]({os.path.relpath(path, out_dir)})" for key, path in shown]
    report = Path(out_dir) / "report.md"
    atomic_write_text(report, "\n".join(lines) + "\n")
    return report

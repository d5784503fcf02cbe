"""A population, analysed end to end: rollouts -> descriptors -> distances -> clusters, cross-play, figures, report.

    from diverse_marl import load_population
    from diverse_marl.analysis.pipeline import analyze_population
    result = analyze_population(load_population("runs/rpg-overcooked-..."), out="runs/.../analysis")
    result.labels          # strategy cluster of each member
    result.report          # path of report.md

Every step is also usable alone (``analysis.rollouts``, ``descriptors``, ``distances``,
``clustering``, ``plots``, ``report``); this module only strings them together with defaults a
paper would use: standardized descriptor distances, average-linkage hierarchical clustering with
k chosen by silhouette, and a cross-play matrix with members grouped by cluster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from diverse_marl.agents import Agent, PolicyAgent
from diverse_marl.analysis import plots
from diverse_marl.analysis.clustering import StrategyClusters, cluster_stability
from diverse_marl.analysis.crossplay_report import write_crossplay
from diverse_marl.analysis.descriptors import (
    SHARE_PREFIX,
    DescriptorSet,
    FunctionDescriptor,
    default_descriptors,
    env_role_events,
    event_totals,
    role_shares,
)
from diverse_marl.analysis.distances import crossplay_distance, descriptor_distances, state_distances
from diverse_marl.analysis.members import FactoryMember, build_population
from diverse_marl.analysis.report import DISTANCE_LABELS, who_does_what, write_population_report
from diverse_marl.analysis.rollouts import PopulationRollouts, collect_rollouts, default_env
from diverse_marl.crossplay import CrossplayResult, crossplay_matrix
from diverse_marl.envs import make as make_env
from diverse_marl.errors import ConfigError
from diverse_marl.metrics import SPARSE_RETURN, headline_return_key
from diverse_marl.rollout import run_episode
from diverse_marl.run_dir import RunDir, atomic_write_json

DISTANCES = tuple(DISTANCE_LABELS)  # what members can be clustered on (the report's names for them)
# the distances on descriptors: how descriptor_distances scales their columns (roles: shares as they are)
DESCRIPTOR_METRIC = {"descriptors": "standardized", "roles": "euclidean"}
# descriptors: every descriptor, z-scored; roles: who does what only (each agent's share of each job, in
# share points: 0.5 apart = half of a job changed hands); the rest compare state distributions or cross-play

DEFAULT_EPISODES = 8  # self-play rollouts per member
DEFAULT_CROSSPLAY_EPISODES = 4  # episodes per cross-play cell
GIF_FPS = 8
GIF_MAX_FRAMES = 150  # an episode's first steps: enough to see a strategy, small enough to embed
MIN_ROLE_EVENTS = 1.0  # a job in words needs the team to do it at least once an episode on average


@dataclass
class PopulationAnalysis:
    """What :func:`analyze_population` found; ``files`` lists what it wrote."""

    names: list[str]
    env: str
    env_config: dict[str, Any]
    rollouts: PopulationRollouts
    descriptors: np.ndarray
    descriptor_names: list[str]
    distances: np.ndarray
    distance: str
    clusters: StrategyClusters
    headline: dict[str, float]  # member -> mean self-play headline return
    headline_name: str
    deterministic: bool = False
    crossplay: CrossplayResult | None = None
    crossplay_distances: np.ndarray | None = None
    stability: float | None = None
    groups: dict[str, str] = field(default_factory=dict)
    role_shares: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # member -> agent -> event
    role_phrases: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # event -> how to say it
    files: list[Path] = field(default_factory=list)
    report: Path | None = None

    @property
    def roles(self) -> dict[str, str]:
        """Member -> who does what in its self-play, in words ({} if the env lists no ``ROLE_EVENTS``)."""
        return {n: who_does_what(s, self.role_phrases, list(self.role_phrases)) for n, s in self.role_shares.items()}

    @property
    def labels(self) -> np.ndarray:
        return self.clusters.labels_

    def members_of(self, cluster: int) -> list[str]:
        return [n for n, lab in zip(self.names, self.labels.tolist()) if lab == cluster]

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (``analysis.json``)."""
        out: dict[str, Any] = {
            "env": self.env,
            "env_config": self.env_config,
            "members": self.names,
            "distance": self.distance,
            "method": self.clusters.method,
            "n_clusters": self.clusters.n_clusters_,
            "labels": {n: int(c) for n, c in zip(self.names, self.labels.tolist())},
            "silhouette": {str(k): v for k, v in self.clusters.silhouette_.items()},
            "headline": self.headline_name,
            "self_play": self.headline,
            "deterministic": self.deterministic,
            "stability_ari": self.stability,
            "descriptor_names": self.descriptor_names,
            "descriptors": self.descriptors.tolist(),
            "distances": self.distances.tolist(),
        }
        if self.groups:
            from sklearn.metrics import adjusted_rand_score  # scikit-learn: slow to import, loaded on first use

            out["groups"] = self.groups
            out["ari_vs_groups"] = float(adjusted_rand_score([self.groups.get(n, n) for n in self.names], self.labels))
        if self.role_shares:
            out["role_shares"] = self.role_shares
            out["roles"] = self.roles
        if self.crossplay is not None:
            out["crossplay_metric"] = self.crossplay.metric
            out["crossplay"] = self.crossplay.value_mean
            out["crossplay_distances"] = self.crossplay_distances.tolist()
        return out


def _distances(
    kind: str,
    rollouts: PopulationRollouts,
    X: np.ndarray,
    names: Sequence[str],
    xplay: CrossplayResult | None,
    random_state: int,
) -> np.ndarray:
    if kind in DESCRIPTOR_METRIC:
        return descriptor_distances(X[:, descriptor_columns(kind, names)], DESCRIPTOR_METRIC[kind])
    if kind == "crossplay":
        if xplay is None:
            raise ConfigError("distance 'crossplay' needs the cross-play matrix; set crossplay_episodes >= 1")
        return crossplay_distance(xplay)
    return state_distances(rollouts, kind, random_state=random_state)


def analyze_population(
    population: Any,
    env: str | None = None,
    env_config: Mapping[str, Any] | None = None,
    episodes: int = DEFAULT_EPISODES,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    descriptors: DescriptorSet | None = None,
    distance: str = "descriptors",
    method: str = "hierarchical",
    n_clusters: int | str = "auto",
    crossplay_episodes: int = DEFAULT_CROSSPLAY_EPISODES,
    stability_seeds: Sequence[int] = (),
    gifs: bool = True,
    deterministic: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    quiet: bool = True,
) -> PopulationAnalysis:
    """Analyse ``population`` (a Population, or anything iterable of members with ``name``/``policy``).

    ``env``/``env_config`` default to the first run member's evaluation env. ``distance``: what
    members are clustered on (:data:`DISTANCES`). ``stability_seeds``: further rollout seeds whose
    clusterings are compared with this one (mean adjusted Rand index). ``deterministic``: greedy or
    sampled actions; None follows the first run member's ``evaluation.deterministic`` (sampled for
    scripted-only populations). With ``out``, writes the
    figures (PNG + SVG), ``analysis.json``, ``crossplay.json`` and ``report.md`` there.
    """
    if distance not in DISTANCES:
        raise ConfigError(f"unknown distance {distance!r}; allowed: {', '.join(DISTANCES)}")
    members = list(population)
    if not members:
        raise ConfigError("cannot analyse an empty population")
    if env is None:
        env, base = default_env(members)
        env_config = {**base, **dict(env_config or {})}
    env_config = dict(env_config or {})
    if deterministic is None:
        deterministic = _run_setting(members, "deterministic", False)
    rollouts = collect_rollouts(members, env, env_config, episodes, seed, deterministic, cache_dir, quiet)
    descriptor_set = descriptors or default_descriptors()
    X = descriptor_set.fit_transform(rollouts)
    descriptor_names = descriptor_set.get_feature_names_out()
    xplay = None
    if crossplay_episodes > 0:
        xplay = crossplay_matrix(
            {m.name: m for m in members},
            env,
            env_config,
            episodes=crossplay_episodes,
            seed=seed,
            deterministic=deterministic,
            seats=crossplay_seats(first_agents(rollouts)),
            quiet=quiet,
        )
    D, clusters = cluster_rollouts(distance, rollouts, descriptor_set, X, xplay, seed, method, n_clusters)
    stability = None
    if stability_seeds:
        labelings = [clusters.labels_]
        kind = distance if distance != "crossplay" else "descriptors"
        for s in stability_seeds:
            again = collect_rollouts(members, env, env_config, episodes, int(s), deterministic, cache_dir, quiet)
            Xs = descriptor_set.fit_transform(again)
            labelings.append(
                cluster_rollouts(kind, again, descriptor_set, Xs, xplay, seed, method, n_clusters)[1].labels_
            )
        stability = cluster_stability(labelings)[0]
    first = next(iter(rollouts.values()))
    headline_name = SPARSE_RETURN if not np.isnan(first.sparse_returns).any() else "team return"
    result = PopulationAnalysis(
        names=[m.name for m in members],
        env=env,
        env_config=env_config,
        rollouts=rollouts,
        descriptors=X,
        descriptor_names=descriptor_names,
        distances=D,
        distance=distance,
        clusters=clusters,
        headline={n: float(r.headline_returns().mean()) for n, r in rollouts.items()},
        headline_name=headline_name,
        deterministic=bool(deterministic),
        crossplay=xplay,
        crossplay_distances=None if xplay is None else crossplay_distance(xplay),
        stability=stability,
        groups=rollouts.groups,
        **population_roles(rollouts),
    )
    if out is not None:
        write_outputs(result, members, Path(out), gifs=gifs, seed=seed)
    return result


def cluster_rollouts(
    distance: str,
    rollouts: PopulationRollouts,
    descriptor_set: Any,
    X: np.ndarray,
    xplay: Any,
    seed: int,
    method: str,
    n_clusters: int | str,
) -> tuple[np.ndarray, StrategyClusters]:
    """The members' (n, n) distances and their clustering, with the rollout noise of the descriptor
    distances as the clustering's noise scale. The stability check re-clusters each further rollout
    seed through here too, so every labeling it compares is made by the same rule."""
    names = descriptor_set.get_feature_names_out()
    D = _distances(distance, rollouts, X, names, xplay, seed)
    noise = None
    if distance in DESCRIPTOR_METRIC:
        columns = descriptor_columns(distance, names)
        noise = descriptor_noise(rollouts, descriptor_set, X, columns, DESCRIPTOR_METRIC[distance])
    clusters = StrategyClusters(method, n_clusters=n_clusters, metric="precomputed", random_state=seed)
    return D, clusters.fit(D, noise_scale=noise)


def population_roles(rollouts: PopulationRollouts) -> dict[str, Any]:
    """``role_shares`` (member -> agent -> event -> share) over the env's ``ROLE_EVENTS``, and their
    ``role_phrases``; both empty for envs that list none. A member's shares cover the events its team
    does at least ``MIN_ROLE_EVENTS`` times an episode (rarer ones say nothing about jobs)."""
    try:
        phrases = env_role_events(rollouts.env)
    except ConfigError:
        return {}
    enough = {n: [e for e in phrases if event_totals(r, e) >= MIN_ROLE_EVENTS] for n, r in rollouts.items()}
    phrases = {e: p for e, p in phrases.items() if any(e in events for events in enough.values())}
    if not phrases:
        return {}
    shares = {n: role_shares(r, enough[n]) for n, r in rollouts.items()}
    return {"role_shares": shares, "role_phrases": phrases}


def descriptor_columns(kind: str, names: Sequence[str]) -> list[int]:
    """The descriptor columns a distance on descriptors (``DESCRIPTOR_METRIC``) uses: all, or the role shares."""
    return role_columns(names) if kind == "roles" else list(range(len(names)))


def role_columns(names: Sequence[str]) -> list[int]:
    """The descriptor columns that say who does what (``agent_0/share:potting_onion``); ConfigError if none."""
    cols = [i for i, n in enumerate(names) if f"/{SHARE_PREFIX}" in n]
    if not cols:
        raise ConfigError(
            "distance 'roles' needs jobs the agents split unevenly (RoleShares columns); this population has "
            "none: its env lists no ROLE_EVENTS and reports no per-agent events, or every member splits "
            "every job evenly; use distance 'descriptors'"
        )
    return cols


def descriptor_noise(
    rollouts: PopulationRollouts,
    descriptor_set: Any,
    X: np.ndarray,
    columns: Sequence[int] | None = None,
    metric: str = "standardized",
) -> float | None:
    """Rollout noise in descriptor distance: the median over members of the distance between the
    descriptors of their even and odd episodes (None with fewer than 2 episodes).

    ``columns``: the descriptors the distance uses (default all); ``metric``: their scaling in
    :func:`descriptor_distances`, ``standardized`` (z-scores over members; columns constant over members
    carry no member differences and are left out) or ``euclidean`` (as they are: role shares). Two halves of
    n/2 episodes differ by about sqrt(2) times what two rollouts of n episodes of one strategy would, so this
    is generous.
    """
    if min(r.episodes for r in rollouts.values()) < 2:
        return None
    cols = list(range(X.shape[1])) if columns is None else list(columns)
    halves = [{n: r.subset(slice(k, None, 2)) for n, r in rollouts.items()} for k in (0, 1)]
    A, B = (np.asarray(descriptor_set.transform(h), dtype=np.float64)[:, cols] for h in halves)
    scale = X[:, cols].std(axis=0) if metric == "standardized" else np.ones(len(cols))
    keep = scale > 0
    if not keep.any():
        return None
    return float(np.median(np.linalg.norm((A[:, keep] - B[:, keep]) / scale[keep], axis=1)))


def first_agents(rollouts: PopulationRollouts) -> list[str]:
    return list(next(iter(rollouts.values())).agents)


def crossplay_seats(agents: Sequence[str]) -> list[list[str]]:
    """The two sides of cross-play: the two agents, or two teams named by prefix (``hider_0, hider_1`` vs
    ``seeker_0, seeker_1``): member i plays the first side, member j the second."""
    if len(agents) == 2:
        return [[agents[0]], [agents[1]]]
    teams: dict[str, list[str]] = {}
    for a in agents:
        teams.setdefault(a.rsplit("_", 1)[0], []).append(a)
    if len(teams) != 2:
        raise ConfigError(
            f"cross-play needs two sides; agents {', '.join(agents)} form {len(teams)} teams by name "
            "prefix; use crossplay_episodes=0 (--crossplay-episodes 0)"
        )
    return list(teams.values())


def _run_setting(members: Sequence[Any], key: str, default: Any) -> Any:
    """An ``evaluation:`` setting of the first run member's config (``default`` if none has one)."""
    for m in members:
        evaluation = (getattr(m, "metadata", {}).get("config") or {}).get("evaluation") or {}
        if evaluation.get(key) is not None:
            return evaluation[key]
    return default


def learning_curves(members: Sequence[Any]) -> tuple[dict[str, tuple[list[float], list[float]]], str]:
    """``{member: (env steps, headline return)}`` from run members' metrics, and the key used."""
    rows = {m.name: RunDir(m.path).read_metrics() for m in members if getattr(m, "path", None) is not None}
    key = headline_return_key(r for rs in rows.values() for r in rs)
    curves = {}
    for name, rs in rows.items():
        pts = [
            (r.get("env_steps", r.get("iteration", 0)), float(r[key]))
            for r in rs
            if isinstance(r.get(key), (int, float))
        ]
        if pts:
            curves[name] = ([p[0] for p in pts], [p[1] for p in pts])
    return curves, key


def medoids(result: PopulationAnalysis) -> dict[int, str]:
    """The most central member of each cluster (smallest summed distance to its cluster mates)."""
    out = {}
    for c in range(result.clusters.n_clusters_):
        idx = np.flatnonzero(result.labels == c)
        within = result.distances[np.ix_(idx, idx)].sum(axis=1)
        out[c] = result.names[int(idx[np.argmin(within)])]
    return out


def record_gif(member: Any, env: str, env_config: Mapping[str, Any], path: Path, seed: int = 0) -> Path | None:
    """One self-play episode of ``member`` rendered to a GIF (None if the env cannot render RGB)."""
    import imageio.v2 as imageio  # imageio: only when writing GIFs

    try:
        game = make_env(env, **{**dict(env_config), "render_mode": "rgb_array"})
    except (ConfigError, TypeError):
        return None
    players = {a: member.policy(a) for a in game.possible_agents}
    agents = {a: p if isinstance(p, Agent) else PolicyAgent(p) for a, p in players.items()}
    frames: list = []
    run_episode(game, agents, seed=seed, frames=frames)
    game.close()
    frames = [f for f in frames if f is not None][:GIF_MAX_FRAMES]
    if not frames:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.gif")
    imageio.mimsave(tmp, frames, duration=1.0 / GIF_FPS, loop=0)
    os.replace(tmp, path)
    return path


def write_outputs(
    result: PopulationAnalysis, members: Sequence[Any], out: Path, gifs: bool = True, seed: int = 0
) -> None:
    """Figures, JSON and the Markdown report of an analysis into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    labels = result.labels
    figs: dict[str, Path] = {}

    def keep(name: str, fig: Any) -> None:
        paths = plots.save_figure(fig, out / name)
        plt.close(fig)
        result.files.extend(paths)
        figs[name] = paths[0]

    keep(
        "population_map",
        plots.plot_embedding(
            plots.embed(result.distances, seed),
            labels,
            result.names,
            title=f"population map (MDS of {DISTANCE_LABELS[result.distance]} distances)",
        ),
    )
    if result.clusters.method == "hierarchical" and getattr(result.clusters, "linkage_", None) is not None:
        keep("dendrogram", plots.plot_dendrogram(result.clusters.linkage_, result.names, labels))
    if result.clusters.silhouette_:
        keep("silhouette", plots.plot_silhouette(result.clusters.silhouette_, result.clusters.n_clusters_))
    keep("descriptor_profiles", plots.plot_profiles(result.descriptors, labels, result.descriptor_names))
    if result.crossplay is not None:
        keep("crossplay_clusters", plots.plot_crossplay_clusters(result.crossplay, labels))
        result.files.extend(write_crossplay(result.crossplay, out))
    curves, key = learning_curves(members)
    if curves:
        keep(
            "learning_curves",
            plots.plot_learning_curves(
                curves, {n: int(c) for n, c in zip(result.names, labels.tolist())}, ylabel=key.split("/")[-1]
            ),
        )
    if gifs:
        by_name = {m.name: m for m in members}
        for c, name in medoids(result).items():
            gif = record_gif(by_name[name], result.env, result.env_config, out / f"cluster_{c + 1}.gif", seed)
            if gif is not None:
                result.files.append(gif)
                figs[f"cluster_{c + 1}.gif"] = gif
    summary = out / "analysis.json"
    atomic_write_json(summary, result.summary())
    result.files.append(summary)
    result.report = write_population_report(result, out, figs)
    result.files.append(result.report)


def analyze_paths(
    sources: Sequence[str],
    out: str | os.PathLike | None = None,
    env: str | None = None,
    env_updates: Mapping[str, Any] | None = None,
    copies: int = 1,
    descriptor_fns: Sequence[str] = (),
    **options: Any,
) -> PopulationAnalysis:
    """What ``diverse-marl analyze`` does with populations: sources -> members -> :func:`analyze_population`.

    ``sources``: run dirs, population / RPG / other method dirs (any folder of run dirs) and
    ``[name=]pkg.module:factory`` members (``copies`` seeded copies each). The env is ``env`` or the
    first run member's evaluation env, its config updated by ``env_updates``. Writes into ``out``
    (default: ``<the one given folder>/analysis``, else ``./population-analysis``).
    """
    population = build_population(sources, env_updates, copies=copies, seed=options.get("seed", 0))
    if env is None:
        if all(getattr(m, "path", None) is None for m in population):
            raise ConfigError(
                "scripted members only: name the env with --env (and its options with --set env_config.KEY=VALUE)"
            )
        env, base = default_env(population)
        env_config = {**base, **dict(env_updates or {})}
    else:
        env_config = dict(env_updates or {})
    for m in population:  # factory members build their players for this env
        if isinstance(m, FactoryMember):
            m.env_config = dict(env_config)
    if out is None:
        out = (
            Path(sources[0]) / "analysis"
            if len(sources) == 1 and Path(sources[0]).is_dir()
            else Path("population-analysis")
        )
    descriptors = default_descriptors([FunctionDescriptor(fn) for fn in descriptor_fns])
    return analyze_population(population, env, env_config, out=out, descriptors=descriptors, **options)


def is_single_run(source: str | os.PathLike) -> bool:
    """A run directory by itself (config.yaml + checkpoints/), not a folder of runs."""
    path = Path(source)
    return (path / "config.yaml").is_file() and (path / "checkpoints").is_dir()

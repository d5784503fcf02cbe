"""Differential test: our Overcooked encodings vs overcooked-ai 1.1.0 on stored reference states.

Fixtures (``tests/fixtures/overcooked``) hold states saved as ``OvercookedState.to_dict()`` and the
reference's ``featurize_state_mdp`` / ``lossless_state_encoding_mdp`` outputs; they are made by
``tools/make_overcooked_fixtures.py`` in a separate venv (the reference needs numpy<2).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from diverse_marl.envs.overcooked.core import BatchState, OvercookedDynamics
from diverse_marl.envs.overcooked.features import Featurizer
from diverse_marl.envs.overcooked.layouts import get_layout
from diverse_marl.envs.overcooked.planning import UNREACHABLE, distance_tables
from diverse_marl.envs.overcooked.state_dict import state_from_dict, state_to_dict
from diverse_marl.errors import ConfigError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "overcooked"
LAYOUTS = [
    "cramped_room",
    "asymmetric_advantages",
    "coordination_ring",
    "forced_coordination",
    "counter_circuit_o_1order",
]
CASES = [(layout, dyn) for layout in LAYOUTS for dyn in ("new", "old")]
FEATURE_TOL = 1e-6


def load_case(layout: str, dynamics: str) -> tuple[dict, dict[str, np.ndarray]]:
    stem = FIXTURES / f"{layout}__{dynamics}"
    with gzip.open(f"{stem}.json.gz", "rt", encoding="utf-8") as f:
        meta = json.load(f)
    with np.load(f"{stem}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays


def to_batch(layout, states: list[dict]) -> BatchState:
    batch = BatchState.initial(layout, len(states))
    for i, d in enumerate(states):
        state_from_dict(layout, d, batch, i)
    return batch


def describe_mismatch(ours: np.ndarray, ref: np.ndarray, states: list[dict]) -> str:
    bad = np.argwhere(~np.isclose(ours, ref, atol=FEATURE_TOL))
    i, p = bad[0][:2]
    cols = sorted({int(b[2]) for b in bad if b[0] == i and b[1] == p}) if ours.ndim == 3 else bad[0][2:].tolist()
    return (
        f"{len(bad)} mismatches; first: state {i} player {p} at {cols}\n"
        f"ours={ours[i, p].reshape(-1)[:96]}\nref ={ref[i, p].reshape(-1)[:96]}\nstate={states[i]}"
    )


@pytest.mark.parametrize("layout_name,dynamics", CASES)
def test_batch_matches_reference(layout_name: str, dynamics: str) -> None:
    meta, ref = load_case(layout_name, dynamics)
    layout = get_layout(layout_name)
    states = meta["states"]
    batch = to_batch(layout, states)
    feat = Featurizer(layout, num_pots=meta["num_pots"], horizon=meta["horizon"])

    ours = feat.featurize(batch)
    assert ours.shape == ref["featurized"].shape == (len(states), 2, 96)
    assert ours.dtype == np.float32
    assert np.allclose(ours, ref["featurized"], atol=FEATURE_TOL), describe_mismatch(ours, ref["featurized"], states)

    grid = feat.lossless(batch)
    assert grid.shape == ref["lossless"].shape == (len(states), 2, *feat.lossless_shape)
    assert grid.dtype == np.float32
    assert np.array_equal(grid, ref["lossless"].astype(np.float32)), describe_mismatch(grid, ref["lossless"], states)


@pytest.mark.parametrize("layout_name,dynamics", CASES)
def test_step_then_encode_matches_reference(layout_name: str, dynamics: str) -> None:
    """End to end: all stored states stepped at once by our dynamics, then encoded, equal the reference's
    next states, rewards and encodings."""
    meta, ref = load_case(layout_name, dynamics)
    layout = get_layout(layout_name)
    batch = to_batch(layout, meta["states"])
    sparse, shaped, _ = OvercookedDynamics(layout, old_dynamics=dynamics == "old").step(
        batch, ref["actions"].astype(np.int64)
    )
    assert np.array_equal(sparse, ref["sparse"]) and np.array_equal(shaped, ref["shaped"])
    for i, expected in enumerate(meta["next_states"]):
        got = json.loads(json.dumps(state_to_dict(layout, batch, i)))  # tuples -> lists, as in the file
        for key in ("players", "objects", "timestep"):
            assert got[key] == expected[key], (i, key, got[key], expected[key])
    feat = Featurizer(layout, horizon=meta["horizon"])
    ours = feat.featurize(batch)
    assert np.allclose(ours, ref["next_featurized"], atol=FEATURE_TOL), describe_mismatch(
        ours, ref["next_featurized"], meta["next_states"]
    )
    assert np.array_equal(feat.lossless(batch), ref["next_lossless"])
    moved = (ref["next_featurized"] != ref["featurized"]).any(axis=(1, 2))
    assert moved.mean() > 0.5  # the actions do change most states


@pytest.mark.parametrize("layout_name,dynamics", CASES)
def test_counter_goal_planner_matches_reference(layout_name: str, dynamics: str) -> None:
    """With every counter a motion goal, counter objects / empty counters become 'closest' features."""
    meta, ref = load_case(layout_name, dynamics)
    layout = get_layout(layout_name)
    batch = to_batch(layout, meta["states"])
    ours = Featurizer(layout, counter_goals="all").featurize(batch)
    assert np.allclose(ours, ref["featurized_counters"], atol=FEATURE_TOL), describe_mismatch(
        ours, ref["featurized_counters"], meta["states"]
    )
    # the variant must actually differ from the default somewhere, or this test checks nothing new
    assert not np.array_equal(ref["featurized_counters"], ref["featurized"])


@pytest.mark.parametrize("layout_name,dynamics", CASES)
def test_single_state_matches_reference(layout_name: str, dynamics: str) -> None:
    """N = 1 takes a separate scalar code path in ``featurize``; check it on every state."""
    meta, ref = load_case(layout_name, dynamics)
    layout = get_layout(layout_name)
    feat = Featurizer(layout)
    for i, d in enumerate(meta["states"]):
        one = to_batch(layout, [d])
        assert np.allclose(feat.featurize(one)[0], ref["featurized"][i], atol=FEATURE_TOL), (i, d)
        if i % 10 == 0:
            assert np.array_equal(feat.lossless(one)[0], ref["lossless"][i]), (i, d)


def test_fixtures_are_diverse() -> None:
    """Guard against fixtures that would make the differential test vacuous."""
    held, cooking, ready, counter_items, late = set(), 0, 0, 0, 0
    for layout_name, dyn in CASES:
        meta, ref = load_case(layout_name, dyn)
        pots = {tuple(p) for p in get_layout(layout_name).pot_positions.tolist()}
        for d in meta["states"]:
            held.update(p["held_object"]["name"] for p in d["players"] if p["held_object"])
            for o in d["objects"]:
                cooking += o["name"] == "soup" and o["is_cooking"]
                ready += o["name"] == "soup" and o["is_ready"]
                counter_items += tuple(o["position"]) not in pots
            late += d["timestep"] > meta["horizon"] - 40
        assert ref["lossless"][..., 25].any()  # urgency layer present in every file
    assert held >= {"onion", "dish", "soup"}
    assert cooking > 100 and ready > 100 and counter_items > 100 and late > 50


def test_featurizer_follows_env_dynamics() -> None:
    """Encodings of states produced by our own dynamics: batch rows equal one-at-a-time encodings."""
    layout = get_layout("counter_circuit")
    dyn = OvercookedDynamics(layout)
    rng = np.random.default_rng(0)
    state = BatchState.initial(layout, 16)
    feat = Featurizer(layout)
    for _ in range(60):
        dyn.step(state, rng.integers(0, 6, size=(16, 2)))
    full_f, full_l = feat.featurize(state), feat.lossless(state)
    for i in range(16):
        one = state.select([i])
        assert np.array_equal(feat.featurize(one)[0], full_f[i])
        assert np.array_equal(feat.lossless(one)[0], full_l[i])
    # the player-symmetric layout: agent 1's row is agent 0's row with the player blocks swapped
    b = feat.block
    assert np.array_equal(full_f[:, 0, :b], full_f[:, 1, b : 2 * b])
    assert np.array_equal(full_f[:, 0, 2 * b : 2 * b + 2], -full_f[:, 1, 2 * b : 2 * b + 2])


@pytest.mark.parametrize("layout_name", LAYOUTS)
def test_planner_costs_match_reference(layout_name: str) -> None:
    """Our BFS tables = overcooked_ai's MotionPlanner.min_cost_to_feature for every start and cell."""
    layout = get_layout(layout_name)
    with np.load(FIXTURES / f"{layout_name}__planner.npz") as z:
        ref = {k: z[k] for k in z.files}
    for key, goals in (("default", ()), ("all_counters", layout.counter_positions.tolist())):
        ours = distance_tables(layout, goals).to_cell.astype(np.int64)
        ours = np.where(ours == UNREACHABLE, -1, ours + 1)  # + 1: the reference counts the interact
        assert np.array_equal(ours, ref[key]), key
        assert (ref[key] >= 0).sum() > 50


def test_planner_distances() -> None:
    """Hand-checked costs in cramped_room: player 1 starts at (1, 2) facing north."""
    layout = get_layout("cramped_room")
    tables = distance_tables(layout)
    w = layout.width
    start = ((2 * w + 1) * 4) + 0
    onion_left = 1 * w + 0  # (0, 1): step north to (1, 1), turn west
    assert tables.to_cell[start, onion_left] == 2
    pot = 0 * w + 2  # (2, 0): from (2, 1) facing north: east, north
    assert tables.to_cell[start, pot] == 2
    counter = 2 * w + 0  # (0, 2): counters are no motion goals by default
    assert tables.to_cell[start, counter] == UNREACHABLE
    assert distance_tables(layout, [(0, 2)]).to_cell[start, counter] == 1  # turn west


def test_shapes_and_bad_arguments() -> None:
    feat = Featurizer("asymmetric_advantages")
    assert feat.feature_dim == 96 and feat.lossless_shape == (9, 5, 26)
    assert Featurizer("cramped_room", num_pots=3).feature_dim == 116
    with pytest.raises(ConfigError, match="counter_goals"):
        Featurizer("cramped_room", counter_goals="some")
    with pytest.raises(ConfigError, match="unknown layout"):
        Featurizer("no_such_kitchen")

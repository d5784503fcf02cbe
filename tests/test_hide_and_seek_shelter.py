"""The shelter example: its map closes with one push and a lock, and the phase finder reads curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from diverse_marl.analysis.phases import detect_phases, trailing_mean
from diverse_marl.envs import make

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hide_and_seek" / "mappo_shelter.yaml"


def shelter_env(**overrides):
    cfg = yaml.safe_load(EXAMPLE.read_text())["env_config"]
    # one hider, spawned two cells west and one north of the box, so the scripted moves are the story
    rows = cfg["scenario"].strip("\n").split("\n")
    assert rows[1] == "#...HH#..#" and rows[3] == "#..B..#S.#" and rows[4] == "####.##..#"
    rows[1], rows[2] = "#.....#..#", "#.H...#..#"
    cfg["scenario"] = "\n".join(rows)
    return make("hide_and_seek", **{**cfg, "n_hiders": 1, **overrides})


def play(env, hider_moves: list[int]) -> dict[str, float]:
    env.reset(seed=0)
    for t in range(10_000):  # until the horizon ends the episode
        acts = {a: 0 for a in env.agents}
        acts["hider_0"] = hider_moves[t] if t < len(hider_moves) else 0
        env.step(acts)
        if not env.agents:
            break
    return env.unwrapped.episode_stats()


def test_pushing_the_box_into_the_doorway_and_locking_it_encloses_the_hider():
    stats = play(shelter_env(), [2, 3, 6])  # step south, push the box east above the doorway, lock
    assert stats["hiders_enclosed_prep_end"] == 1.0
    assert stats["locks_hiders_prep"] == 1.0


def test_an_unlocked_box_above_the_doorway_is_no_shelter():
    stats = play(shelter_env(), [2, 3])  # same push, no lock: seekers could push it away
    assert stats["hiders_enclosed_prep_end"] == 0.0


def test_trailing_mean_matches_a_direct_computation():
    v = np.arange(12, dtype=float) ** 2
    direct = [v[max(0, i - 4) : i + 1].mean() for i in range(len(v))]
    np.testing.assert_allclose(trailing_mean(v, 5), direct)


def test_phases_are_found_where_the_curves_turn():
    n = 300
    hidden = np.concatenate(
        [np.full(100, 0.85), np.linspace(0.85, 0.1, 50), np.full(50, 0.1), np.linspace(0.1, 0.7, 100)]
    )
    enclosed = np.concatenate([np.full(200, 0.05), np.linspace(0.05, 0.8, 100)])
    starts = detect_phases(hidden, enclosed, window=5)
    assert 100 < starts["chasing"] < 130  # 0.15 below 0.85 is reached ~10 iterations into the fall
    assert 200 < starts["shelter"] < 240  # enclosed >= 0.2 and hidden 0.1 above its low
    assert "ramp" not in starts and len(hidden) == n


def test_no_phase_change_in_flat_curves():
    assert detect_phases(np.full(50, 0.8), np.zeros(50), window=5) == {"random": 0}

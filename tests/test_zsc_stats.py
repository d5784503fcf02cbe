"""analysis/zsc_stats.py: BR-normalized returns and IQM with stratified bootstrap CIs, against rliable and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from rliable import library as rly
from rliable import metrics

from diverse_marl.analysis.zsc_stats import aggregate, br_normalized, iqm

# 3 training seeds x 4 tasks (partner, seat) of BR-normalized scores
SCORES = np.array(
    [
        [0.10, 0.55, 0.90, 1.00],
        [0.20, 0.60, 0.35, 0.95],
        [0.05, 0.70, 0.80, 0.40],
    ]
)


def test_br_normalization_divides_by_the_best_response_and_clips_at_one():
    returns = np.array([[50.0, 300.0, 0.0], [100.0, 120.0, -20.0]])
    br = np.array([200.0, 240.0, 100.0])
    expected = np.array([[0.25, 1.0, 0.0], [0.5, 0.5, -0.2]])  # 300/240 clipped; negative returns not clipped
    assert np.allclose(br_normalized(returns, br), expected)


@pytest.mark.parametrize("bad", [0.0, -5.0, np.nan])
def test_a_non_positive_best_response_return_is_an_error_naming_the_partner(bad):
    with pytest.raises(ValueError, match=r"best-response returns must be finite and > 0.*scripted_onion"):
        br_normalized([[10.0, 10.0]], [100.0, bad], tasks=["bc_proxy", "scripted_onion"])


def test_missing_returns_and_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="returns must be finite"):
        br_normalized([[np.nan, 1.0]], [1.0, 1.0])
    with pytest.raises(ValueError, match="do not broadcast"):
        br_normalized(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match=r"\(runs, tasks\) matrix"):
        aggregate({"sp": np.ones(4)})
    with pytest.raises(ValueError, match="NaN or inf"):
        aggregate({"sp": np.array([[1.0, np.nan]])})


def test_iqm_is_the_mean_of_the_middle_half_of_all_scores():
    # 12 scores sorted: 0.05 0.10 0.20 | 0.35 0.40 0.55 0.60 0.70 0.80 | 0.90 0.95 1.00 -> mean of the middle 6
    by_hand = (0.35 + 0.40 + 0.55 + 0.60 + 0.70 + 0.80) / 6
    assert iqm(SCORES) == pytest.approx(by_hand)
    assert aggregate({"m": SCORES}, reps=100)["m"]["iqm"] == pytest.approx(by_hand)


def test_iqm_and_cis_equal_rliables_own_stratified_bootstrap():
    ours = aggregate({"hsp": SCORES, "sp": SCORES * 0.5}, reps=500, seed=7)
    for name, scores in (("hsp", SCORES), ("sp", SCORES * 0.5)):
        np.random.seed(7)  # rliable 1.2 resamples from NumPy's global RNG (see zsc_stats)
        point, interval = rly.get_interval_estimates(
            {name: scores},
            lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=500,
            confidence_interval_size=0.95,
            random_state=np.random.RandomState(7),
        )
        assert ours[name]["iqm"] == pytest.approx(point[name][0])
        assert (ours[name]["ci_low"], ours[name]["ci_high"]) == pytest.approx(tuple(interval[name][:, 0]))
        assert ours[name]["ci_low"] <= ours[name]["iqm"] <= ours[name]["ci_high"]
        assert ours[name]["mean"] == pytest.approx(scores.mean())
        assert (ours[name]["n_runs"], ours[name]["n_tasks"]) == (3, 4)


def test_cis_are_deterministic_per_seed_and_independent_of_the_other_methods():
    a = aggregate({"hsp": SCORES}, reps=300, seed=3)["hsp"]
    assert a == aggregate({"fcp": SCORES[::-1], "hsp": SCORES}, reps=300, seed=3)["hsp"]
    assert a != aggregate({"hsp": SCORES}, reps=300, seed=4)["hsp"]
    np.random.seed(11)
    before = np.random.random()
    np.random.seed(11)
    aggregate({"hsp": SCORES}, reps=50, seed=3)
    assert np.random.random() == before  # the caller's global random stream is untouched
    # stratified: runs are resampled within each task, so a matrix whose rows are all equal has a zero-width CI
    same = aggregate({"x": np.tile(SCORES[:1], (3, 1))}, reps=200)["x"]
    assert same["ci_low"] == pytest.approx(same["ci_high"]) == pytest.approx(same["iqm"])

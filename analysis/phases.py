"""Phases of self-play training, found in a run's per-iteration curves (hide-and-seek).

Baker et al. (2019) saw self-play hide-and-seek move through phases: seekers learn to chase, then
hiders learn to build shelters during preparation, then seekers learn ramps. ``detect_phases``
marks where each begins:

* **chasing** -- the smoothed hidden fraction has fallen ``DROP`` below its starting value;
* **shelter** -- after chasing began, hiders end preparation enclosed in at least ``ENCLOSED_ON`` of
  the episodes (``hiders_enclosed_prep_end``, the exact fort test of ``envs/hide_and_seek/fort.py``)
  and the hidden fraction has risen ``RISE`` above its lowest point since chasing began;
* **ramp** -- after the shelter phase, seekers cross walls on ramps in at least ``RAMP_ON`` of the
  episodes (only on maps with ramps).

Every series is a trailing mean over ``WINDOW`` iterations. Plain numpy in and out;
``python -m bench.hide_and_seek_phases`` applies it to a run and plots the result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WINDOW = 10  # iterations in the trailing mean
DROP = 0.15  # hidden fraction this far below its start: seekers chase
RISE = 0.10  # hidden fraction this far above its low since chasing began (with shelters)
ENCLOSED_ON = 0.20  # fraction of episodes whose hiders are enclosed when preparation ends
RAMP_ON = 0.20  # seekers' ramp crossings per episode
PHASES = ("random", "chasing", "shelter", "ramp")


def trailing_mean(values: Sequence[float], window: int = WINDOW) -> np.ndarray:
    """Mean of the last ``window`` values at every index (fewer at the start)."""
    v = np.asarray(values, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def detect_phases(
    hidden: Sequence[float],
    enclosed: Sequence[float],
    ramp_crossings: Sequence[float] | None = None,
    window: int = WINDOW,
) -> dict[str, int]:
    """Index of the first iteration of each phase that appears (``random`` is always 0)."""
    h, e = trailing_mean(hidden, window), trailing_mean(enclosed, window)
    starts = {"random": 0}
    chasing = np.flatnonzero(h <= h[min(window, len(h)) - 1] - DROP)
    if not len(chasing):
        return starts
    starts["chasing"] = c = int(chasing[0])
    low = np.minimum.accumulate(h[c:])
    shelter = np.flatnonzero((e[c:] >= ENCLOSED_ON) & (h[c:] >= low + RISE))
    if not len(shelter):
        return starts
    starts["shelter"] = s = c + int(shelter[0])
    if ramp_crossings is not None:
        ramp = np.flatnonzero(trailing_mean(ramp_crossings, window)[s:] >= RAMP_ON)
        if len(ramp):
            starts["ramp"] = s + int(ramp[0])
    return starts

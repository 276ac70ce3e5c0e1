"""Speeds, distances, sprints and accelerations from timestamped positions."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.soccer.kinematics import (
    FLAG_IMPLAUSIBLE_SPEED,
    FLAG_POSITION_OUTLIER,
    KinematicsConfig,
    events,
    reach_s,
    speed_series,
    summarise,
)

CFG = KinematicsConfig()


def times(duration_s: float, fps: float, jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    """Sample times at ``fps``; ``jitter`` > 0 makes the frame intervals vary (VFR) by that fraction."""
    rng = np.random.default_rng(seed)
    dt = np.full(int(duration_s * fps), 1.0 / fps) * (1 + jitter * rng.uniform(-1, 1, int(duration_s * fps)))
    return np.concatenate([[0.0], np.cumsum(dt)])


def integrate_path(t: np.ndarray, speed_fn, heading_fn=lambda s: 0.0 * s) -> np.ndarray:
    """(T, 2) positions of a runner with speed(t) and heading(t), integrated finely."""
    fine = np.linspace(0, t[-1], 20001)
    v = speed_fn(fine)
    h = heading_fn(fine)
    dt = np.diff(fine, prepend=0.0)
    xy = np.column_stack([np.cumsum(v * np.cos(h) * dt), np.cumsum(v * np.sin(h) * dt)])
    return np.column_stack([np.interp(t, fine, xy[:, 0]), np.interp(t, fine, xy[:, 1])])


def interior(series, margin_s: float = 0.6) -> np.ndarray:
    t = series.time_s
    return (t > t[0] + margin_s) & (t < t[-1] - margin_s)


@pytest.mark.parametrize(
    ("name", "fps", "jitter", "heading"),
    [
        ("straight 25 fps", 25.0, 0.0, lambda s: 0.0 * s),
        ("straight 30 fps vfr", 30.0, 0.3, lambda s: 0.0 * s + 0.7),
        ("curve r=25 m", 25.0, 0.0, lambda s: 6.0 * s / 25.0),
        ("curve 50 fps vfr", 50.0, 0.2, lambda s: 6.0 * s / 30.0),
        ("s-bend 12 fps", 12.0, 0.1, lambda s: 0.6 * np.sin(0.8 * s)),
    ],
)
def test_known_constant_speed_within_2_percent(name, fps, jitter, heading):
    t = times(6.0, fps, jitter)
    xy = integrate_path(t, lambda s: 6.0 + 0 * s, heading)
    series = speed_series(t, xy, CFG)
    sp = series.speed_mps[interior(series)]
    assert np.isfinite(sp).all()
    np.testing.assert_allclose(sp, 6.0, rtol=0.02, err_msg=name)


def test_noisy_positions_speed_and_distance_within_2_percent():
    t = times(20.0, 25.0, 0.1)
    xy = integrate_path(t, lambda s: 5.0 + 0 * s, lambda s: 0.2 * np.sin(0.3 * s))
    noisy = xy + np.random.default_rng(2).normal(0, 0.05, xy.shape)  # 5 cm jitter of a box's foot
    series = speed_series(t, noisy, CFG)
    sp = series.speed_mps[interior(series)]
    assert np.median(sp) == pytest.approx(5.0, rel=0.02)
    summary = summarise(series, CFG)
    assert summary.distance_m / summary.duration_s == pytest.approx(5.0, rel=0.02)


def speed_profile(s: np.ndarray) -> np.ndarray:
    """Jog at 3 m/s with three 2.2 s sprints to 8 m/s (above 7 m/s for 1.56 s) and one 0.8 s
    burst (above 7 m/s for 0.16 s: too short to count)."""
    v = np.full_like(s, 3.0)
    for start, length, top in ((2.0, 2.2, 8.0), (7.0, 2.2, 8.0), (12.0, 0.8, 8.0), (15.0, 2.2, 8.0)):
        ramp = np.clip(np.minimum(s - start, start + length - s) / 0.4, 0, 1)  # 0.4 s ramps
        v = np.maximum(v, 3.0 + (top - 3.0) * ramp)
    return v


@pytest.mark.parametrize("fps", [10.0, 25.0, 50.0])
def test_sprint_count_and_distance_independent_of_frame_rate(fps):
    t = times(20.0, fps, 0.15, seed=int(fps))
    xy = integrate_path(t, speed_profile)
    summary = summarise(speed_series(t, xy, CFG), CFG)
    assert summary.sprints == 3
    truth_m = np.trapezoid(speed_profile(np.linspace(0, t[-1], 20001)), np.linspace(0, t[-1], 20001))
    # no speed in the first and last 1/6 s (the window must reach both sides)
    assert summary.distance_m == pytest.approx(truth_m, rel=0.03)
    assert summary.max_speed_mps == pytest.approx(8.0, rel=0.05)
    assert summary.high_speed_distance_m > 0


def test_accelerations_and_decelerations():
    def v(s):
        """1 m/s; +4 m/s² for 1.25 s to 6 m/s; hold; -3.5 m/s² back to 1 m/s; a gentle 1 m/s² ramp."""
        out = np.full_like(s, 1.0)
        out = np.where((s >= 2) & (s < 3.25), 1 + 4 * (s - 2), out)
        out = np.where((s >= 3.25) & (s < 6), 6.0, out)
        out = np.where((s >= 6) & (s < 6 + 5 / 3.5), 6 - 3.5 * (s - 6), out)
        return np.where(s >= 10, np.minimum(1 + (s - 10), 3.0), out)

    t = times(14.0, 25.0, 0.1)
    summary = summarise(speed_series(t, integrate_path(t, v), CFG), CFG)
    assert (summary.accelerations, summary.decelerations) == (1, 1)


def test_position_jump_is_an_outlier_and_impossible_speed_is_flagged():
    t = times(6.0, 25.0)
    xy = integrate_path(t, lambda s: 4.0 + 0 * s)
    jumped = xy.copy()
    jumped[60:62, 1] += 6.0  # two frames on a neighbour 6 m away (an id swap)
    series = speed_series(t, jumped, CFG)
    assert (series.flags[60:62] & FLAG_POSITION_OUTLIER).all()
    assert np.nanmax(series.speed_mps) < 4.5  # the jump did not leak into the speed
    teleport = xy.copy()
    teleport[75:, 0] += 8.0  # a wrong calibration or id switch: +8 m for good
    series = speed_series(t, teleport, CFG)
    assert (series.flags & FLAG_IMPLAUSIBLE_SPEED).any()
    assert np.nanmax(series.speed_mps) <= CFG.max_speed_mps
    assert summarise(series, CFG).implausible_samples > 0


def test_gaps_split_tracks_and_nan_positions_are_skipped():
    t = np.concatenate([times(3.0, 25.0), 5.0 + times(3.0, 25.0)])
    xy = integrate_path(t, lambda s: 5.0 + 0 * s)
    xy[10:15] = np.nan  # uncalibrated frames
    series = speed_series(t, xy, CFG)
    assert np.isnan(series.speed_mps[10:15]).all()
    summary = summarise(series, CFG)
    # nothing is integrated across the 2 s gap
    assert summary.duration_s < 6.0
    assert summary.distance_m == pytest.approx(5.0 * summary.duration_s, rel=0.02)


@pytest.mark.parametrize(
    ("values", "threshold", "min_s", "expected"),
    [
        ([0, 0, 10, 10, 10, 0, 0], 5.0, 0.1, [(1.5, 4.5)]),  # interpolated crossings
        ([0, 10, 10, 0, 10, 10, 10, 10], 5.0, 2.5, [(3.5, 7.0)]),  # runs to the end
        ([0, 10, 10, 0, 10, 10, 0], 5.0, 1.5, [(0.5, 2.5), (3.5, 5.5)]),
        ([0, 10, np.nan, 10, 10, 0], 5.0, 1.0, [(3.0, 4.5)]),  # NaN ends a run
    ],
)
def test_events_table(values, threshold, min_s, expected):
    t = np.arange(len(values), dtype=float)
    got = events(t, np.array(values, float), threshold, min_s, max_gap_s=5.0)
    assert np.asarray(got, float).reshape(-1, 2) == pytest.approx(np.asarray(expected, float).reshape(-1, 2))


def test_a_ground_point_sliding_metres_in_a_few_frames_is_implausible():
    t = times(6.0, 25.0)
    xy = integrate_path(t, lambda s: 3.0 + 0 * s)
    # a box swallows a neighbour: the ground point slides 4 m sideways over 0.2 s and stays
    slide = np.clip((t - 3.0) / 0.2, 0, 1) * 4.0
    series = speed_series(t, xy + np.column_stack([0 * t, slide]), CFG)
    assert (series.flags[(t > 2.9) & (t < 3.3)] & FLAG_IMPLAUSIBLE_SPEED).all()
    assert np.nanmax(series.speed_mps) < 4.5  # the bump is gone, the jog is kept
    assert np.isfinite(series.speed_mps[(t > 1) & (t < 2)]).all()


def test_a_window_of_reach_gives_the_whole_series_speed():
    rng = np.random.default_rng(4)
    t = times(10.0, 25.0, 0.2)
    xy = integrate_path(t, lambda s: 4.0 + 3.0 * np.sin(s), lambda s: 0.3 * s) + rng.normal(
        0, 0.08, (len(t), 2)
    )
    xy[100:103] += 5.0  # an outlier burst
    xy[180:, 1] += np.clip((t[180:] - t[180]) / 0.15, 0, 1) * 3  # a slide
    full = speed_series(t, xy, CFG)
    reach = reach_s(CFG)
    for k in range(0, len(t), 7):
        sel = (t >= t[k] - reach) & (t <= t[k] + reach)
        part = speed_series(t[sel], xy[sel], CFG)
        j = int(np.flatnonzero(sel)[0])
        np.testing.assert_allclose(part.speed_mps[k - j], full.speed_mps[k], rtol=1e-9)  # NaN = NaN too


def test_causal_speed_uses_no_future_sample():
    t = times(6.0, 25.0, jitter=0.002)
    rng = np.random.default_rng(4)
    xy = integrate_path(t, lambda s: 4.0 + 0 * s) + rng.normal(0, 0.05, (len(t), 2))
    full = speed_series(t, xy, CFG, causal=True)
    # cutting the series after a sample leaves that sample's speed unchanged
    for k in (30, 60, 120):
        cut = speed_series(t[: k + 1], xy[: k + 1], CFG, causal=True)
        assert cut.speed_mps[k] == pytest.approx(full.speed_mps[k], abs=1e-9)
    assert np.nanmedian(full.speed_mps[30:]) == pytest.approx(4.0, rel=0.02)
    assert np.isnan(full.speed_mps[:3]).all()  # too little past yet

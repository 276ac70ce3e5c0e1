"""Running metrics of one player from timestamped pitch positions (never frame counts).

Shape legend: ``T`` samples of one track, in time order.

* **Velocity**: a local quadratic fit of x(t) and y(t) over ``window_s`` around each
  sample, with tricube weights (LOESS). It uses the samples' own timestamps, so variable
  frame rates and dropped frames cost nothing; it is exact for constant acceleration and
  averages away the jitter of a box's bottom edge.
* **Outliers**: positions farther than ``jump_m`` from a first fit (an id switch, a box
  grabbing a neighbour) are flagged and left out of a second fit.
* **Implausible speed**: a smoothed speed above ``max_speed_mps`` is flagged and not used
  (NaN) — never silently clipped; so is every sample within half a window of a speed
  change faster than ``max_accel_mps2`` (a box swallowing a neighbour makes the ground
  point slide metres in a few frames: a bump of speed no body can produce).
* **Gaps** longer than ``max_gap_s`` split a track into segments; no fit or integral
  crosses a gap.
* **Events** (sprints, accelerations, decelerations): intervals where a value stays
  beyond a threshold for at least a minimum duration, with the crossing times
  interpolated between samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.records import FLAG_IMPLAUSIBLE_SPEED, FLAG_POSITION_OUTLIER  # SpeedSeries.flags bits


@dataclass(frozen=True, slots=True)
class KinematicsConfig:
    window_s: float = 1.0  # speed smoothing window (seconds); longer = steadier, blunter peaks
    accel_window_s: float = 0.6  # window of the speed derivative (seconds)
    max_gap_s: float = 0.5  # samples farther apart than this start a new segment
    jump_m: float = 2.0  # a position this far from the first fit is an outlier
    max_speed_mps: float = 12.0  # above: physically implausible (flagged, not used)
    max_accel_mps2: float = 10.0  # a speed changing faster than this is an artefact (flagged, not used)
    sprint_mps: float = 7.0
    sprint_min_s: float = 1.0
    high_speed_mps: float = 5.5  # high-speed running threshold (19.8 km/h)
    accel_mps2: float = 3.0
    accel_min_s: float = 0.5


@dataclass(frozen=True, slots=True, eq=False)
class SpeedSeries:
    """Smoothed motion of one track.

    Attributes:
        time_s: (T,) sample times.
        xy_m: (T, 2) smoothed pitch positions (NaN where not estimable).
        velocity_mps: (T, 2).
        speed_mps: (T,) NaN where not estimable or implausible.
        accel_mps2: (T,) rate of change of speed (tangential), NaN where unknown.
        flags: (T,) int64 bits: FLAG_POSITION_OUTLIER, FLAG_IMPLAUSIBLE_SPEED.
    """

    time_s: np.ndarray
    xy_m: np.ndarray
    velocity_mps: np.ndarray
    speed_mps: np.ndarray
    accel_mps2: np.ndarray
    flags: np.ndarray


def segments(time_s: np.ndarray, max_gap_s: float) -> np.ndarray:
    """(T,) int64 segment id of each sample: a new segment after every gap > ``max_gap_s``."""
    if len(time_s) == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([[0], np.cumsum(np.diff(time_s) > max_gap_s)]).astype(np.int64)


def local_poly_fit(
    time_s: np.ndarray,
    values: np.ndarray,
    eval_s: np.ndarray,
    window_s: float,
    degree: int,
    segment: np.ndarray | None = None,
    eval_segment: np.ndarray | None = None,
    chunk: int = 256,
    past_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """LOESS: value and first derivative at ``eval_s`` from a local polynomial fit.

    Args:
        time_s: (T,) sample times, increasing; values: (T, D) finite samples.
        eval_s: (M,) times to evaluate at.
        window_s: full width of the tricube window.
        degree: 1 (local line) or 2 (local parabola).
        segment / eval_segment: (T,) / (M,) segment ids; samples of other segments are ignored.
        past_only: a causal fit: samples after an evaluation time are ignored and the
            samples before it need only reach a third of the half-window back (live runs).

    Returns:
        value: (M, D) and derivative: (M, D), NaN where fewer than degree + 2 samples fall in
        the window, or they do not reach a third of the half-window on both sides (a
        one-sided fit extrapolates its derivative; ``past_only`` accepts that).
    """
    t_all = np.asarray(time_s, np.float64)
    values = np.asarray(values, np.float64).reshape(len(t_all), -1)
    eval_s = np.asarray(eval_s, np.float64)
    d = values.shape[1]
    out_v = np.full((len(eval_s), d), np.nan)
    out_d = np.full((len(eval_s), d), np.nan)
    half = window_s / 2
    for c0 in range(0, len(eval_s), chunk):  # dense weights over the samples a chunk can reach
        ev = eval_s[c0 : c0 + chunk]
        a = int(np.searchsorted(t_all, ev.min() - half, side="left"))
        b = int(np.searchsorted(t_all, ev.max() + half, side="right"))
        if b - a < degree + 2:
            continue
        dt = t_all[None, a:b] - ev[:, None]  # (m, n)
        w = (1 - np.clip(np.abs(dt) / half, 0, 1) ** 3) ** 3
        if past_only:
            w = w * (dt <= 0)
        if segment is not None and eval_segment is not None:
            w = w * (segment[None, a:b] == eval_segment[c0 : c0 + chunk, None])
        used = w > 0
        count = used.sum(axis=1)
        reach_lo = np.where(used, dt, np.inf).min(axis=1)
        reach_hi = np.where(used, dt, -np.inf).max(axis=1)
        ok = (count >= degree + 2) & (reach_lo <= -half / 3) & (past_only | (reach_hi >= half / 3))
        # normal equations from the weighted moments: N[i, j] = sum w dt^(i+j), r[i] = sum w dt^i y
        powers = [w]
        for _ in range(2 * degree):
            powers.append(powers[-1] * dt)
        moment = np.stack([pw.sum(axis=1) for pw in powers], axis=1)  # (m, 2d + 1)
        idx = np.add.outer(np.arange(degree + 1), np.arange(degree + 1))
        normal = moment[:, idx]  # (m, p, p)
        rhs = np.stack([powers[i] @ values[a:b] for i in range(degree + 1)], axis=1)  # (m, p, D)
        normal[~ok] = np.eye(degree + 1)  # placeholders keep the batched solve regular
        try:
            coef = np.linalg.solve(normal, rhs)
        except np.linalg.LinAlgError:
            coef = np.stack(
                [np.linalg.lstsq(n_, r_, rcond=None)[0] for n_, r_ in zip(normal, rhs, strict=True)]
            )
        coef[~ok] = np.nan
        out_v[c0 : c0 + chunk], out_d[c0 : c0 + chunk] = coef[:, 0], coef[:, 1]
    return out_v, out_d


def speed_series(time_s: np.ndarray, xy_m: np.ndarray, cfg: KinematicsConfig,
                 causal: bool = False) -> SpeedSeries:
    """Smoothed positions, speed and acceleration of one track.

    Args:
        time_s: (T,) increasing sample times (seconds).
        xy_m: (T, 2) raw pitch positions; NaN rows (uncalibrated frames) are skipped.
        causal: each sample's values from it and earlier samples alone (live runs): a local
            line over the past ``window_s`` (a parabola on one side would swing at the edge),
            so a change of pace shows about half a window late.
    """
    time_s = np.asarray(time_s, np.float64)
    xy_m = np.asarray(xy_m, np.float64).reshape(-1, 2)
    n = len(time_s)
    flags = np.zeros(n, np.int64)
    xy_s = np.full((n, 2), np.nan)
    vel = np.full((n, 2), np.nan)
    speed = np.full(n, np.nan)
    accel = np.full(n, np.nan)
    ok = np.isfinite(xy_m).all(axis=1)
    if ok.sum() >= 3:
        t, p = time_s[ok], xy_m[ok]
        seg = segments(t, cfg.max_gap_s)
        # causal: a full window_s of the past is the half-window of a kernel twice as wide
        width = 2 * cfg.window_s if causal else cfg.window_s
        first, _ = local_poly_fit(t, p, t, width, 1, seg, seg, past_only=causal)
        resid = np.linalg.norm(p - first, axis=1)
        outlier = np.isfinite(resid) & (resid > cfg.jump_m)
        flags[np.flatnonzero(ok)[outlier]] |= FLAG_POSITION_OUTLIER
        keep = ~outlier
        pos, v = local_poly_fit(t[keep], p[keep], t, width, 1 if causal else 2, seg[keep], seg,
                                past_only=causal)
        xy_s[ok], vel[ok] = pos, v
        sp = np.linalg.norm(v, axis=1)
        bad = np.isfinite(sp) & (sp > cfg.max_speed_mps)
        sp[bad] = np.nan
        flags[np.flatnonzero(ok)[bad]] |= FLAG_IMPLAUSIBLE_SPEED
        speed[ok] = sp
        good = np.isfinite(sp)
        if good.sum() >= 3:
            accel_width = 2 * cfg.accel_window_s if causal else cfg.accel_window_s
            _, acc = local_poly_fit(t[good], sp[good, None], t, accel_width, 1, seg[good], seg,
                                    past_only=causal)
            acc = acc[:, 0]
            # a speed that changes faster than a body can (a box swallowing a neighbour, a jump
            # of the ground point) makes the whole bump around it implausible, not just its flanks
            jolt = np.isfinite(acc) & (np.abs(acc) > cfg.max_accel_mps2)
            if jolt.any():
                near = np.abs(t[:, None] - t[jolt][None, :]) <= cfg.window_s / 2
                bump = (near & (seg[:, None] == seg[jolt][None, :])).any(axis=1)
                speed[np.flatnonzero(ok)[bump]] = np.nan
                flags[np.flatnonzero(ok)[bump]] |= FLAG_IMPLAUSIBLE_SPEED
                acc[bump] = np.nan
            accel[ok] = acc
    return SpeedSeries(time_s, xy_s, vel, speed, accel, flags)


def reach_s(cfg: KinematicsConfig) -> float:
    """How far (seconds) the samples that decide one sample's speed can lie from it.

    Outlier flags look ``window_s / 2`` around a sample, the speed fit as far again, the
    acceleration ``accel_window_s / 2`` more, and an implausible bump spreads ``window_s / 2``:
    a series cut to [t - reach, t + reach] gives sample t exactly the speed the whole
    series gives it.
    """
    return 1.5 * cfg.window_s + 0.5 * cfg.accel_window_s


def events(
    time_s: np.ndarray, value: np.ndarray, threshold: float, min_duration_s: float, max_gap_s: float
) -> list[tuple[float, float]]:
    """Intervals (start_s, end_s) where ``value`` >= ``threshold`` for at least ``min_duration_s``.

    Crossing times are interpolated linearly between the samples on either side; NaN
    samples and gaps longer than ``max_gap_s`` end an interval.
    """
    out: list[tuple[float, float]] = []
    t = np.asarray(time_s, np.float64)
    v = np.asarray(value, np.float64)
    start: float | None = None
    for i in range(len(t)):
        above = bool(np.isfinite(v[i]) and v[i] >= threshold)
        broken = i > 0 and (t[i] - t[i - 1] > max_gap_s or not np.isfinite(v[i - 1]) or not np.isfinite(v[i]))
        if start is not None and (broken or not above):
            end = t[i - 1]
            if not broken:  # interpolate the down-crossing
                end = t[i - 1] + (t[i] - t[i - 1]) * (v[i - 1] - threshold) / (v[i - 1] - v[i])
            if end - start >= min_duration_s:
                out.append((start, float(end)))
            start = None
        if start is None and above:
            start = float(t[i])
            if i > 0 and not broken and v[i - 1] < threshold:  # interpolate the up-crossing
                start = float(t[i - 1] + (t[i] - t[i - 1]) * (threshold - v[i - 1]) / (v[i] - v[i - 1]))
    if start is not None and len(t) and t[-1] - start >= min_duration_s:
        out.append((start, float(t[-1])))
    return out


def integrate(time_s: np.ndarray, value: np.ndarray, max_gap_s: float) -> float:
    """Trapezoidal integral of ``value`` over time, skipping NaN samples and gaps > ``max_gap_s``."""
    t = np.asarray(time_s, np.float64)
    v = np.asarray(value, np.float64)
    dt = np.diff(t)
    ok = np.isfinite(v[:-1]) & np.isfinite(v[1:]) & (dt <= max_gap_s)
    return float(np.sum(0.5 * (v[:-1] + v[1:])[ok] * dt[ok]))


@dataclass(frozen=True, slots=True)
class RunningSummary:
    """One player's totals over a run."""

    duration_s: float  # time with a valid speed
    distance_m: float
    max_speed_mps: float
    mean_speed_mps: float
    high_speed_distance_m: float
    sprints: int
    sprint_distance_m: float
    accelerations: int
    decelerations: int
    implausible_samples: int
    outlier_samples: int


def summarise(series: SpeedSeries, cfg: KinematicsConfig) -> RunningSummary:
    """Totals of a :class:`SpeedSeries`."""
    t, sp = series.time_s, series.speed_mps
    valid = np.isfinite(sp)
    dt = np.diff(t)
    covered = float(np.sum(dt[valid[:-1] & valid[1:] & (dt <= cfg.max_gap_s)])) if len(t) > 1 else 0.0
    distance = integrate(t, sp, cfg.max_gap_s)
    # above a threshold only: integrate the speed with the samples below it zeroed
    high = integrate(t, np.where(sp >= cfg.high_speed_mps, sp, np.where(valid, 0.0, np.nan)), cfg.max_gap_s)
    sprints = events(t, sp, cfg.sprint_mps, cfg.sprint_min_s, cfg.max_gap_s)
    sprint_m = 0.0
    for a, b in sprints:
        inside = (t >= a) & (t <= b)
        sprint_m += integrate(t[inside], sp[inside], cfg.max_gap_s)
    acc = series.accel_mps2
    accels = events(t, acc, cfg.accel_mps2, cfg.accel_min_s, cfg.max_gap_s)
    decels = events(t, -acc, cfg.accel_mps2, cfg.accel_min_s, cfg.max_gap_s)
    return RunningSummary(
        duration_s=covered,
        distance_m=distance,
        max_speed_mps=float(np.nanmax(sp)) if valid.any() else float("nan"),
        mean_speed_mps=distance / covered if covered > 0 else float("nan"),
        high_speed_distance_m=high,
        sprints=len(sprints),
        sprint_distance_m=sprint_m,
        accelerations=len(accels),
        decelerations=len(decels),
        implausible_samples=int(np.count_nonzero(series.flags & FLAG_IMPLAUSIBLE_SPEED)),
        outlier_samples=int(np.count_nonzero(series.flags & FLAG_POSITION_OUTLIER)),
    )

"""Smoother benchmark: accuracy, jitter, step lag, frame-rate invariance, fixed-lag error, cost.

All on synthetic ground truth (``testkit.motion``): walking and running
gait on the SMPL-X skeleton seen from a broadcast-like camera, per-frame noise
scaled by joint confidence (5° rotations, 3 cm across / 15 cm in depth), 0.3 %
joint-frames and 1 % frames with gross outliers. Joint positions come from
mannequin-x forward kinematics of the SMPL-X skeleton.

Reports, for ``forward`` (causal) and ``rts`` (fixed-lag smoother):

* MPJPE (camera frame and root-relative) and jitter (mean joint acceleration, m/s²) vs raw;
* step lag: frames until a step reaches 50 % (and 90 %) at 25 fps;
* frame-rate invariance: mean joint distance between 25 and 75 fps runs on the same
  motion and information per second, and the same with timestamps ignored (control);
* fixed-lag vs whole-clip RTS: mean/max joint difference, frames held;
* cost per player-frame on one core with 22 players, and filterpy's per-object
  KalmanFilter on the same state for comparison.

Usage: python tools/bench_smooth.py [--players 22] [--seconds 30] [--seeds 3]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: set before numpy loads

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from streamer.smoothing import Smoother, SmoothingParams  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit/: not part of the package
from testkit import motion as synth  # noqa: E402

FPS = 25.0
MODES = ("forward", "rts")


def accuracy(seeds: int) -> None:
    times = np.arange(int(10 * FPS)) / FPS
    truth = synth.stack_players([synth.gait_motion(times, synth.WALK), synth.gait_motion(times, synth.RUN)])
    j_true = synth.joint_positions_m(truth)
    rows: dict[str, list[tuple[float, float, float, float]]] = {"raw": [], **{m: [] for m in MODES}}
    for seed in range(seeds):
        est = synth.noisy_estimates(truth, synth.NoiseSpec(), np.random.default_rng(seed))
        outputs = {"raw": est, **{m: synth.smooth_motion(SmoothingParams(mode=m), times, est) for m in MODES}}
        for name, motion in outputs.items():
            j = synth.joint_positions_m(motion)
            rel, rel_true = j - j[..., :1, :], j_true - j_true[..., :1, :]
            rows[name].append((synth.mpjpe_m(j, j_true), synth.mean_accel_m_s2(j, times),
                               synth.mpjpe_m(rel, rel_true), synth.mean_accel_m_s2(rel, times)))
    raw = np.mean(rows["raw"], axis=0)
    print(f"\n== accuracy: walker + runner, 10 s at 25 fps, {seeds} noise seeds "
          f"(ground-truth jitter {synth.mean_accel_m_s2(j_true, times):.1f} m/s²)")
    print(f"{'':8s} {'MPJPE mm':>9s} {'jitter m/s²':>12s} {'ratio':>6s} | root-relative: "
          f"{'MPJPE mm':>9s} {'jitter':>7s} {'ratio':>6s}")
    for name, vals in rows.items():
        m = np.mean(vals, axis=0)
        print(f"{name:8s} {1000 * m[0]:9.1f} {m[1]:12.1f} {m[1] / raw[1]:6.3f} | {'':15s}"
              f"{1000 * m[2]:9.1f} {m[3]:7.1f} {m[3] / raw[3]:6.3f}")


def _step(mode: str, what: str, size: float) -> tuple[int, int]:
    n, at = 60, 30
    times = np.arange(n) / FPS
    rotvec = np.zeros((n, 22, 3))
    rotvec[:, 0] = [math.pi, 0.0, 0.0]
    transl = np.tile([0.0, 0.5, 8.0], (n, 1))
    rotvec[:, 1:] += np.random.default_rng(1).normal(0.0, math.radians(1.0), size=(n, 21, 3))
    if what == "knee":
        rotvec[at:, 4, 0] += math.radians(size)
    else:
        transl[at:, 0] += size
    smoother: Smoother[int] = Smoother(SmoothingParams(mode=mode))
    out = {}
    for k, body in enumerate(synth.single_track_bodies(times, rotvec, transl)):
        smoother.push(k, float(times[k]), body)
        out.update(smoother.release())
    out.update(smoother.release(final=True))
    if what == "knee":
        resp, after = np.array([out[k].body_pose[0, 3, 0] for k in range(n)]), math.radians(size)
    else:
        resp, after = np.array([out[k].transl[0, 0] for k in range(n)]), size
    half = synth.step_delay_frames(resp, at, 0.0, after)
    rise = next((k - at for k in range(at, n) if abs(resp[k] - after) <= 0.1 * abs(after)), n)
    return half, rise


def step_lag() -> None:
    print("\n== step lag at 25 fps: frames to 50 % (to within 10 %) of the step; rts may move early")
    cases = [("knee", 10.0, "°"), ("knee", 25.0, "°"), ("knee", 60.0, "°"), ("knee", 150.0, "°"),
             ("transl", 0.2, " m"), ("transl", 2.0, " m")]
    for what, size, unit in cases:
        cells = [f"{mode} {_step(mode, what, size)[0]} ({_step(mode, what, size)[1]})" for mode in MODES]
        print(f"{what} {size:g}{unit}: " + ", ".join(cells))


def fps_invariance() -> None:
    print("\n== frame-rate invariance: mean joint distance (mm) between low- and high-rate runs")
    for factor, fps_high in ((3, 75.0), (2, 50.0)):
        t_low, low, t_high, high = synth.same_information_clips(seed=0, factor=factor, fps_high=fps_high)
        for mode in MODES:
            p = SmoothingParams(mode=mode)
            s = math.sqrt(factor)
            p_high = dataclasses.replace(p, rot_noise_rad=p.rot_noise_rad * s, transl_noise_m=p.transl_noise_m * s,
                                         depth_noise_m=p.depth_noise_m * s)
            j_low = synth.joint_positions_m(synth.smooth_motion(p, t_low, low))
            blind_times = np.arange(len(t_high)) / (fps_high / factor)
            d, c = (1000 * np.mean(np.linalg.norm(_at_low_rate(mode, synth.joint_positions_m(
                synth.smooth_motion(p_high, times, high)), t_high, t_low, factor) - j_low, axis=-1))
                for times in (t_high, blind_times))
            print(f"{fps_high / factor:g} vs {fps_high:g} fps, {mode}: {d:.1f} mm "
                  f"(timestamps ignored: {c:.1f} mm)")


def _at_low_rate(mode: str, joints: np.ndarray, t_high: np.ndarray, t_low: np.ndarray, factor: int) -> np.ndarray:
    """High-rate joints (P, T·factor, J, 3) at the low-rate frames: interpolated at their times
    (rts), or the last high-rate frame of each group, the first with the same information (forward)."""
    if mode == "forward":
        return joints[:, factor - 1::factor]
    flat = joints.reshape(joints.shape[0], joints.shape[1], -1)
    out = np.stack([[np.interp(t_low, t_high, flat[p, :, c]) for c in range(flat.shape[2])]
                    for p in range(flat.shape[0])])  # (P, C, T)
    return np.moveaxis(out, -1, 1).reshape(joints.shape[0], len(t_low), *joints.shape[2:])


def fixed_lag() -> None:
    print("\n== fixed-lag vs whole-clip RTS (walker + runner, 20 s, window 8)")
    times = np.arange(int(20 * FPS)) / FPS
    truth = synth.stack_players([synth.gait_motion(times, synth.WALK), synth.gait_motion(times, synth.RUN)])
    est = synth.noisy_estimates(truth, synth.NoiseSpec(), np.random.default_rng(1))
    j_true = synth.joint_positions_m(truth)
    j_whole = synth.joint_positions_m(synth.smooth_motion(SmoothingParams(lag_s=1e9), times, est))
    print(f"whole clip: MPJPE {1000 * synth.mpjpe_m(j_whole, j_true):.1f} mm")
    for lag in (0.2, 0.3, 0.5, 1.0):
        smoother: Smoother[int] = Smoother(SmoothingParams(lag_s=lag))
        held, out = 0, {}
        for start in range(0, len(times), 8):
            for k in range(start, min(start + 8, len(times))):
                smoother.push(k, float(times[k]), est.body_at(k))
            held = max(held, smoother.held)
            out.update(smoother.release())
        out.update(smoother.release(final=True))
        motion = synth.Motion(*(np.stack([getattr(out[k], f) for k in range(len(times))], 1).astype(np.float64)
                                for f in ("global_orient", "body_pose", "transl", "betas", "joint_conf")))
        j = synth.joint_positions_m(motion)
        d = 1000 * np.linalg.norm(j - j_whole, axis=-1)
        print(f"lag {lag:.1f} s: mean {d.mean():.2f} mm, max {d.max():.1f} mm from whole clip; "
              f"MPJPE {1000 * synth.mpjpe_m(j, j_true):.1f} mm; at most {held} frames held")


def cost(players: int, seconds: float) -> None:
    times = np.arange(int(seconds * FPS)) / FPS
    truth = synth.stack_players([synth.gait_motion(times, dataclasses.replace(
        synth.RUN if i % 2 else synth.WALK, phase=i, start_m=(i - players / 2, 1.0, 15.0 + i % 5)))
        for i in range(players)])
    est = synth.noisy_estimates(truth, synth.NoiseSpec(), np.random.default_rng(0))
    bodies = [est.body_at(k) for k in range(len(times))]
    print(f"\n== cost: {players} players x {len(times)} frames, window 8, one core")
    for mode in MODES:
        best = math.inf
        for _ in range(3):
            smoother: Smoother[int] = Smoother(SmoothingParams(mode=mode))
            t0 = time.process_time()
            for start in range(0, len(times), 8):
                for k in range(start, min(start + 8, len(times))):
                    smoother.push(k, float(times[k]), bodies[k])
                smoother.release()
            smoother.release(final=True)
            best = min(best, time.process_time() - t0)
        print(f"{mode}: {1e6 * best / (len(times) * players):.1f} µs per player-frame "
              f"({1e3 * best / len(times):.2f} ms per frame)")
    # filterpy, one object per joint axis / translation axis (2 states each), predict + update
    from filterpy.common import Q_continuous_white_noise
    from filterpy.kalman import KalmanFilter

    filters = []
    for _ in range(22 * 3 + 3):
        kf = KalmanFilter(dim_x=2, dim_z=1)
        kf.F = np.array([[1.0, 1 / FPS], [0.0, 1.0]])
        kf.Q = Q_continuous_white_noise(2, 1 / FPS, 10.0)
        kf.H = np.array([[1.0, 0.0]])
        kf.R *= 0.01
        filters.append(kf)
    n = 50
    t0 = time.process_time()
    for _ in range(n):
        for kf in filters:
            kf.predict()
            kf.update(0.1)
    per = (time.process_time() - t0) / n
    print(f"filterpy KalmanFilter per object (69 scalar CV filters, no RTS, no manifold): "
          f"{1e6 * per:.0f} µs per player-frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=22)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    accuracy(args.seeds)
    step_lag()
    fps_invariance()
    fixed_lag()
    cost(args.players, args.seconds)


if __name__ == "__main__":
    main()

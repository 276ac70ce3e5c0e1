"""Soccer stages against ground truth on generated broadcast clips.

A clip from :mod:`streamer.synth` goes through ``detect`` → ``track`` → ``calibrate`` →
``soccer`` (the project's own stages, default config, automatic calibration unless
``--manual`` gives the calibrate stage frame 0's true landmarks with 1 px of click noise).
Each frame's tracks are matched to the truth's visible boxes (IoU >= 0.5, Hungarian), then:

* calibration: RMS line error the stage reports, and the true error over the frame's pitch
  pixels, in pixels (each pixel to the pitch through the estimate, back through the truth)
  and in metres on the near half (y < 0) of the pitch;
* teams: share of matched (frame, player) rows with the right team (best 0/1 naming; the
  referee must be "other");
* positions: pitch ground point vs the true point under the pelvis (box-bottom ground points
  unless a mesh stage runs);
* speeds: the stage's speed vs the same smoother run on the true pelvis path, and the
  highest speed reported.

Usage: python tools/soccer_eval.py [--seeds 1 2] [--seconds 6] [--size 1280x720] [--manual]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamer.config import load_config  # noqa: E402
from streamer.records import Frame, Packet  # noqa: E402
from streamer.soccer import kinematics, pitch_model  # noqa: E402
from streamer.soccer.angles import JOINT  # noqa: E402
from streamer.soccer.homography import apply_homography  # noqa: E402
from streamer.stages import StageContext, build_stage  # noqa: E402


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of (N, 4) and (M, 4) xyxy boxes."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def calibration_errors(
    image_to_pitch: np.ndarray, true_p2i: np.ndarray, size: tuple[int, int]
) -> tuple[float, float]:
    """Median error over the frame's pitch pixels: pixels, and metres on the near half."""
    w, h = size
    grid = np.stack(np.meshgrid(np.linspace(0, w - 1, 40), np.linspace(0, h - 1, 24)), -1).reshape(-1, 2)
    truth_m = apply_homography(np.linalg.inv(true_p2i), grid)
    on = pitch_model.inside_pitch(truth_m)
    est_m = apply_homography(image_to_pitch, grid[on])
    px = np.linalg.norm(apply_homography(true_p2i, est_m) - grid[on], axis=1)
    near = truth_m[on, 1] < 0
    metres = np.linalg.norm(est_m - truth_m[on], axis=1)[near]
    return float(np.median(px)), float(np.median(metres)) if near.any() else float("nan")


def run_clip(seed: int, seconds: float, size: tuple[int, int], manual: bool) -> dict[str, float]:
    from streamer import synth

    cfg = synth.SynthConfig(width=size[0], height=size[1], fps=25.0, seconds=seconds, seed=seed)
    t0 = time.perf_counter()
    clip = list(synth.generate(cfg))
    gen_s = time.perf_counter() - t0
    config = load_config()
    config["pipeline"]["stages"] = ["detect", "track", "calibrate", "soccer"]
    config["soccer"]["report"] = False
    if manual:
        truth0 = clip[0][1]
        names = [n for n in pitch_model.landmarks()]
        pts = np.array([pitch_model.landmarks()[n] for n in names])
        uv = apply_homography(truth0.homography, pts)
        inside = (uv[:, 0] > 5) & (uv[:, 0] < size[0] - 5) & (uv[:, 1] > 5) & (uv[:, 1] < size[1] - 5)
        rng = np.random.default_rng(seed)
        noisy = uv[inside] + rng.normal(0, 1.0, uv[inside].shape)
        config["calibrate"]["manual_points"] = [
            [*a, *b] for a, b in zip(noisy.tolist(), pts[inside].tolist(), strict=True)
        ]
    context = StageContext("cpu", 25.0)
    stages = [build_stage(n, config, context) for n in config["pipeline"]["stages"]]
    timers = {s.name: 0.0 for s in stages}
    out: list[Packet] = []

    def push(window: list[Packet], final: bool) -> None:
        for stage in stages:
            t = time.perf_counter()
            window = stage.process(window) + (stage.flush() if final else [])
            timers[stage.name] += time.perf_counter() - t
        out.extend(window)

    window: list[Packet] = []
    for image, truth in clip:
        window.append(Packet(Frame(truth.index, truth.index, truth.time_s, image)))
        if len(window) == 8:
            push(window, False)
            window = []
    push(window, True)
    truths = {t.index: t for _, t in clip}
    cal_px, cal_m, cal_rms, pos_err, team_rows, sources = [], [], [], [], [], []
    ours: dict[int, dict[float, float]] = {}
    truth_paths: dict[int, list[tuple[float, float, float]]] = {}
    for packet in out:
        truth = truths[packet.frame.index]
        if packet.calibration is not None:
            px, m = calibration_errors(packet.calibration.image_to_pitch, truth.homography, size)
            cal_px.append(px)
            cal_m.append(m)
            cal_rms.append(packet.calibration.reprojection_error_px)
            sources.append(packet.calibration.source)
        pelvis = truth.joints_pitch_m[:, JOINT["pelvis"], :2]
        for tid, p in zip(truth.track_id, pelvis, strict=True):
            truth_paths.setdefault(int(tid), []).append((truth.time_s, *p))
        seen = np.flatnonzero((truth.visible_px >= 40) & np.isfinite(truth.xyxy_visible_px).all(axis=1))
        m = packet.metrics
        if m is None or len(m) == 0 or len(seen) == 0:
            continue
        overlap = iou(
            packet.tracks.xyxy_px.astype(np.float64), truth.xyxy_visible_px[seen].astype(np.float64)
        )
        rows, cols = linear_sum_assignment(-overlap)
        for r, c in zip(rows, cols, strict=True):
            if overlap[r, c] < 0.5:
                continue
            k = seen[c]
            team_rows.append((int(truth.team[k]), int(m.team[r])))
            if np.isfinite(m.pitch_xy_m[r]).all():
                pos_err.append(float(np.linalg.norm(m.pitch_xy_m[r] - pelvis[k])))
            if np.isfinite(m.speed_mps[r]):
                ours.setdefault(int(truth.track_id[k]), {})[truth.time_s] = float(m.speed_mps[r])
    kin = kinematics.KinematicsConfig()
    speed_err, true_max = [], 0.0
    for tid, rows in truth_paths.items():
        arr = np.array(rows)
        true_speed = kinematics.speed_series(arr[:, 0], arr[:, 1:], kin).speed_mps
        true_max = max(true_max, float(np.nanmax(true_speed)) if np.isfinite(true_speed).any() else 0.0)
        for t, s in zip(arr[:, 0], true_speed, strict=True):
            if np.isfinite(s) and t in ours.get(tid, {}):
                speed_err.append(abs(ours[tid][t] - s))
    truth_t, pred = np.array(team_rows).T
    swapped = np.where(pred == 0, 1, np.where(pred == 1, 0, pred))
    accuracy = max(float(np.mean(truth_t == pred)), float(np.mean(truth_t == swapped)))
    all_speeds = [v for d in ours.values() for v in d.values()]
    n = len(out)
    return {
        "seed": seed, "frames": n, "generate_s": round(gen_s, 1),
        "calibrated_frames": len(cal_px), "auto_frames": sources.count("auto"),
        "cal_rms_px_median": float(np.nanmedian(cal_rms)) if cal_rms else float("nan"),
        "cal_true_err_px_median": float(np.median(cal_px)) if cal_px else float("nan"),
        "cal_true_err_px_p95": float(np.percentile(cal_px, 95)) if cal_px else float("nan"),
        "cal_true_err_near_half_m_median": float(np.nanmedian(cal_m)) if cal_m else float("nan"),
        "team_rows": len(team_rows), "team_accuracy": accuracy,
        "ground_err_m_median": float(np.median(pos_err)) if pos_err else float("nan"),
        "ground_err_m_p90": float(np.percentile(pos_err, 90)) if pos_err else float("nan"),
        "speed_abs_err_mps_median": float(np.median(speed_err)) if speed_err else float("nan"),
        "speed_abs_err_mps_p90": float(np.percentile(speed_err, 90)) if speed_err else float("nan"),
        "max_speed_reported_mps": max(all_speeds) if all_speeds else float("nan"),
        "max_true_speed_mps": true_max,
        **{f"ms_per_frame_{k}": round(1000 * v / n, 1) for k, v in timers.items()},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--manual", action="store_true", help="manual calibration of frame 0 (1 px noise)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    for seed in args.seeds:
        result = run_clip(seed, args.seconds, size, args.manual)
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()

"""Pitch calibration against hand-labelled pitch points on real broadcast clips.

Each ``tests/data/pitch_points/<stem>.json`` names image positions of known pitch points
(format in the README, names from :func:`streamer.soccer.pitch_model.landmarks`). The clip
goes through ``detect`` → ``track`` → ``calibrate`` → ``soccer`` (default config, the
default detector) and for every labelled frame this reports:

* ``calibrated``: whether the frame got a calibration (the stage's confidence gate passed);
* ``err_med`` / ``err_max``: the labelled points' reprojection error through the frame's
  calibration (pitch point → image through the inverse homography, distance to the label),
  as a share of the image width (%); blank when uncalibrated;
* per clip: the share of frames calibrated, and the share of the player positions written
  (finite ``pitch_xy_m``) that lie on the pitch grown by ``--margin-m``; with person-box
  labels (``tests/data/person_boxes/<stem>.json``) on frames in the run, that share split
  into the tracks on labelled players (IoU >= 0.5: a wrong calibration puts them off the
  pitch) and the tracks on people the labels ignore (stewards, photographers, ball kids
  beside the pitch: rightly placed off it), and the median distance of the off-pitch
  positions beyond the lines.

``--draw DIR`` writes each labelled frame with the labels (green) and where the frame's
calibration puts them (red) and its pitch lines (magenta), to check labels and fits by eye.

Usage: python tools/eval_calibration.py [--data ../shared/data] [--labels tests/data/pitch_points]
       [--only STEM ...] [--draw DIR] [--json OUT] [--cache DIR] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamer.boxes import coverage, iou  # noqa: E402
from streamer.config import load_config, section_to  # noqa: E402
from streamer.detection.shots import ShotConfig, ShotDetector  # noqa: E402
from streamer.io.source import open_source  # noqa: E402
from streamer.records import Packet  # noqa: E402
from streamer.soccer import pitch_model  # noqa: E402
from streamer.soccer.homography import apply_homography  # noqa: E402
from streamer.stages import StageContext, build_stage, end_shot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load_labels(path: Path) -> dict[str, Any]:
    """One label file, with every point name checked against the pitch model."""
    data = json.loads(path.read_text())
    known = pitch_model.landmarks()
    for frame in data["frames"]:
        for p in frame["points"]:
            if p["name"] not in known:
                raise ValueError(f"{path}: frame {frame['frame']}: unknown pitch point {p['name']!r}")
    return data


def point_errors(image_to_pitch: np.ndarray, points: list[dict[str, Any]]) -> np.ndarray:
    """(K,) pixel distance of each labelled point to where the calibration puts it."""
    if not points:
        return np.zeros(0)
    known = pitch_model.landmarks()
    pitch = np.array([known[p["name"]] for p in points], np.float64)
    label = np.array([[p["u"], p["v"]] for p in points], np.float64)
    return np.linalg.norm(apply_homography(np.linalg.inv(image_to_pitch), pitch) - label, axis=1)


def run_clip(media: Path, last_frame: int, config: dict[str, Any], cache: Path | None = None) -> list[Packet]:
    """Packets of frames 0..last_frame through detect, track, calibrate and soccer.

    With ``cache``, the detect and track outputs are stored there on the first run and read
    back on later ones (only calibrate and soccer run again: for tuning the calibration). The
    ``shots`` detector's camera cuts end the stages' shots, as in a run (without them a
    detector's and the tracker's state ran on across a cut, and the numbers were not a run's).
    """
    names = ["detect", "track", "calibrate", "soccer"]
    config["pipeline"]["stages"] = names
    config["soccer"]["report"] = False
    cached: dict[int, dict[str, Any]] | None = None
    cache_file = cache / f"{media.stem}_{last_frame}.pkl" if cache is not None else None
    if cache_file is not None and cache_file.exists():
        cached = pickle.loads(cache_file.read_bytes())
        names = names[2:]
    out: list[Packet] = []
    shots = ShotDetector(section_to(ShotConfig, config["shots"], "shots")) if config["shots"]["enabled"] else None
    with open_source(str(media), config["source"]) as src:
        context = StageContext("cpu", src.info.fps or 25.0)
        stages = [build_stage(n, config, context) for n in names]

        def push(window: list[Packet], final: bool = False, shot_end: bool = False) -> None:
            for stage in stages:
                window = (stage.process(window) if window else []) + (end_shot(stage) if shot_end else []) \
                    + (stage.flush() if final else [])
            out.extend(window)

        window: list[Packet] = []
        waiting: dict[int, Packet] = {}  # frames the shot detector has not decided yet
        current = 0

        def add(packet: Packet) -> None:
            nonlocal window, current
            if packet.shot != current:  # a camera cut ends the stages' shot, as in a run
                push(window, shot_end=True)
                window, current = [], packet.shot
            window.append(packet)
            if len(window) == 8:
                push(window)
                window = []

        for frame in src:
            if frame.index > last_frame:
                break
            packet = Packet(frame)
            if cached is not None:
                packet = packet.replace(**cached[frame.index])
            if shots is None:
                add(packet)
                continue
            waiting[frame.index] = packet
            decided = shots.push(frame.index, frame.time_s, frame.image)
            if frame.index >= last_frame:
                decided += shots.finish()
            for index, shot in decided:
                add(waiting.pop(index).replace(shot=shot))
        push(window, final=True)
    if cache_file is not None and cached is None:
        keep = ("detections", "tracks", "camera_motion")
        cache.mkdir(parents=True, exist_ok=True)
        temp = cache_file.with_name(cache_file.name + ".partial")  # a killed run leaves no truncated cache
        temp.write_bytes(pickle.dumps({p.frame.index: {k: getattr(p, k) for k in keep} for p in out}))
        os.replace(temp, cache_file)
    return out


def calibrate_frames(media: Path, first: int, last: int, config: dict[str, Any]) -> list[Packet]:
    """Frames first..last through the calibrate stage alone (no player boxes, no camera
    motion: each frame refines the previous one's calibration as it is): a quick check."""
    out: list[Packet] = []
    with open_source(str(media), config["source"]) as src:
        stage = build_stage("calibrate", config, StageContext("cpu", src.info.fps or 25.0))
        for frame in src:
            if frame.index > last:
                break
            if frame.index >= first:
                out += stage.process([Packet(frame)])
        out += stage.flush()
    return out


def _draw(path: Path, packet: Packet, points: list[dict[str, Any]]) -> None:
    import cv2

    img = cv2.cvtColor(packet.frame.image, cv2.COLOR_RGB2BGR)
    cal = packet.calibration
    if cal is not None:
        from streamer.soccer.overlay import draw_pitch_lines

        draw_pitch_lines(img, cal, (255, 0, 255))
    known = pitch_model.landmarks()
    for p in points:
        u, v = int(p["u"]), int(p["v"])
        cv2.circle(img, (u, v), 5, (0, 255, 0), 1)
        cv2.putText(img, p["name"], (u + 6, v - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1)
        if cal is not None:
            q = apply_homography(np.linalg.inv(cal.image_to_pitch), np.array([known[p["name"]]]))[0]
            if np.isfinite(q).all() and np.abs(q).max() < 1e5:
                cv2.drawMarker(img, (int(q[0]), int(q[1])), (0, 0, 255), cv2.MARKER_CROSS, 10, 1)
    cv2.putText(img, "calibrated" if cal is not None else "NO CALIBRATION", (10, img.shape[0] - 10),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 1)  # fmt: skip
    cv2.imwrite(str(path), img)


def evaluate(
    label_path: Path, data_dir: Path, margin_m: float, draw: Path | None, cache: Path | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    labels = load_labels(label_path)
    media = data_dir / labels["media"]
    by_frame = {f["frame"]: f for f in labels["frames"]}
    last = max(by_frame)
    t0 = time.perf_counter()
    packets = run_clip(media, last, load_config(None, overrides or []), cache)
    wall = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    positions, on_pitch = 0, 0
    people = _person_labels(label_path.stem)
    split = {"players": [0, 0], "ignored": [0, 0]}  # positions, of them on the pitch
    beyond: list[float] = []
    for packet in packets:
        m = packet.metrics
        if m is not None and len(m):
            ok = np.isfinite(m.pitch_xy_m).all(axis=1)
            xy = m.pitch_xy_m[ok]
            inside = pitch_model.inside_pitch(xy, margin_m)
            positions += len(xy)
            on_pitch += int(inside.sum())
            beyond += _beyond_lines_m(xy[~inside]).tolist()
            if packet.frame.index in people and packet.tracks is not None:
                kind = _person_kind(packet.tracks.xyxy_px[ok], people[packet.frame.index])
                for name in split:
                    split[name][0] += int((kind == name).sum())
                    split[name][1] += int(inside[kind == name].sum())
        label = by_frame.get(packet.frame.index)
        if label is None:
            continue
        width = packet.frame.image.shape[1]
        cal = packet.calibration
        row: dict[str, Any] = {
            "frame": packet.frame.index, "split": label.get("split", ""), "points": len(label["points"]),
            "calibrated": cal is not None, "source": cal.source if cal is not None else "",
            "err_med_pct": float("nan"), "err_max_pct": float("nan"),
        }  # fmt: skip
        if cal is not None and label["points"]:
            err = point_errors(cal.image_to_pitch, label["points"]) / width * 100
            row["err_med_pct"], row["err_max_pct"] = float(np.median(err)), float(err.max())
        rows.append(row)
        if draw is not None:
            draw.mkdir(parents=True, exist_ok=True)
            _draw(draw / f"{label_path.stem}_{packet.frame.index:04d}.png", packet, label["points"])
    calibrated = [p.calibration is not None for p in packets]
    return {
        "clip": label_path.stem, "frames_run": len(packets), "wall_s": round(wall, 1),
        "share_calibrated": float(np.mean(calibrated)) if calibrated else float("nan"),
        "positions": positions,
        "share_on_pitch": on_pitch / positions if positions else float("nan"),
        "off_pitch_median_beyond_m": float(np.median(beyond)) if beyond else float("nan"),
        "labelled_players_positions": split["players"][0],
        "labelled_players_on_pitch": split["players"][1] / split["players"][0] if split["players"][0] else float("nan"),
        "ignored_people_positions": split["ignored"][0],
        "ignored_people_on_pitch": split["ignored"][1] / split["ignored"][0] if split["ignored"][0] else float("nan"),
        "frames": rows,
    }  # fmt: skip


def _person_labels(stem: str) -> dict[int, dict[str, np.ndarray]]:
    """Frame index -> labelled player boxes and ignore regions (empty without a label file)."""
    path = ROOT / "tests" / "data" / "person_boxes" / f"{stem}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {
        f["frame"]: {k: np.asarray(f[k], np.float64).reshape(-1, 4) for k in ("boxes", "ignore")}
        for f in data["frames"]
    }


def _person_kind(boxes: np.ndarray, labels: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) "players" for track boxes on a labelled player (IoU >= 0.5, one each), "ignored"
    for boxes at least half inside an ignore region, "" otherwise."""
    kind = np.full(len(boxes), "", dtype=object)
    if len(boxes) and len(labels["boxes"]):
        overlap = iou(boxes, labels["boxes"])
        rows, cols = linear_sum_assignment(-overlap)
        kind[rows[overlap[rows, cols] >= 0.5]] = "players"
    if len(boxes) and len(labels["ignore"]):
        inside = coverage(boxes, labels["ignore"]).max(axis=1) >= 0.5
        kind[(kind == "") & inside] = "ignored"
    return kind


def _beyond_lines_m(xy: np.ndarray) -> np.ndarray:
    """(K,) how far (m) each of (K, 2) pitch points lies outside the touch and goal lines."""
    dx = np.abs(xy[:, 0]) - pitch_model.HALF_LENGTH_M
    dy = np.abs(xy[:, 1]) - pitch_model.HALF_WIDTH_M
    return np.hypot(np.clip(dx, 0, None), np.clip(dy, 0, None))


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's acceptance numbers over every labelled frame with >= 4 points."""
    rows = [r for res in results for r in res["frames"] if r["points"] >= 4]
    good = [r for r in rows if r["calibrated"] and r["err_med_pct"] <= 1.0]
    bad = [r for r in rows if r["calibrated"] and r["err_max_pct"] > 3.0]
    return {
        "frames_4plus": len(rows),
        "share_med_err_le_1pct": len(good) / len(rows) if rows else float("nan"),
        "calibrated_with_max_err_gt_3pct": len(bad),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--labels", type=Path, default=ROOT / "tests" / "data" / "pitch_points")
    parser.add_argument("--only", nargs="*", default=None, help="label file stems to run")
    parser.add_argument("--margin-m", type=float, default=3.0, help="on-pitch tolerance (m)")
    parser.add_argument("--draw", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="keep detect+track outputs here (tuning)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. --set calibrate.outsiders.keep=true (repeatable)")
    args = parser.parse_args()
    results = []
    for path in sorted(args.labels.glob("*.json")):
        if args.only and path.stem not in args.only:
            continue
        res = evaluate(path, args.data, args.margin_m, args.draw, args.cache, args.overrides)
        results.append(res)
        print(f"{res['clip']}: frames={res['frames_run']} calibrated={res['share_calibrated']:.3f} "
              f"positions={res['positions']} on_pitch={res['share_on_pitch']:.3f} "
              f"(off-pitch ones: median {res['off_pitch_median_beyond_m']:.1f} m beyond the lines; "
              f"labelled players {res['labelled_players_on_pitch']:.3f} of {res['labelled_players_positions']}, "
              f"ignored people {res['ignored_people_on_pitch']:.3f} of {res['ignored_people_positions']}) "
              f"({res['wall_s']} s)")  # fmt: skip
        for r in res["frames"]:
            print(f"  frame {r['frame']:4d} pts={r['points']} cal={'yes' if r['calibrated'] else 'no '} "
                  f"{r['source']:10s} err_med={r['err_med_pct']:6.2f}% err_max={r['err_max_pct']:6.2f}%")  # fmt: skip
    total = summary(results)
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in total.items()))
    if args.json is not None:
        args.json.write_text(json.dumps({"clips": results, "summary": total}, indent=1))


if __name__ == "__main__":
    main()

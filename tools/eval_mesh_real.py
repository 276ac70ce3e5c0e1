"""Knee flexion of the mesh fit on a real single-person clip, raw and smoothed, left and right.

    python tools/eval_mesh_real.py ../shared/data/clips/indoor_person_squat.mp4 --box 480 0 620 544 \
        --phase bottom 246 254 --phase standing 196 204

Puts the real stages after ``detect`` (keypoints → mesh → smooth → soccer, the default
config plus any ``--set`` overrides) on one person whose box follows his own BlazePose
keypoints from frame to frame (as MediaPipe's tracking does), starting from ``--box``:
it needs no person detector. The keypoints are cached (``--cache``), so re-running the fit
after a change costs only the fit. Prints, per phase (a frame range), the mean of the
left, right and both knees' flexion from ``angles.csv`` (smoothed) and from the unsmoothed
fit, and BlazePose's own world landmarks' knee angle for comparison.

    python tools/eval_mesh_real.py --marks tests/data/joints_2d/real_frames.json [--draw DIR]

checks instead that the fitted joints, projected into the image, stay on the body: the keypoint
stage and the default mesh fit on each hand-marked frame's box, and the share of the marked
(visible) joints whose projection lies within 10 % of the person's height of the mark. Left
and right of a limb may be swapped (the smaller error of the two labellings counts): the check
is about staying on the body; the side is what the squat's flexion numbers test.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from streamer.config import load_config
from streamer.io.source import open_source
from streamer.pose.layouts import get_layout
from streamer.records import Keypoints, Packet, Tracks

_CACHE: dict[int, tuple[np.ndarray, Keypoints]] = {}


def follow_keypoints(media: str, box: np.ndarray, max_frames: int = 0, min_conf: float = 0.5,
                     pad: float = 0.12, follow: bool = True) -> dict[int, tuple[np.ndarray, Keypoints]]:
    """frame → (box, Keypoints) of one person, the box following his keypoints' extent (or fixed)."""
    from streamer.models.blazepose import BlazePoseBackend

    backend = BlazePoseBackend(threads=1)
    out: dict[int, tuple[np.ndarray, Keypoints]] = {}
    box = np.asarray(box, np.float32)
    with open_source(media, load_config()["source"]) as src:
        for frame in src:
            if max_frames and frame.index >= max_frames:
                break
            h, w = frame.image.shape[:2]
            batch = backend.estimate([frame.image], np.zeros(1, np.int64), box[None], np.zeros(1))
            kp = Keypoints(np.array([1]), batch.xy_px, batch.conf, backend.layout, batch.world_m)
            out[frame.index] = (box.copy(), kp)
            seen = batch.conf[0] >= min_conf
            if follow and seen.sum() >= 8:
                lo, hi = batch.xy_px[0, seen].min(0), batch.xy_px[0, seen].max(0)
                margin = pad * (hi[1] - lo[1])
                new = np.array([max(lo[0] - margin, 0), max(lo[1] - margin, 0), min(hi[0] + margin, w),
                                min(hi[1] + margin, h)], np.float32)
                if new[3] - new[1] >= 40 and new[2] - new[0] >= 10:
                    box = new
    return out


def save_cache(path: Path, data: dict[int, tuple[np.ndarray, Keypoints]]) -> None:
    frames = sorted(data)
    np.savez_compressed(path, frame=np.array(frames), box=np.stack([data[f][0] for f in frames]),
                        xy=np.concatenate([data[f][1].xy_px for f in frames]),
                        conf=np.concatenate([data[f][1].conf for f in frames]),
                        world=np.concatenate([data[f][1].world_m for f in frames]))


def load_cache(path: Path) -> dict[int, tuple[np.ndarray, Keypoints]]:
    z = np.load(path)
    return {int(f): (z["box"][i], Keypoints(np.array([1]), z["xy"][i:i + 1], z["conf"][i:i + 1], "blazepose33",
                                             z["world"][i:i + 1]))
            for i, f in enumerate(z["frame"])}


class ReplayStage:
    """Stands in for detect + track + keypoints: the cached box and keypoints of each frame."""

    name = "replay"
    reads: tuple[str, ...] = ()
    fills = ("tracks", "keypoints")

    def process(self, packets: list[Packet]) -> list[Packet]:
        out = []
        for p in packets:
            box, kp = _CACHE[p.frame.index]
            tracks = Tracks(np.array([1]), box[None].astype(np.float32), np.ones(1, np.float32))
            out.append(p.replace(tracks=tracks, keypoints=kp))
        return out

    def flush(self) -> list[Packet]:
        return []


def build_replay(config: dict[str, Any], context: Any) -> ReplayStage:
    return ReplayStage()


class RawSink:
    """Keeps each frame's unsmoothed (``body_raw``) and smoothed joints of track 1."""

    name = "raw"

    def __init__(self) -> None:
        self.raw: dict[int, np.ndarray] = {}
        self.smooth: dict[int, np.ndarray] = {}

    def write(self, packet: Packet) -> None:
        for store, body in ((self.raw, packet.body_raw), (self.smooth, packet.body)):
            if body is not None and len(body) and body.joints_cam_m is not None:
                store[packet.frame.index] = body.joints_cam_m[0].copy()

    def counts(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


def world_knees(kp: Keypoints) -> tuple[float, float]:
    """BlazePose world landmarks' left and right knee flexion (degrees)."""
    from streamer.soccer.angles import knee_flexion_deg

    lay = get_layout("blazepose33")
    w = kp.world_m[0].astype(np.float64)
    return tuple(float(knee_flexion_deg(*(w[lay.index(f"{s}_{j}")][None] for j in ("hip", "knee", "ankle")))[0])
                 for s in ("left", "right"))  # type: ignore[return-value]


def run(media: str, overrides: list[str], out_dir: Path, max_frames: int) -> RawSink:
    from streamer.pipeline import Pipeline
    from streamer.stages import register_stage

    register_stage("replay", f"{__name__}:build_replay")
    config = load_config(overrides=["pipeline.stages=[replay,mesh,smooth,soccer]", "progress=off",
                                    "outputs.overlay.enabled=false", *overrides])
    if max_frames:
        config["source"]["max_frames"] = max_frames
    sink = RawSink()
    Pipeline(config).run(media, out_dir, extra_sinks=[sink])
    return sink


_LIMBS = (("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle"))


def frame_image(media: str, index: int) -> np.ndarray:
    """The ``index``-th frame of ``media`` as the pipeline decodes it (RGB)."""
    with open_source(media, load_config()["source"]) as src:
        for frame in src:
            if frame.index == index:
                return frame.image
    raise ValueError(f"{media} has no frame {index}")


def check_marks(path: Path, data_root: Path, share: float = 0.1, draw: Path | None = None) -> float:
    """Share of hand-marked joints whose fitted projection lies within ``share`` x height; prints each frame."""
    import json

    from mesh_fit_image import keypoints_in_box

    from streamer.body.skeleton import BODY_JOINT_NAMES
    from streamer.fitting.camera import default_focal_px
    from streamer.render.camera import intrinsics
    from streamer.stages.mesh import build_fit_backend

    labels = json.loads(path.read_text())
    config = load_config()
    hits, total = 0, 0
    for item in labels["items"]:
        image = frame_image(str(data_root / item["media"]), int(item["frame"]))
        height, width = image.shape[:2]
        fitter = build_fit_backend(config["mesh"]).fitter
        K = intrinsics(default_focal_px(width, config["mesh"]["default_hfov_deg"]), width, height)
        fitted = fitter.fit([keypoints_in_box(image, np.asarray(item["box"], np.float64))], [K], [0.0])[0]
        marks = {k: np.asarray(v, np.float64) for k, v in item["joints"].items()}
        if fitted is None:
            total += len(marks)
            print(f"{item['media']} frame {item['frame']}: not fitted")
            continue
        uvw = fitted.joints_cam_m[0].astype(np.float64) @ K.T
        uv = {n: uvw[j, :2] / uvw[j, 2] for j, n in enumerate(BODY_JOINT_NAMES)}
        errors: dict[str, float] = {}
        for limb in _LIMBS:
            names = [f"{s}_{j}" for s in ("left", "right") for j in limb]
            straight = {n: float(np.linalg.norm(uv[n] - marks[n])) for n in names if n in marks}
            swapped = {n: float(np.linalg.norm(uv[n.replace("left", "X").replace("right", "left").replace("X", "right")]
                                               - marks[n])) for n in names if n in marks}
            errors |= min(straight, swapped, key=lambda e: sum(e.values()))
        ok = {n: e <= share * item["height_px"] for n, e in errors.items()}
        hits, total = hits + sum(ok.values()), total + len(ok)
        worst = max(errors, key=errors.get) if errors else "-"
        print(f"{item['media']} frame {item['frame']}: {sum(ok.values())}/{len(ok)} within "
              f"{share * item['height_px']:.0f} px; median {np.median(list(errors.values())):.1f} px, worst {worst} "
              f"{errors.get(worst, 0):.1f} px")
        if draw is not None:
            import cv2

            canvas = np.ascontiguousarray(image[..., ::-1])
            for m in marks.values():
                cv2.circle(canvas, tuple(int(v) for v in m), 4, (0, 255, 0), -1)
            for n in BODY_JOINT_NAMES:
                cv2.circle(canvas, tuple(int(v) for v in uv[n]), 3, (0, 0, 255), -1)
            draw.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(draw / f"{Path(item['media']).stem}_{item['frame']}.png"), canvas)
    print(f"all: {hits}/{total} = {hits / max(total, 1):.0%} of marked joints within {share:.0%} of the height")
    return hits / max(total, 1)


def main(argv: list[str] | None = None) -> int:
    from streamer.soccer.angles import joint_angles

    if argv is None:
        argv = sys.argv[1:]
    if "--marks" in argv:
        marks = argparse.ArgumentParser(description="projected joints against hand marks")
        marks.add_argument("--marks", type=Path, required=True)
        marks.add_argument("--data", type=Path, default=Path("../shared/data"))
        marks.add_argument("--draw", type=Path, default=None)
        a = marks.parse_args(argv)
        check_marks(a.marks, a.data, draw=a.draw)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("media")
    parser.add_argument("--box", type=float, nargs=4, required=True, help="the person's box in the first frame")
    parser.add_argument("--phase", nargs=3, action="append", default=[], metavar=("NAME", "FIRST", "LAST"))
    parser.add_argument("--set", action="append", default=[], help="config override a.b=c")
    parser.add_argument("--cache", default="", help="keypoint cache .npz (made when missing)")
    parser.add_argument("--fixed", action="store_true", help="keep --box on every frame (no following)")
    parser.add_argument("--max-frames", type=int, default=0)
    parser.add_argument("-o", "--out", default="")
    args = parser.parse_args(argv)
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file():
        data = load_cache(cache)
    else:
        data = follow_keypoints(args.media, np.array(args.box), args.max_frames, follow=not args.fixed)
        if cache is not None:
            save_cache(cache, data)
    _CACHE.clear()
    _CACHE.update(data)
    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="eval_mesh_real_"))
    sink = run(args.media, args.set, out_dir, args.max_frames)
    with open(out_dir / "angles.csv", newline="") as fh:
        rows = {int(r["frame"]): r for r in csv.DictReader(fh)}
    print(f"output: {out_dir}")
    print(f"{'phase':10} {'frames':>9} | {'angles.csv L/R/mean':>22} | {'raw fit L/R/mean':>22} | "
          f"{'BlazePose world L/R/mean':>24}")
    for name, first, last in args.phase:
        frames = range(int(first), int(last) + 1)
        csv_lr = np.array([[float(rows[f][f"{s}_knee_flexion_deg"] or "nan") for s in ("left", "right")]
                           for f in frames if f in rows]).reshape(-1, 2)
        raw = [sink.raw[f] for f in frames if f in sink.raw]
        raw_lr = np.zeros((0, 2))
        if raw:
            a = joint_angles(np.stack(raw))
            raw_lr = np.stack([a["left_knee_flexion_deg"], a["right_knee_flexion_deg"]], 1)
        world_lr = np.array([world_knees(data[f][1]) for f in frames if f in data]).reshape(-1, 2)
        cells = []
        for lr in (csv_lr, raw_lr, world_lr):
            m = np.nanmean(lr, 0) if len(lr) else np.full(2, np.nan)
            cells.append(f"{m[0]:6.1f} {m[1]:6.1f} {np.nanmean(m):6.1f}")
        print(f"{name:10} {first:>4}-{last:<4} | {cells[0]:>22} | {cells[1]:>22} | {cells[2]:>24}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

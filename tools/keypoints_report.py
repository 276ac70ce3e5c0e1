"""Keypoint plausibility on a real clip: share of tracked person-frames with a plausible skeleton.

Boxes come from one of three sources (``--boxes``):

* ``stages``: the project's own ``detect`` + ``track`` stages (what the pipeline feeds
  the keypoint stage; ``--set detect.backend=hog`` for footage without a pitch);
* ``hog``: OpenCV's HOG people detector + greedy IoU ids (``tools/person_boxes.py``);
* ``blobs``: non-grass blobs on the pitch + greedy IoU ids.

The keypoint stage runs exactly as in the pipeline (windows of ``pipeline.window``
frames). Every tracked person-frame counts: one that gets no skeleton (box too
small, pose flag too low) counts as not plausible. The checks are those of
:mod:`streamer.pose.plausibility`.

Writes into ``--out``: ``overlay.mp4`` (boxes, skeletons: player's left orange,
right blue), ``crops.png`` (a random grid of zoomed player crops with their skeletons,
green frame = plausible, red = not), ``implausible.png`` (the same, of implausible
ones only) and ``summary.json``, which it also prints.

Usage:
    python tools/keypoints_report.py CLIP [--boxes stages|hog|blobs] [--max-frames N]
        [--out DIR] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from person_boxes import IouTracker, hog_boxes, pitch_blob_boxes  # noqa: E402

from streamer.config import load_config  # noqa: E402
from streamer.io.source import open_source  # noqa: E402
from streamer.io.video_writer import VideoWriter  # noqa: E402
from streamer.pose.draw import draw_skeletons  # noqa: E402
from streamer.pose.plausibility import CHECKS, check_skeletons  # noqa: E402
from streamer.records import Keypoints, Packet  # noqa: E402
from streamer.stages import StageContext, build_stage  # noqa: E402


def box_stages(args: argparse.Namespace, config: dict, context: StageContext):
    """A function: window of packets → the same packets with tracks."""
    if args.boxes == "stages":
        detect, track = build_stage("detect", config, context), build_stage("track", config, context)
        return lambda packets: track.process(detect.process(packets))
    finder = hog_boxes if args.boxes == "hog" else pitch_blob_boxes
    tracker = IouTracker()

    def run(packets: list[Packet]) -> list[Packet]:
        return [p.replace(tracks=tracker.update(*finder(p.frame.image))) for p in packets]

    return run


def crop_tile(
    image: np.ndarray, box: np.ndarray, keypoints: Keypoints, ok: bool, side: int = 192
) -> np.ndarray:
    """A square zoom around ``box`` with the player's skeleton, framed green (plausible) or red."""
    cx, cy = 0.5 * (box[:2] + box[2:])
    half = 0.75 * max(box[2] - box[0], box[3] - box[1]) + 4
    scale = side / (2 * half)
    # continuous pixel coordinates on both sides (pixel centres at +0.5)
    offset = np.array([side / 2 - scale * cx, side / 2 - scale * cy])
    cv_mat = np.array([[scale, 0, offset[0] + 0.5 * scale - 0.5], [0, scale, offset[1] + 0.5 * scale - 0.5]])
    tile = cv2.warpAffine(image, cv_mat, (side, side), flags=cv2.INTER_LINEAR)
    zoomed = Keypoints(keypoints.track_id, (keypoints.xy_px * scale + offset).astype(np.float32),
                       keypoints.conf, keypoints.layout)
    tile = draw_skeletons(tile, zoomed)
    (x1, y1), (x2, y2) = np.round(box[:2] * scale + offset - 0.5), np.round(box[2:] * scale + offset - 0.5)
    cv2.rectangle(tile, (int(x1), int(y1)), (int(x2), int(y2)), (255, 255, 0), 1)
    cv2.rectangle(tile, (0, 0), (side - 1, side - 1), (0, 200, 0) if ok else (220, 0, 0), 3)
    return tile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--boxes", choices=("stages", "hog", "blobs"), default="stages")
    parser.add_argument("--max-frames", type=int, default=0)
    parser.add_argument("--out", default="")
    parser.add_argument("--tiles", type=int, default=48, help="player crops in crops.png")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = load_config(None, args.overrides)
    out = Path(args.out or f"runs/keypoints_report/{Path(args.clip).stem}-{args.boxes}")
    out.mkdir(parents=True, exist_ok=True)
    context = StageContext("cpu", None)
    find_tracks = box_stages(args, config, context)
    keypoints = build_stage("keypoints", config, context)
    source = open_source(args.clip, {**config["source"], "max_frames": args.max_frames})
    writer = VideoWriter(out / "overlay.mp4", fps=source.info.fps or 25.0, time_base=source.info.time_base)
    rng = np.random.default_rng(0)
    counts = {"person_frames": 0, "with_skeleton": 0, "plausible": 0, **{f"fail_{c}": 0 for c in CHECKS}}
    heights: list[float] = []
    tiles: list[tuple[float, np.ndarray]] = []  # (random key, tile) of every player
    fails: list[tuple[float, np.ndarray]] = []  # the same, of implausible skeletons only
    window_size = max(1, config["pipeline"]["window"])

    def consume(packets: list[Packet]) -> None:
        for packet in keypoints.process(find_tracks(packets)):
            tracks, kp = packet.tracks, packet.keypoints
            counts["person_frames"] += len(tracks)
            heights.extend((tracks.xyxy_px[:, 3] - tracks.xyxy_px[:, 1]).tolist())
            row_of = {int(t): i for i, t in enumerate(tracks.track_id)}
            boxes = tracks.xyxy_px[[row_of[int(t)] for t in kp.track_id]].reshape(-1, 4)
            result = check_skeletons(kp, boxes)
            ok = result.plausible
            counts["with_skeleton"] += len(kp)
            counts["plausible"] += int(ok.sum())
            for check in CHECKS:
                counts[f"fail_{check}"] += int((~getattr(result, check)).sum())
            canvas = draw_skeletons(packet.frame.image, kp)
            for box, good in zip(boxes, ok, strict=True):
                x1, y1, x2, y2 = (int(round(float(v))) for v in box)
                cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 200, 0) if good else (220, 0, 0), 1)
            for i, (box, good) in enumerate(zip(boxes, ok, strict=True)):  # random samples of tiles
                key = float(rng.random())
                for pool in (tiles,) if good else (tiles, fails):
                    if len(pool) < args.tiles or key < pool[-1][0]:
                        one = kp.select(np.arange(len(kp)) == i)
                        pool.append((key, crop_tile(packet.frame.image, box, one, bool(good))))
                        pool.sort(key=lambda t: t[0])
                        del pool[args.tiles:]
            writer.write(canvas, packet.frame.time_s)

    window: list[Packet] = []
    try:
        for frame in source:
            window.append(Packet(frame))
            if len(window) >= window_size:
                consume(window)
                window = []
        if window:
            consume(window)
    finally:
        source.close()
        writer.close()
    for name, pool in (("crops.png", tiles), ("implausible.png", fails)):
        if pool:
            cols = 8
            cells = [t for _, t in pool] + [np.zeros_like(pool[0][1])] * (-len(pool) % cols)
            grid = np.vstack([np.hstack(cells[i:i + cols]) for i in range(0, len(cells), cols)])
            cv2.imwrite(str(out / name), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    n = max(counts["person_frames"], 1)
    summary = {
        "clip": args.clip,
        "boxes": args.boxes,
        "overrides": args.overrides,
        **counts,
        "plausible_share": round(counts["plausible"] / n, 4),
        "plausible_share_of_skeletons": round(counts["plausible"] / max(counts["with_skeleton"], 1), 4),
        "box_height_px_p5_p50_p95": [round(float(v), 1) for v in np.percentile(heights or [0], [5, 50, 95])],
        "outputs": str(out),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

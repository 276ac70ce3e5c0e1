"""Fit how the BlazePose detector's keypoints map to a person box, on hand-labelled ``tune`` frames.

For every labelled person of a ``tune`` frame (tests/data/person_boxes/*.json, or
``--labels-dir``) that a detection's hip point lies inside, the labelled box is measured in
units of ``r = |kp1 − kp0|`` round the hip (upright people: the axis is close to vertical):
top ``(hip_y − y1) / r``, bottom ``(y2 − hip_y) / r``, width ``(x2 − x1) / r``. Prints the
medians as ``length_scale``, ``up_shift`` and ``width_ratio`` of
:func:`streamer.models.blazepose_detector.person_boxes`. ``check`` frames are never read.

Usage: python tools/fit_blazepose_box.py [--labels-dir DIR ...] [--set detect.blazepose.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from streamer.config import load_config
from streamer.detection.evaluate import parse_labels
from streamer.io.source import open_source
from streamer.models.blazepose_detector import KP_BODY_SCALE, KP_HIP, BlazePoseDetector, BlazePoseDetectorConfig

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels-dir", type=Path, action="append")
    ap.add_argument("--min-height-px", type=float, default=80.0, help="finest tiles (px at 720 rows)")
    args = ap.parse_args()
    detector = BlazePoseDetector(BlazePoseDetectorConfig(min_height_px=args.min_height_px))
    rows = []
    for folder in args.labels_dir or [REPO / "tests" / "data" / "person_boxes"]:
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text())
            frames = {f.frame: f for f in parse_labels(data, str(path)) if f.split == "tune"}
            if not frames:
                continue
            with open_source(str(DATA / data["media"]), {**load_config()["source"], "max_frames": max(frames) + 1}) \
                    as src:
                for frame in src:
                    if frame.index not in frames:
                        continue
                    image = frame.image
                    h, w = image.shape[:2]
                    from streamer.models.blazepose_detector import plan_views

                    views = plan_views(0, w, h, detector.levels(w, h), detector.config.tile_overlap)
                    raw = detector.model.run([image], views, detector.config.min_score, detector.config.nms_iou)
                    for box in frames[frame.index].boxes:
                        best = None
                        for view, dets in zip(views, raw, strict=True):
                            for kp, score in zip(dets.keypoints, dets.score, strict=True):
                                kp_px = kp.astype(np.float64) * view.side + [view.x0, view.y0]
                                hip, r = kp_px[KP_HIP], np.linalg.norm(kp_px[KP_BODY_SCALE] - kp_px[KP_HIP])
                                inside = box[0] <= hip[0] <= box[2] and box[1] <= hip[1] <= box[3]
                                if inside and r > 0 and (best is None or score > best[0]):
                                    best = (score, hip, r)
                        if best is not None:
                            _, hip, r = best
                            top, bottom = (hip[1] - box[1]) / r, (box[3] - hip[1]) / r
                            rows.append((Path(data["media"]).stem, frame.index, top, bottom, (box[2] - box[0]) / r,
                                         box[3] - box[1]))
    if not rows:
        print("no labelled person was found")
        return 1
    for row in rows:
        print(f"{row[0]:28s} f{row[1]:<5d} top {row[2]:5.2f} bottom {row[3]:5.2f} width {row[4]:5.2f} "
              f"height_px {row[5]:6.0f}")
    top, bottom, width = (np.median([r[k] for r in rows]) for k in (2, 3, 4))
    print(f"{len(rows)} people: length_scale {(top + bottom) / 2:.3f}  up_shift {(top - bottom) / 2:.3f}  "
          f"width_ratio {width / (top + bottom):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Smallest person the BlazePose detector finds: people shrunk to known heights in its 224² input.

Each source image holds one person whose box was drawn by hand (below). The image is
scaled so the person is ``h`` input pixels tall and a 224² window of it (grey past
its edges) is cut at several places that keep the whole person inside;
a hit is a detection whose hip point lies in the person's scaled box. Prints the hit
rate per height. Needs ../shared/data.

Usage: python tools/blazepose_min_height.py [--heights 20 30 ...] [--shifts 9]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from streamer.config import load_config
from streamer.io.source import open_source
from streamer.models.blazepose_detector import INPUT_PX, KP_HIP, BlazePoseDetectorModel, View

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# (media, frame, hand-drawn person box x1 y1 x2 y2 of that frame)
PEOPLE = [
    ("images/messi5.jpg", 0, (70, 60, 460, 336)),
    ("images/basketball1.png", 0, (38, 80, 160, 475)),
    ("clips/indoor_person_squat.mp4", 0, (494, 0, 606, 500)),
    ("clips/goalkeeper_amateur.mp4", 0, None),
]


def frame_of(media: str, index: int) -> np.ndarray:
    with open_source(str(DATA / media), load_config()["source"]) as src:
        for frame in src:
            if frame.index == index:
                return frame.image
    raise ValueError(f"{media} has no frame {index}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heights", type=float, nargs="+", default=[20, 25, 30, 35, 40, 45, 50, 60, 80, 120, 180])
    ap.add_argument("--shifts", type=int, default=9, help="placements per height (a 3x3 grid by default)")
    ap.add_argument("--min-score", type=float, default=0.5)
    args = ap.parse_args()
    model = BlazePoseDetectorModel(threads=2)
    people = [(m, i, box) for m, i, box in PEOPLE if box is not None]
    print(f"loadavg {os.getloadavg()}")
    print("height_in_px " + " ".join(Path(m).stem[:10].rjust(10) for m, _, _ in people) + "      all")
    for h in args.heights:
        rates = []
        for media, index, box in people:
            image = frame_of(media, index)
            s = h / (box[3] - box[1])
            small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            bx = np.asarray(box, np.float64) * s
            # grey round the scaled image, so a window may reach past it
            pad = INPUT_PX
            canvas = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
            views, boxes = [], []
            g = int(round(np.sqrt(args.shifts)))
            bw, bh = bx[2] - bx[0], bx[3] - bx[1]
            for gy in range(g):
                for gx in range(g):
                    # the person's box at evenly spread places that keep it inside the input
                    fx, fy = (gx + 0.5) / g, (gy + 0.5) / g
                    tx = fx * max(INPUT_PX - bw, 0.0) + 0.5 * bw
                    ty = fy * max(INPUT_PX - bh, 0.0) + 0.5 * bh
                    ox = int(round(pad + 0.5 * (bx[0] + bx[2]) - tx))
                    oy = int(round(pad + 0.5 * (bx[1] + bx[3]) - ty))
                    views.append(canvas[oy:oy + INPUT_PX, ox:ox + INPUT_PX])
                    boxes.append(bx - [ox - pad, oy - pad, ox - pad, oy - pad])
            dets = model.run(views, [View(k, 0, 0, INPUT_PX) for k in range(len(views))], args.min_score, 0.3)
            hits = 0
            for d, bx in zip(dets, boxes, strict=True):
                hip = d.keypoints[:, KP_HIP] * INPUT_PX
                hits += bool(np.any((hip[:, 0] >= bx[0]) & (hip[:, 0] <= bx[2])
                                    & (hip[:, 1] >= bx[1]) & (hip[:, 1] <= bx[3])))
            rates.append(hits / len(views))
        print(f"{h:12.0f} " + " ".join(f"{r:10.2f}" for r in rates) + f" {np.mean(rates):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

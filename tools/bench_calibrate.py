"""Time the calibrate stage per 720p frame (the from-scratch searches included).

Frames of a clip are decoded once and resized to 1280x720, then run through
:class:`streamer.stages.calibrate.CalibrateStage` with the default ``calibrate`` config,
without player boxes but with the camera motion the tracker would give
(:class:`streamer.tracking.camera_motion.CameraMotion`, measured before the clock starts:
it is the track stage's cost), as in the pipeline; ``--no-motion`` carries each frame's
calibration as it is (every frame is then refitted on its lines). Prints wall and CPU (all
threads) ms per frame, the searches and line fits, beside the load average: on a shared
machine the wall time is only as good as the load; the CPU time is steadier (with 2 threads
it may exceed the wall time).

Usage: python tools/bench_calibrate.py [--clip ../shared/data/clips/bundesliga_08fd33_4.mp4]
       [--frames 120] [--threads 2] [--no-motion]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamer.config import load_config  # noqa: E402
from streamer.io.source import open_source  # noqa: E402
from streamer.records import Frame, Packet  # noqa: E402
from streamer.stages import StageContext, build_stage  # noqa: E402
from streamer.tracking.camera_motion import CameraMotion  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared/data/clips/bundesliga_08fd33_4.mp4")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--threads", type=int, default=2, help="OpenCV threads (the issue's budget: 2 cores)")
    parser.add_argument("--no-motion", action="store_true", help="no camera motion: refit every frame")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    config = load_config()
    frames: list[Frame] = []
    with open_source(str(args.clip), config["source"]) as src:
        for frame in src:
            if len(frames) >= args.frames:
                break
            image = cv2.resize(frame.image, (1280, 720), interpolation=cv2.INTER_LINEAR)
            frames.append(Frame(frame.index, frame.pts, frame.time_s, image))
    motion: list[np.ndarray | None] = [None] * len(frames)
    if not args.no_motion:
        camera = CameraMotion()
        motion = [camera(f.image, np.zeros((0, 4))) for f in frames]
        motion[0] = None
    stage = build_stage("calibrate", config, StageContext("cpu", 25.0))
    stage.process([Packet(frames[0])])  # warm-up (imports, first search)
    stage = build_stage("calibrate", config, StageContext("cpu", 25.0))
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    out = []
    for frame, moved in zip(frames, motion, strict=True):
        out += stage.process([Packet(frame, camera_motion=moved)])
    out += stage.flush()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    calibrated = sum(p.calibration is not None for p in out)
    print(f"{len(frames)} frames 1280x720 from {args.clip.name}: {1000 * wall / len(frames):.1f} ms/frame wall, "
          f"{1000 * cpu / len(frames):.1f} CPU-ms/frame "
          f"(searches: {stage.calibrator.stats['searches']}, line fits: {stage.calibrator.stats['auto']}, "
          f"calibrated {calibrated}/{len(out)}, camera motion: {'no' if args.no_motion else 'yes'}), "
          f"load average {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}, cv2 threads {args.threads}")  # fmt: skip


if __name__ == "__main__":
    main()

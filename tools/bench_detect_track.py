"""Speed of detection + tracking at 720p (target: >= 25 fps on 2 cores with the default ``auto``).

Frames are decoded and resized to 1280x720 up front, so only detection and
tracking are timed (wall clock, and CPU time of all threads: on a busy machine the
CPU time says more); the detector gets the frames a window at a time
(``pipeline.window``), as in the pipeline. Input: a clip (default: the shared
Bundesliga clip when present, else a synthetic broadcast clip).

Usage: python tools/bench_detect_track.py [--clip CLIP] [--frames 200] [--repeat 3] [--backend NAME]
                                          [--set detect.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import av
import cv2
import numpy as np

from streamer.config import load_config
from streamer.runtime import tune_allocator
from streamer.stages import StageContext
from streamer.stages.detect import BACKENDS
from streamer.tracking.tracker import ByteTracker

SHARED_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "bundesliga_08fd33_4.mp4"


def load_frames(clip: Path | None, n: int) -> list[np.ndarray]:
    if clip is None:
        from streamer.synth import SynthConfig, generate

        return [image for image, _ in generate(SynthConfig(seconds=n / 25.0))]
    frames = []
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            frames.append(cv2.resize(frame.to_ndarray(format="rgb24"), (1280, 720), interpolation=cv2.INTER_LINEAR))
            if len(frames) >= n:
                break
    return frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=SHARED_CLIP if SHARED_CLIP.exists() else None)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", help="detect.backend (default: the config's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, as in streamer run")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's allocator as it is (the pipeline tunes it: streamer.runtime)")
    args = ap.parse_args()
    tuned = False if args.default_malloc else tune_allocator()
    frames = load_frames(args.clip, args.frames)
    source = args.clip or "synthetic broadcast clip"
    print(f"input: {source}, {len(frames)} frames at 1280x720, cv2 threads {cv2.getNumThreads()}, "
          f"allocator {'tuned' if tuned else 'default'}")
    config = load_config(overrides=args.overrides)
    backend = args.backend or config["detect"]["backend"]
    window = max(1, int(config["pipeline"]["window"]))
    print(f"backend {backend}, window {window} frames, load average {os.getloadavg()}")
    runs = []
    for _ in range(args.repeat):
        detector = BACKENDS[backend](config["detect"], StageContext(device="cpu", fps=25.0))
        tracker = ByteTracker()
        t_det = t_trk = 0.0
        n_tracks = 0
        cpu0 = time.process_time()
        for start in range(0, len(frames), window):
            t0 = time.perf_counter()
            found = detector.detect_batch(frames[start:start + window])
            t_det += time.perf_counter() - t0
            for i, dets in enumerate(found, start):
                t1 = time.perf_counter()
                n_tracks += len(tracker.update(frames[i], dets, i / 25.0))
                t_trk += time.perf_counter() - t1
        cpu_ms = 1000 * (time.process_time() - cpu0) / len(frames)
        runs.append((len(frames) / (t_det + t_trk), 1000 * t_det / len(frames), 1000 * t_trk / len(frames)))
        print(f"  {runs[-1][0]:.1f} fps  (detect {runs[-1][1]:.1f} ms, track {runs[-1][2]:.1f} ms per frame, "
              f"CPU {cpu_ms:.1f} ms per frame, all threads; {n_tracks / len(frames):.1f} tracks/frame)")
    print(f"median {statistics.median(r[0] for r in runs):.1f} fps (target >= 25), "
          f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

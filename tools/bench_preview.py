"""Source-to-viewer latency of ``streamer preview --headless`` with the default preview stages.

Starts the preview on a clip (played at its own pace, as a live source), watches the MJPEG
stream as a viewer would, and reads each received frame's bar-code stamp (the wall time its
frame was decoded): latency = arrival - stamp. Prints median and p95 latency, frames shown
per second and the load average.

Usage: python tools/bench_preview.py [CLIP] [--seconds S] [--warmup S] [--set KEY=VALUE ...]
(default clip: a generated 22-player 1280x720 broadcast clip, ``tools/synth.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.io.preview import read_stamp, watch_preview  # noqa: E402


def measure(clip: Path, seconds: float, warmup: float, overrides: list[str],
            save: Path | None = None) -> dict[str, float]:
    """Latency figures of one preview run on ``clip``."""
    args = [item for override in overrides for item in ("--set", override)]
    try:
        frames = watch_preview(str(clip), args, warmup + seconds, timeout_s=300)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from exc
    if not frames:
        raise SystemExit("no frame reached the viewer")
    if save is not None:
        import cv2

        cv2.imwrite(str(save), frames[-1][1])
    start = frames[0][0] + warmup  # models load and warm up first
    kept = [(t, read_stamp(img)) for t, img in frames if t >= start]
    lat = np.array([t - s for t, s in kept if s is not None])
    span = kept[-1][0] - kept[0][0] if len(kept) > 1 else float("nan")
    return {
        "frames": len(lat),
        "shown_fps": len(kept) / span if span > 0 else float("nan"),
        "median_ms": 1000 * float(np.median(lat)) if len(lat) else float("nan"),
        "p95_ms": 1000 * float(np.percentile(lat, 95)) if len(lat) else float("nan"),
        "max_ms": 1000 * float(lat.max()) if len(lat) else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", type=Path)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds measured after the warm-up")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of stream ignored at the start")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--save", type=Path, help="write the last frame the viewer got to this PNG")
    args = parser.parse_args()
    clip = args.clip
    if clip is None:
        clip = Path(tempfile.mkdtemp(prefix="bench-preview-")) / "synth22_720p.mp4"
        subprocess.run([sys.executable, str(ROOT / "tools" / "synth.py"), str(clip), "--seconds",
                        str(args.seconds + args.warmup + 6)], check=True, capture_output=True)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    r = measure(clip, args.seconds, args.warmup, args.set, args.save)
    print(f"{clip.name}: {r['frames']} frames shown at {r['shown_fps']:.1f} fps; source-to-viewer latency "
          f"median {r['median_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms "
          f"({time.perf_counter() - t0:.0f} s; load average {load0:.1f} -> {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Plumbing cost: bare PyAV decode vs ``streamer run -c null`` on the same clip.

Both are measured as whole processes (interpreter start-up and imports included):

* bare: a minimal script that opens the clip with PyAV, threaded decoding, and
  converts every frame to an RGB array;
* streamer: ``streamer run CLIP -c null`` (decode thread → queue → stage loop →
  CSV + run.json sinks, no models, no encoding).

Several alternating runs, median wall time of each, their ratio (target ≤ 1.15).
Then peak RSS of ``streamer run -c null`` on the clip and on the same clip
looped 10× (remuxed, not re-encoded): the ratio must stay ≤ 1.2 (bounded queues,
nothing kept per frame).

Usage: python tools/bench_plumbing.py [--clip CLIP] [--runs 5] [--seconds 60]
Without --clip a 720p synthetic broadcast clip is made (cached in /tmp).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

BARE = """
import sys, av
container = av.open(sys.argv[1])
stream = container.streams.video[0]
stream.thread_type = "AUTO"
n = 0
for frame in container.decode(stream):
    frame.to_ndarray(format="rgb24")
    n += 1
print(n)
"""


def make_clip(path: Path, seconds: float, size=(1280, 720), fps: float = 25.0) -> Path:
    """The synthetic broadcast scene at 720p; frames repeat every 2 s to keep synthesis quick."""
    import numpy as np

    from streamer.io.video_writer import VideoWriter
    from streamer.synth import ClipGenerator, SynthConfig

    period = int(2 * fps)
    generator = ClipGenerator(SynthConfig(width=size[0], height=size[1], fps=fps, seconds=2.0))
    cache = [generator.frame(i)[0] for i in range(period)]
    writer = VideoWriter(path, fps=fps)
    rng = np.random.default_rng(0)
    for i in range(int(seconds * fps)):
        image = cache[i % period].copy()
        # a little per-frame noise so the encoder cannot skip whole frames
        image[::7, ::7] = rng.integers(0, 255, image[::7, ::7].shape, dtype=np.uint8)
        writer.write(image, i / fps)
    writer.close()
    return path


def loop_clip(src: Path, dst: Path, times: int) -> Path:
    """``src`` repeated ``times`` times by remuxing its packets with shifted timestamps."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        packets = [p for p in inp.demux(in_stream) if p.size]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
        for k in range(times):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts = p.pts + k * span, p.dts + k * span
                q.time_base, q.is_keyframe, q.stream = p.time_base, p.is_keyframe, out_stream
                out.mux(q)
    return dst


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err}")
    return wall, usage.ru_maxrss // 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--loop", type=int, default=10)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_plumbing_"))
    clip = args.clip
    if clip is None:
        clip = Path(tempfile.gettempdir()) / f"streamer_bench_720p_{int(args.seconds)}s.mp4"
        if not clip.exists():
            print(f"synthesising {clip} ...", flush=True)
            make_clip(clip, args.seconds)
    streamer = [sys.executable, "-m", "streamer", "run"]
    null_args = ["-c", "null", "--set", "progress=off"]
    bare_cmd = [sys.executable, "-c", BARE, str(clip)]
    ours_cmd = [*streamer, str(clip), "-o", str(work / "out"), *null_args]

    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        print(f"clip: {clip} {s.codec_context.width}x{s.codec_context.height} {s.frames} frames")
    timed(bare_cmd)  # warm the page cache
    bare, ours = [], []
    for _ in range(args.runs):
        bare.append(timed(bare_cmd)[0])
        ours.append(timed(ours_cmd)[0])
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"bare decode   median {b:.2f} s  runs {' '.join(f'{x:.2f}' for x in bare)}")
    print(f"streamer null median {o:.2f} s  runs {' '.join(f'{x:.2f}' for x in ours)}")
    print(f"time ratio {o / b:.3f}  (target <= 1.15)")

    long_clip = loop_clip(clip, work / f"looped_{args.loop}x.mp4", args.loop)
    _, rss_short = timed(ours_cmd)
    _, rss_long = timed([*streamer, str(long_clip), "-o", str(work / "out_long"), *null_args])
    print(f"peak RSS clip {rss_short} MiB, {args.loop}x clip {rss_long} MiB, "
          f"ratio {rss_long / rss_short:.3f}  (target <= 1.2)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

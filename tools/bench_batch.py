"""Throughput of ``streamer batch``: one Ray worker vs two, and the no-Ray runner, on the same clips.

Each setting runs ``python -m streamer batch CLIPS -o FRESH_DIR --set progress=off ...`` as a
whole process (default pipeline: detect + track, overlay.mp4 and tracks.csv written) and
reads ``batch.json``: clips/min and frames/s over the processing time (Ray start-up
excluded; it is reported separately, with the whole command's wall time and how busy the whole
machine's CPUs were meanwhile: near 100 % with other work running means 2 workers cannot gain).

Settings (all on a local Ray with ``batch.local_cpus`` CPUs, default 2):

* ``ray-1w-2cpu``: one clip at a time, reserving both CPUs (cv2 may use 2 threads);
* ``ray-1w-1cpu``: one clip at a time, 1 CPU reserved (cv2 capped at 1 thread);
* ``ray-2w-1cpu``: two clips at once, 1 CPU each;
* ``local``: the fallback runner, clips one after another in one process (no Ray).

Usage: python tools/bench_batch.py [--clips 6] [--seconds 4] [--size 960x540] [--repeat 2]
Clips of the demo scene are synthesised once (different seeds) into /tmp/streamer_bench_batch.
Prints ``uptime`` before and after: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / "streamer_bench_batch"

SETTINGS = {
    "ray-1w-2cpu": ["batch.runner=ray", "batch.max_parallel=1", "batch.cpus_per_clip=2"],
    "ray-1w-1cpu": ["batch.runner=ray", "batch.max_parallel=1", "batch.cpus_per_clip=1"],
    "ray-2w-1cpu": ["batch.runner=ray", "batch.max_parallel=2", "batch.cpus_per_clip=1"],
    "local": ["batch.runner=local"],
}


def make_clips(n: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    from streamer.demo import make_demo_clip

    CACHE.mkdir(exist_ok=True)
    paths = []
    for seed in range(n):
        path = CACHE / f"demo_{size[0]}x{size[1]}_{seconds:g}s_{seed}.mp4"
        if not path.exists():
            make_demo_clip(path, seconds=seconds, size=size, seed=seed)
        paths.append(path)
    return paths


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs of the machine, from /proc/stat (0, 0 elsewhere)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_once(clips: list[Path], overrides: list[str], local_cpus: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "streamer", "batch", *map(str, clips), "-o", str(out),
               "--set", "progress=off", "--set", f"batch.local_cpus={local_cpus}"]
        for text in overrides:
            cmd += ["--set", text]
        t0, ticks0 = time.perf_counter(), cpu_ticks()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall, ticks = time.perf_counter() - t0, cpu_ticks()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
        batch = json.loads((out / "batch.json").read_text())
    rate = batch["throughput"]
    busy = 100.0 * (ticks[0] - ticks0[0]) / max(1, ticks[1] - ticks0[1])
    return {"wall_s": wall, "busy_pct": busy, "engine_start_s": batch["engine_start_s"],
            "processing_s": rate["processing_s"], "clips_per_min": rate["clips_per_min"],
            "frames_per_s": rate["frames_per_s"], "frames": rate["frames"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="960x540")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--local-cpus", type=int, default=2)
    parser.add_argument("--only", nargs="*", choices=list(SETTINGS), help="run these settings only")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    clips = make_clips(args.clips, args.seconds, size)
    names = args.only or list(SETTINGS)
    print(f"{len(clips)} clips of {args.seconds:g} s at {args.size}; before: {uptime()}")
    results: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.repeat):  # interleaved, so load changes hit every setting alike
        for name in names:
            results[name].append(run_once(clips, SETTINGS[name], args.local_cpus))
    print(f"after: {uptime()}")
    print(f"{'setting':<12} {'wall s':>7} {'busy %':>7} {'start s':>8} {'proc s':>7} {'clips/min':>10} "
          f"{'frames/s':>9}  (median of {args.repeat}; busy = whole machine, every process)")
    for name, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(f"{name:<12} {med['wall_s']:7.1f} {med['busy_pct']:7.0f} {med['engine_start_s']:8.1f} "
              f"{med['processing_s']:7.1f} {med['clips_per_min']:10.1f} {med['frames_per_s']:9.1f}")


if __name__ == "__main__":
    main()

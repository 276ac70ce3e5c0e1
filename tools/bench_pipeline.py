"""Whole-process throughput of the default pipeline, against the bare keypoint model on the same crops.

For each clip (default: the shared Bundesliga clip scaled to 1280x720, and a generated
22-player 1280x720 clip; both made once under ``--media-dir``):

1. ``python -m streamer run CLIP`` in a child process with the default config (plus any
   ``--set``): player-frames/s (rows of tracks.csv per wall second), per-stage and per-sink
   ms per frame, wall and CPU, from its run.json; the child's total CPU and peak RSS from
   ``wait4``'s rusage.
2. The floor: the tracks of that run (tracks.csv) replayed through the bare BlazePose
   landmark model (the graph the stage loads: its unread segmentation head cut): crops cut
   per window of ``pipeline.window`` frames as the keypoint stage cuts them (boxes at least
   ``keypoints.min_box_height_px`` tall), then LiteRT ``set_tensor`` + ``invoke`` in batches
   of ``keypoints.batch_size`` with ``keypoints.threads`` threads and nothing else, timed in
   wall and process CPU time.
3. ``--rss``: the clip looped 10 times (``--frames`` x 10 when given) run the same way:
   peak RSS must stay flat (10x <= 1.2 x 1x). The stages hold packets (with their frames)
   back: ``smooth`` its ``lag_s``, ``soccer`` 1.5 ``speed_window_s`` + 0.5 ``accel_window_s``
   (~2.3 s, ~60 frames at 25 fps, ~160 MB of 720p frames by default). A 1x run shorter than
   that never holds them all, so its peak is not the steady one: give ``--frames`` >= 80.

The load average is printed beside every figure. Wall figures taken while other
processes load the cores are stretched by that load; CPU figures much less so, and the
ratios (stage / bare model, on the same run) least.

Usage: python tools/bench_pipeline.py [--clips real synth] [--frames N] [--rss] [--set KEY=VALUE ...]
           [--media-dir /tmp/streamer_bench] [--keep DIR] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_CLIP = ROOT.parent / "shared" / "data" / "clips" / "bundesliga_08fd33_4.mp4"
TARGET_PLAYER_FPS = 120.0
TARGET_WALL_OVER_BARE = 1.6
#: frames the default smooth + soccer stages hold back at 25 fps (see --rss), rounded up
HELD_FRAMES = 80


def load() -> str:
    """The 1-minute load average with the core count, e.g. ``load 5.2/2``."""
    return f"load {os.getloadavg()[0]:.1f}/{os.cpu_count()}"


def scale_clip(src: Path, dst: Path, size: tuple[int, int], loops: int = 1, max_frames: int = 0) -> Path:
    """``src`` resized to ``size`` (and played ``loops`` times, at most ``max_frames`` per loop), H.264."""
    import av

    if dst.exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    temp = dst.with_suffix(".partial.mp4")
    with av.open(str(src)) as probe:
        rate = probe.streams.video[0].average_rate or Fraction(25)
    with av.open(str(temp), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = 1 / rate
        stream.options = {"crf": "18", "preset": "veryfast"}
        n = 0
        for _ in range(loops):
            with av.open(str(src)) as inp:
                for i, frame in enumerate(inp.decode(video=0)):
                    if max_frames and i >= max_frames:
                        break
                    scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p", interpolation="BICUBIC")
                    scaled.pts, scaled.time_base = n, stream.codec_context.time_base
                    out.mux(stream.encode(scaled))
                    n += 1
        out.mux(stream.encode())
    temp.rename(dst)
    return dst


def synth_clip(dst: Path, seconds: float) -> Path:
    """A generated 22-player 1280x720 broadcast clip (``tools/synth.py``)."""
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "tools" / "synth.py"), str(dst), "--seconds", str(seconds),
                        "--players", "22"], check=True, env=_env())
    return dst


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH", "")])])
    return env


def run_child(clip: Path, out: Path, frames: int, overrides: list[str]) -> dict[str, Any]:
    """``streamer run`` in a child process: its run.json plus rusage (CPU, peak RSS) and the load."""
    cmd = [sys.executable, "-m", "streamer", "run", str(clip), "-o", str(out), "--set", "progress=off"]
    if frames:
        cmd += ["--max-frames", str(frames)]
    for item in overrides:
        cmd += ["--set", item]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not (out / "run.json").exists():
        raise SystemExit(f"streamer run failed ({proc.returncode}):\n{stderr[-3000:]}")
    report = json.loads((out / "run.json").read_text())
    return {"report": report, "process_wall_s": wall, "process_cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024.0, "load": [load_before, os.getloadavg()[0]],
            "command": " ".join(cmd)}


def read_tracks(path: Path, min_height: float) -> dict[int, np.ndarray]:
    """Boxes (N, 4) per frame index from tracks.csv, those the keypoint stage would crop."""
    boxes: dict[int, list[list[float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            box = [float(row[k]) for k in ("x1", "y1", "x2", "y2")]
            if box[3] - box[1] >= min_height:
                boxes.setdefault(int(row["frame"]), []).append(box)
    return {k: np.asarray(v, np.float64) for k, v in boxes.items()}


def bare_model(clip: Path, report: dict[str, Any], tracks: dict[int, np.ndarray]) -> dict[str, Any]:
    """The bare landmark model on the run's crops: wall and process CPU seconds, crops, calls."""
    from streamer.io.quiet import quiet_stderr
    from streamer.io.source import open_source
    from streamer.models.blazepose import INPUT_PX, BlazePoseBackend, BlazePoseLandmarker
    from streamer.models.litert import default_threads
    from streamer.pose.crop import warp_crops

    config = report["config"]
    section = config["keypoints"]
    threads = int(section["threads"]) or default_threads()
    batch = int(section["batch_size"])
    window = max(1, int(config["pipeline"]["window"]))
    backend = BlazePoseBackend.__new__(BlazePoseBackend)  # only its ROI maths: no second interpreter
    backend.crop_scale = float(section["crop_scale"])
    # the graph the stage loads (its unread outputs cut), driven bare
    interp = BlazePoseLandmarker(section["blazepose"]["model"], threads, batch,
                                 heatmap=bool(section["blazepose"]["refine_heatmap"])).interpreter
    inp = interp.get_input_details()[0]["index"]
    outputs = [d["index"] for d in interp.get_output_details() if np.prod(d["shape"][1:]) <= 195]
    size = 0
    wall = cpu = 0.0
    crops_done = calls = 0

    def infer(images: list[np.ndarray], boxes: list[np.ndarray]) -> None:
        nonlocal size, wall, cpu, crops_done, calls
        if not boxes:
            return
        index = np.concatenate([np.full(len(b), i) for i, b in enumerate(boxes)])
        all_boxes = np.concatenate(boxes)
        crops = warp_crops(images, index, backend.rois(all_boxes, np.zeros(len(all_boxes))), (INPUT_PX, INPUT_PX))
        crops = crops.astype(np.float32) / np.float32(255.0)
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, len(crops), batch):
            chunk = crops[start:start + batch]
            if len(chunk) != size:
                interp.resize_tensor_input(inp, [len(chunk), INPUT_PX, INPUT_PX, 3])
                with quiet_stderr():
                    interp.allocate_tensors()
                size = len(chunk)
            interp.set_tensor(inp, chunk)
            interp.invoke()
            for o in outputs:
                interp.get_tensor(o)
            calls += 1
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        crops_done += len(crops)

    source_config = {**config["source"], "realtime": False, "live": "file"}
    images: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    seen = 0
    with open_source(str(clip), source_config) as source:
        for frame in source:
            seen += 1
            if frame.index in tracks:
                images.append(frame.image)
                boxes.append(tracks[frame.index])
            if seen % window == 0:
                infer(images, boxes)
                images, boxes = [], []
    infer(images, boxes)
    return {"wall_s": wall, "cpu_s": cpu, "crops": crops_done, "calls": calls, "threads": threads,
            "batch": batch}


def summarise(name: str, run: dict[str, Any], bare: dict[str, Any] | None, player_frames: int) -> dict[str, Any]:
    report = run["report"]
    frames = report["counts"]["frames_processed"]
    wall = report["wall_s"]
    lo, hi = run["load"]
    out: dict[str, Any] = {
        "clip": name, "frames": frames, "player_frames": player_frames, "wall_s": wall,
        "player_frames_per_s": round(player_frames / wall, 1) if wall else 0.0,
        "frames_per_s": report["fps"], "process_cpu_s": round(run["process_cpu_s"], 2),
        "peak_rss_mb": round(run["peak_rss_mb"], 1), "load": [round(lo, 1), round(hi, 1)],
        "stages": {}, "sinks": {}, "command": run["command"],
    }
    print(f"\n== {name}: {frames} frames, {player_frames} player-frames   [{load()} now; {lo:.1f} -> {hi:.1f} "
          f"during the run]")
    print(f"   {out['player_frames_per_s']:.1f} player-frames/s wall ({report['fps']:.2f} frames/s, wall "
          f"{wall:.1f} s)   process CPU {run['process_cpu_s']:.1f} s = "
          f"{player_frames / max(run['process_cpu_s'], 1e-9):.1f} player-frames per CPU-s   "
          f"peak RSS {run['peak_rss_mb']:.0f} MB")
    timings = report["timings"]
    print(f"   {'':<14}{'wall ms/frame':>14}{'CPU ms/frame':>14}")
    for kind in ("stages", "sinks"):
        for stage, t in timings.get(kind, {}).items():
            cpu = t.get("cpu_ms_per_frame")
            out[kind][stage] = {"wall_ms": t["ms_per_frame"], "cpu_ms": cpu}
            label = f"{stage}" if kind == "stages" else f"sink {stage}"
            print(f"   {label:<14}{t['ms_per_frame']:>14.1f}{(cpu if cpu is not None else float('nan')):>14.1f}")
    for key in ("decode", "shots"):
        t = timings.get(key)
        if t and t.get("frames"):
            print(f"   {key:<14}{1000 * t['seconds'] / t['frames']:>14.1f}"
                  f"{t.get('cpu_ms_per_frame', float('nan')):>14.1f}")
    if bare is not None and bare["crops"]:
        kp = timings["stages"].get("keypoints", {})
        out["bare"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in bare.items()}
        print(f"   bare model: {bare['crops']} crops, batch {bare['batch']}, {bare['threads']} threads: wall "
              f"{bare['wall_s']:.2f} s = {bare['crops'] / bare['wall_s']:.1f} crops/s, CPU {bare['cpu_s']:.2f} s = "
              f"{1000 * bare['cpu_s'] / bare['crops']:.2f} CPU-ms/crop   [{load()}]")
        if kp:
            ratio_wall = bare["wall_s"] / kp["seconds"] if kp["seconds"] else 0.0
            ratio_cpu = bare["cpu_s"] / kp["cpu_seconds"] if kp.get("cpu_seconds") else 0.0
            out["keypoints_vs_bare"] = {"wall": round(ratio_wall, 3), "cpu": round(ratio_cpu, 3)}
            pipe = report["config"]["pipeline"]
            own_thread = "keypoints" in (pipe.get("thread_split") or []) and bare["threads"] > 1
            print(f"   keypoint stage throughput / bare model's: wall {ratio_wall:.2f}, CPU {ratio_cpu:.2f} "
                  f"(target >= 0.90)" + ("   [stage threads: the stage's CPU is its own thread's, LiteRT's "
                                         "other threads not counted; compare with --set pipeline.thread_split=[] "
                                         "or tools/bench_keypoints.py --clock cpu]" if own_thread else ""))
        over_wall = wall / bare["wall_s"]
        over_cpu = run["process_cpu_s"] / bare["cpu_s"]
        out["run_over_bare"] = {"wall": round(over_wall, 2), "cpu": round(over_cpu, 2)}
        print(f"   whole run / bare model: wall {over_wall:.2f}x, CPU {over_cpu:.2f}x "
              f"(target <= {TARGET_WALL_OVER_BARE}x wall)   player-frames/s target >= {TARGET_PLAYER_FPS:.0f}")
    return out


def count_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path) as f:
        return max(0, sum(1 for _ in f) - 1)


def bench_clip(name: str, clip: Path, frames: int, overrides: list[str], work: Path, bare: bool) -> dict[str, Any]:
    out = work / name
    run = run_child(clip, out, frames, overrides)
    report = run["report"]
    player_frames = count_rows(out / "tracks.csv")
    floor = None
    if bare and (out / "tracks.csv").exists() and "keypoints" in report["config"]["pipeline"]["stages"]:
        min_height = float(report["config"]["keypoints"]["min_box_height_px"])
        floor = bare_model(clip, report, read_tracks(out / "tracks.csv", min_height))
    return summarise(name, run, floor, player_frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=["real", "synth"],
                        help="real (shared Bundesliga clip at 720p), synth (generated 22 players), or paths")
    parser.add_argument("--frames", type=int, default=0, help="frames per run; 0 = the whole clip")
    parser.add_argument("--rss", action="store_true", help="also run the first clip looped 10x: peak RSS flat?")
    parser.add_argument("--no-bare", dest="bare", action="store_false", help="skip the bare keypoint model")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override passed to streamer run (repeatable)")
    parser.add_argument("--media-dir", type=Path, default=Path(tempfile.gettempdir()) / "streamer_bench")
    parser.add_argument("--synth-seconds", type=float, default=6.0)
    parser.add_argument("--keep", type=Path, help="keep the runs' outputs here (default: a temp folder)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    clips: list[tuple[str, Path]] = []
    for item in args.clips:
        if item == "real":
            if not SHARED_CLIP.exists():
                print(f"skipping real: {SHARED_CLIP} not found", file=sys.stderr)
                continue
            clips.append(("real_720p", scale_clip(SHARED_CLIP, args.media_dir / "bundesliga_720p.mp4", (1280, 720))))
        elif item == "synth":
            clips.append(("synth22_720p", synth_clip(args.media_dir / "synth22_720p.mp4", args.synth_seconds)))
        else:
            clips.append((Path(item).stem, Path(item)))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        print(f"bench_pipeline: {len(clips)} clip(s), overrides {args.overrides or 'none'}   [{load()}]")
        results = [bench_clip(name, clip, args.frames, args.overrides, work, args.bare) for name, clip in clips]
        if args.rss and clips:
            name, clip = clips[0]
            if args.frames and args.frames < HELD_FRAMES:
                print(f"\nnote: --frames {args.frames} < {HELD_FRAMES}: the 1x run is shorter than the frames "
                      "the smooth and soccer stages hold back, so 10x vs 1x compares a filled hold with a "
                      "partial one")
            if name == "real_720p":
                looped = scale_clip(SHARED_CLIP, args.media_dir / f"bundesliga_720p_x10_{args.frames}.mp4",
                                    (1280, 720), loops=10, max_frames=args.frames)
            else:
                looped = clip  # a path given: loop it by re-running it is not possible; RSS of the same clip
            one = results[0]
            ten = bench_clip(f"{name}_x10", looped, 10 * args.frames if args.frames else 0, args.overrides, work,
                             bare=False)
            ratio = ten["peak_rss_mb"] / one["peak_rss_mb"]
            print(f"\n   peak RSS: 1x {one['peak_rss_mb']:.0f} MB ({one['frames']} frames), 10x "
                  f"{ten['peak_rss_mb']:.0f} MB ({ten['frames']} frames): ratio {ratio:.2f} (target <= 1.2)  "
                  f"[{load()}]")
            results.append({**ten, "rss_ratio_10x": round(ratio, 3)})
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n(bench process itself: {own.ru_utime + own.ru_stime:.1f} CPU-s)   [{load()}]")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

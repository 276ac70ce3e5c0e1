"""Keypoint stage throughput inside the pipeline vs bare batched LiteRT, on the same crops.

1. Tracks for the first ``--frames`` frames of a clip come from the project's
   ``detect`` + ``track`` stages (or ``--boxes blobs``: non-grass blobs, also the fallback
   when those stages cannot be built), computed once; the box source barely matters
   here, only the number of crops does.
2. bare: the BlazePose crops of those tracks, cut once beforehand and already float32,
   go through a LiteRT interpreter in batches of B: ``set_tensor`` + ``invoke`` + reading
   the landmark, flag and world outputs, nothing else.
3. stage: ``Pipeline.run`` with the tracks replayed per frame and the real ``keypoints``
   stage (timed per window by a thin wrapper), ``keypoints.batch_size = B``, overlay
   off: crop warping, inference, decoding and records, with the decode thread running.

Both use the same thread count and the same windows of 8 frames. Runs alternate
``--runs`` times per batch size; for each window the fastest repetition of each path
counts (what it costs when no other process steals the cores, as ``timeit`` reports
minima), and crops / the sum of those times gives crops/s; the ratio stage / bare is
the target (>= 0.9). Whole-run medians are printed too.

With ``--clock cpu`` both are timed in process CPU time instead (the stage called
directly, as the pipeline's other threads would count too): on a machine whose cores
other processes share, CPU time is not stretched by their load the way wall time is.
(CPU seconds add up over the model's threads, so those crops/s are per CPU-second.)

Usage: python tools/bench_keypoints.py [--clip CLIP] [--frames 40] [--batch 1 8 32] [--runs 3]
           [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import person_boxes  # noqa: E402

from streamer.config import load_config  # noqa: E402
from streamer.errors import StreamerError  # noqa: E402
from streamer.io.source import open_source  # noqa: E402
from streamer.models.blazepose import INPUT_PX, BlazePoseBackend, BlazePoseLandmarker  # noqa: E402
from streamer.models.litert import default_threads  # noqa: E402
from streamer.pipeline import Pipeline  # noqa: E402
from streamer.pose.crop import warp_crops  # noqa: E402
from streamer.records import Frame, Packet  # noqa: E402
from streamer.stages import StageContext, build_stage, register_stage  # noqa: E402

DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "bundesliga_08fd33_4.mp4"


def collect_tracks(clip: str, frames: int, boxes: str) -> tuple[dict, list[np.ndarray], str]:
    """Tracks per frame index, the frames' images, and the box source used."""
    config = load_config()
    context = StageContext("cpu", None)
    if boxes in ("stages", "auto"):
        try:
            detect, track = build_stage("detect", config, context), build_stage("track", config, context)
            find = lambda packets: track.process(detect.process(packets))  # noqa: E731
        except StreamerError as exc:
            if boxes == "stages":
                raise
            print(f"detect/track stages unavailable ({exc}): using pitch blobs", file=sys.stderr)
            boxes = "blobs"
        else:
            boxes = "stages"
    if boxes == "blobs":
        tracker = person_boxes.IouTracker()
        find = lambda packets: [  # noqa: E731
            p.replace(tracks=tracker.update(*person_boxes.pitch_blob_boxes(p.frame.image))) for p in packets]
    source = open_source(clip, {**config["source"], "max_frames": frames})
    packets = [Packet(f) for f in source]
    source.close()
    out = []
    for i in range(0, len(packets), 8):
        out += find(packets[i:i + 8])
    return {p.frame.index: p.tracks for p in out}, [p.frame.image for p in out], boxes


class BareLiteRT:
    """The landmark model alone: pre-cut float32 crops in, outputs read, nothing else."""

    def __init__(self, threads: int) -> None:
        # the graph the stage loads (its unread segmentation head cut)
        self.interp = BlazePoseLandmarker(threads=threads).interpreter
        self.input = self.interp.get_input_details()[0]["index"]
        # the landmark, pose-flag and world outputs; not the segmentation or heatmap copies
        details = self.interp.get_output_details()
        self.outputs = [d["index"] for d in details if np.prod(d["shape"][1:]) <= 195]
        self.size = 0

    def run(self, crops: np.ndarray, batch: int, clock=time.perf_counter) -> float:
        """Seconds (of ``clock``) to run ``crops`` in chunks of ``batch``."""
        t0 = clock()
        for start in range(0, len(crops), batch):
            chunk = crops[start:start + batch]
            if len(chunk) != self.size:  # as the stage does: a resize only when the size changes
                self.interp.resize_tensor_input(self.input, [len(chunk), INPUT_PX, INPUT_PX, 3])
                self.interp.allocate_tensors()
                self.size = len(chunk)
            self.interp.set_tensor(self.input, chunk)
            self.interp.invoke()
            for o in self.outputs:
                self.interp.get_tensor(o)
        return clock() - t0


def stage_window_seconds(clip: str, frames: int, batch: int, threads: int) -> list[float]:
    """Wall time of the keypoint stage on each window, run inside ``Pipeline.run``."""
    overrides = [
        "pipeline.stages=[replay_tracks, timed_keypoints]", "pipeline.window=8",
        f"source.max_frames={frames}",
        "outputs.overlay.enabled=false", "outputs.tracks_csv=false", "progress=off",
        f"keypoints.batch_size={batch}", f"keypoints.threads={threads}", "keypoints.min_box_height_px=0",
        "keypoints.rotate=false",  # pixel-identical crops to the bare run
    ]
    person_boxes.TIMINGS.clear()
    with tempfile.TemporaryDirectory() as out:
        result = Pipeline(load_config(None, overrides)).run(clip, Path(out))
    if result.status != "completed":
        raise SystemExit(f"pipeline run ended {result.status}: {result.error}")
    return [seconds for _, seconds in person_boxes.TIMINGS]


def stage_window_cpu_seconds(tracks: dict, images: list[np.ndarray], batch: int, threads: int) -> list[float]:
    """Process CPU time of the keypoint stage on each window, called directly (no other threads)."""
    overrides = [f"keypoints.batch_size={batch}", f"keypoints.threads={threads}",
                 "keypoints.min_box_height_px=0", "keypoints.rotate=false"]
    stage = build_stage("keypoints", load_config(None, overrides), StageContext("cpu", None))
    order = sorted(tracks)
    packets = [Packet(Frame(i, i, i / 25.0, images[k]), tracks=tracks[i]) for k, i in enumerate(order)]
    seconds = []
    for first in range(0, len(packets), 8):
        t0 = time.process_time()
        stage.process(packets[first:first + 8])
        seconds.append(time.process_time() - t0)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(DEFAULT_CLIP))
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process CPU time, stage called directly instead of inside Pipeline.run "
                             "(a cross-check that other processes' load cannot skew)")
    parser.add_argument("--boxes", choices=("auto", "stages", "blobs"), default="auto",
                        help="auto: the detect + track stages, or pitch blobs if they cannot be built")
    args = parser.parse_args()
    threads = args.threads or default_threads()
    tracks, images, box_source = collect_tracks(args.clip, args.frames, args.boxes)
    person_boxes.REPLAY.clear()
    person_boxes.REPLAY.update(tracks)
    register_stage("replay_tracks", "person_boxes:build_replay")
    register_stage("timed_keypoints", "person_boxes:build_timed_keypoints")
    # the very crops the stage cuts (same ROIs: rotation is off), grouped by pipeline window
    backend = BlazePoseBackend(threads=threads)
    order = sorted(tracks)
    windows = []
    for first in range(0, len(order), 8):
        idx = order[first:first + 8]
        index = np.concatenate([np.full(len(tracks[i]), k) for k, i in enumerate(idx)])
        boxes = np.concatenate([tracks[i].xyxy_px for i in idx])
        crops = warp_crops([images[i] for i in idx], index, backend.rois(boxes, np.zeros(len(boxes))),
                           (INPUT_PX, INPUT_PX))
        windows.append(crops.astype(np.float32) / np.float32(255.0))
    n_crops = sum(len(w) for w in windows)
    bare_model = BareLiteRT(threads)
    rows = []
    for batch in args.batch:
        bare = np.zeros((args.runs, len(windows)))
        stage = np.zeros((args.runs, len(windows)))
        for rep in range(args.runs):  # alternate, so both see the same machine load
            if args.clock == "cpu":
                bare[rep] = [bare_model.run(w, batch, time.process_time) for w in windows]
                stage[rep] = stage_window_cpu_seconds(tracks, images, batch, threads)
            else:
                bare[rep] = [bare_model.run(w, batch) for w in windows]
                stage[rep] = stage_window_seconds(args.clip, args.frames, batch, threads)
        # per window, the fastest repetition: what each path costs when nothing else runs
        b, s = n_crops / bare.min(axis=0).sum(), n_crops / stage.min(axis=0).sum()
        bm, sm = n_crops / np.median(bare.sum(axis=1)), n_crops / np.median(stage.sum(axis=1))
        rows.append({"batch": batch, "bare_crops_per_s": round(b, 1), "stage_crops_per_s": round(s, 1),
                     "ratio": round(s / b, 3), "bare_median_run": round(bm, 1),
                     "stage_median_run": round(sm, 1)})
        where = "stage, CPU time" if args.clock == "cpu" else "stage in pipeline"
        print(f"batch {batch:>3}: bare {b:7.1f} crops/s   {where} {s:7.1f} crops/s   "
              f"ratio {s / b:.3f}   (median runs {bm:.1f} / {sm:.1f})", flush=True)
    print(json.dumps({"clip": args.clip, "frames": args.frames, "crops": n_crops, "threads": threads,
                      "clock": args.clock,
                      "boxes": box_source, "results": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

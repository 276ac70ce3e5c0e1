"""Person-detection recall and precision on hand-labelled frames (tests/data/person_boxes/*.json).

For a config (``-c``, ``--set`` as in ``streamer run``) the ``detect`` stage (and with
``--tracks`` the ``track`` stage, whose confirmed track boxes are then scored; with ``--calibrate``
also the ``calibrate`` stage, which takes the people beside the pitch out of the tracks, as in a
run) runs over each
labelled clip from frame 0 through its last labelled frame, in order, as the pipeline would run
it (detectors keep state across frames, e.g. a size prior; the ``shots`` detector's camera cuts
end the stages' shots). The labelled frames are scored with
``streamer.detection.evaluate``: Hungarian matching at IoU >= 0.5, unmatched detections at
least half inside an ignore box dropped. ``tune`` and ``check`` frames are reported apart:
tune thresholds on ``tune`` frames, show the ``check`` frames did not move.

Usage: python tools/eval_detection.py [-c CONFIG] [--set KEY=VALUE ...] [--labels-dir DIR ...]
                                      [--tracks [--calibrate] | --labelled-only] [--json OUT] [--draw DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.config import load_config, section_to
from streamer.detection.evaluate import SPLITS, Counts, FrameMatch, LabelledFrame, match_frame, parse_labels
from streamer.io.source import open_source
from streamer.records import Packet
from streamer.stages import StageContext, build_stage, end_shot

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "tests" / "data" / "person_boxes"
DATA = REPO.parent / "shared" / "data"

# BGR drawing colours
GREEN, YELLOW, BLUE, RED, MAGENTA, GREY = (0, 200, 0), (0, 220, 255), (255, 120, 0), (0, 0, 255), \
    (255, 0, 255), (160, 160, 160)


@dataclass
class Clip:
    media: str  # relative to the data folder
    files: list[Path]
    frames: list[LabelledFrame]

    @property
    def name(self) -> str:
        return Path(self.media).stem


def load_clips(dirs: list[Path]) -> list[Clip]:
    """Label files of all ``dirs``, merged per media file (a frame labelled twice is an error)."""
    clips: dict[str, Clip] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text())
            frames = parse_labels(data, str(path))
            clip = clips.setdefault(data["media"], Clip(data["media"], [], []))
            twice = {f.frame for f in clip.frames} & {f.frame for f in frames}
            if twice:
                raise SystemExit(f"{path}: frames {sorted(twice)} of {data['media']} are labelled in "
                                 f"{', '.join(map(str, clip.files))} too")
            clip.files.append(path)
            clip.frames = sorted(clip.frames + frames, key=lambda f: f.frame)
    return list(clips.values())


def run_clip(clip: Clip, config: dict, data_dir: Path, tracks: bool, min_score: float, labelled_only: bool = False,
             calibrate: bool = False):
    """Yield (labelled frame, RGB image, (D, 4) boxes) for each labelled frame, in order.

    ``labelled_only``: the stages see the labelled frames only (the others are decoded and dropped).
    """
    wanted = {f.frame: f for f in clip.frames}
    last = max(wanted)
    source_cfg = {**config["source"], "max_frames": last + 1, "start_s": 0.0, "end_s": 0.0,
                  "realtime": False}
    window_size = max(1, int(config["pipeline"]["window"]))
    with open_source(str(data_dir / clip.media), source_cfg) as source:
        context = StageContext(device="cpu", fps=source.info.fps)
        stages = [build_stage("detect", config, context)]
        if tracks:
            stages.append(build_stage("track", config, context))
        if tracks and calibrate:
            stages.append(build_stage("calibrate", config, context))

        shots = None
        if config["shots"]["enabled"] and not labelled_only:  # cuts restart the stages, as in a run
            from streamer.detection.shots import ShotConfig, ShotDetector

            shots = ShotDetector(section_to(ShotConfig, config["shots"], "shots"))

        def run(packets: list[Packet], final: bool = False, shot_end: bool = False):
            for stage in stages:
                packets = (stage.process(packets) if packets else []) + (end_shot(stage) if shot_end else []) \
                    + (stage.flush() if final else [])
            for p in packets:
                if p.frame.index in wanted:
                    found = p.tracks if tracks else p.detections
                    keep = found.score >= min_score if not tracks else np.ones(len(found), bool)
                    yield wanted[p.frame.index], p.frame.image, found.xyxy_px[keep]

        window: list[Packet] = []
        waiting: dict[int, Packet] = {}  # frames the shot detector has not decided yet
        current_shot = 0

        def add(packet: Packet):
            nonlocal window, current_shot
            if packet.shot != current_shot:
                yield from run(window, shot_end=True)
                window, current_shot = [], packet.shot
            if not labelled_only or packet.frame.index in wanted:
                window.append(packet)
            if window and (len(window) >= window_size or packet.frame.index >= last):
                yield from run(window)
                window = []

        for frame in source:
            if shots is None:
                yield from add(Packet(frame))
            else:
                waiting[frame.index] = Packet(frame)
                decided = shots.push(frame.index, frame.time_s, frame.image)
                if frame.index >= last:
                    decided += shots.finish()
                for index, shot in decided:
                    yield from add(waiting.pop(index).replace(shot=shot))
            if frame.index >= last:
                break
        yield from run(window, final=True)

def draw(image_rgb: np.ndarray, label: LabelledFrame, boxes: np.ndarray, match: FrameMatch) -> np.ndarray:
    """BGR picture: targets green (missed: magenta), ignore yellow, matched blue, false positives red,
    detections dropped by an ignore box grey."""
    out = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)

    def rect(box: np.ndarray, colour: tuple[int, int, int], width: int = 1) -> None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), colour, width)

    for box in label.ignore:
        rect(box, YELLOW)
    missed = set(match.missed.tolist())
    for i, box in enumerate(label.boxes):
        rect(box, MAGENTA if i in missed else GREEN, 2 if i in missed else 1)
    for i in match.ignored:
        rect(boxes[i], GREY)
    for i in match.false_positives:
        rect(boxes[i], RED, 2)
    for i in match.matches[:, 0]:
        rect(boxes[i], BLUE)
    return out


def fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def print_table(results: dict[str, dict[str, Counts]]) -> None:
    print(f"{'clip':28s} {'split':5s} {'frames':>6s} {'targets':>7s} {'matched':>7s} {'dets':>5s} "
          f"{'FP':>4s} {'recall':>6s} {'precision':>9s}")
    for name, by_split in results.items():
        for split, c in by_split.items():
            if c.frames or split == "all":
                print(f"{name[:28]:28s} {split:5s} {c.frames:6d} {c.targets:7d} {c.matched:7d} {c.kept:5d} "
                      f"{c.false_positives:4d} {fmt(c.recall)} {fmt(c.precision):>9s}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--config", metavar="CONFIG", help="YAML config merged onto the defaults")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config key, e.g. --set detect.backend=hog (repeatable)")
    ap.add_argument("--labels-dir", type=Path, action="append", metavar="DIR",
                    help=f"folder of label files (repeatable; default {LABELS.relative_to(REPO)})")
    ap.add_argument("--data", type=Path, default=DATA, help="folder the labels' media paths are relative to")
    ap.add_argument("--only", action="append", metavar="STEM", help="score only these clips (repeatable)")
    ap.add_argument("--tracks", action="store_true", help="score the track stage's confirmed track boxes")
    ap.add_argument("--calibrate", action="store_true",
                    help="with --tracks: score the tracks the calibrate stage passes on (people it places "
                         "beside the pitch taken out, calibrate.outsiders)")
    ap.add_argument("--labelled-only", action="store_true",
                    help="detect on the labelled frames only: faster, and the same numbers for a stateless "
                         "detector (hog, onnx) but not for pitch, whose size prior learns from every frame")
    ap.add_argument("--min-score", type=float, default=0.0, help="drop detections scoring below this")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write the numbers to this JSON file")
    ap.add_argument("--draw", type=Path, metavar="DIR", help="write one PNG per labelled frame here")
    args = ap.parse_args()

    if args.labelled_only and args.tracks:
        ap.error("--labelled-only and --tracks do not go together: a tracker needs every frame")
    if args.calibrate and not args.tracks:
        ap.error("--calibrate needs --tracks")
    config = load_config(args.config, args.overrides)
    clips = load_clips(args.labels_dir or [LABELS])
    if args.only:
        clips = [c for c in clips if c.name in args.only]
    if not clips:
        print("no label files found", file=sys.stderr)
        return 1
    if args.draw:
        args.draw.mkdir(parents=True, exist_ok=True)
    scored = ("calibrated " if args.calibrate else "") + ("confirmed tracks" if args.tracks else "detections")
    only = " on labelled frames only" if args.labelled_only else ""
    print(f"backend {config['detect']['backend']}, scoring {scored}{only}; overrides: {args.overrides or 'none'}")

    results: dict[str, dict[str, Counts]] = {}
    total = {s: Counts() for s in (*SPLITS, "all")}
    t0, decoded = time.perf_counter(), 0
    for clip in clips:
        by_split = {s: Counts() for s in (*SPLITS, "all")}
        for label, image, boxes in run_clip(clip, config, args.data, args.tracks, args.min_score, args.labelled_only,
                                              args.calibrate):
            match = match_frame(boxes, label.boxes, label.ignore)
            by_split[label.split].add(match)
            by_split["all"].add(match)
            if args.draw:
                cv2.imwrite(str(args.draw / f"{clip.name}_f{label.frame:05d}.png"), draw(image, label, boxes, match))
        decoded += max(f.frame for f in clip.frames) + 1
        results[clip.name] = by_split
        for s, c in by_split.items():
            total[s] += c
    seconds = time.perf_counter() - t0
    results["TOTAL"] = total
    print_table(results)
    print(f"{decoded} frames decoded in {seconds:.1f} s (load average {os.getloadavg()[0]:.1f})")
    if args.json:
        out = {"backend": config["detect"]["backend"], "config": args.config, "overrides": args.overrides,
               "scored": scored, "labelled_only": args.labelled_only, "min_score": args.min_score,
               "label_files": [str(p) for c in clips for p in c.files],
               "clips": {name: {s: c.as_dict() for s, c in by_split.items()} for name, by_split in results.items()}}
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

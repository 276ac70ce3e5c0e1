"""Tracking accuracy on synthetic broadcast clips with exact ground truth (MOTA, IDF1, ID switches).

Renders a clip with ``streamer.synth`` (22 players, panning camera, crossings, score
overlay), runs the ``pitch`` detector and the tracker on it frame by frame, and scores
the tracks with motmetrics against the generator's visible boxes. Ground-truth
players less than ``--min-visibility`` visible (hidden behind others or the score
box) are not counted as misses. Switches are also split: "re-entries" are players
back after 1.5 s or more out of the picture (the camera panned away) or hidden,
under a new id — with look-alike kits only re-identification could avoid those — and the rest
are reported per player-minute in view.

Usage: python tools/eval_tracking.py [--seconds 20] [--seed 0] [--size 1280x720] [--save-video out.mp4] [--oracle]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from streamer.detection.pitch import PitchDetector
from streamer.records import Detections, Tracks
from streamer.synth import SynthConfig, generate
from streamer.tracking.metrics import FrameBoxes, TrackingScores, evaluate
from streamer.tracking.tracker import ByteTracker


@dataclass
class EvalResult:
    scores: TrackingScores
    detect_ms: float
    track_ms: float
    frames: int


def truth_boxes(truth, min_visibility: float) -> FrameBoxes:
    keep = (truth.visibility >= min_visibility) & np.isfinite(truth.xyxy_visible_px).all(axis=1)
    return FrameBoxes(truth.track_id[keep], truth.xyxy_visible_px[keep])


def truth_detections(truth, min_visibility: float) -> Detections:
    """The generator's visible boxes as detections (score 1): the tracker's share of the errors."""
    boxes = truth_boxes(truth, min_visibility).xyxy.astype(np.float32)
    return Detections(boxes, np.ones(len(boxes), np.float32))


def run_eval(config: SynthConfig, min_visibility: float = 0.3, writer=None, oracle: bool = False) -> EvalResult:
    detector, tracker = PitchDetector(), ByteTracker()
    gts, hyps = [], []
    t_det = t_trk = 0.0
    n = 0
    for image, truth in generate(config):
        t0 = time.perf_counter()
        dets = truth_detections(truth, min_visibility) if oracle else detector(image)
        t1 = time.perf_counter()
        tracks: Tracks = tracker.update(image, dets, truth.time_s)
        t_det += t1 - t0
        t_trk += time.perf_counter() - t1
        gts.append(truth_boxes(truth, min_visibility))
        hyps.append(FrameBoxes(tracks.track_id, tracks.xyxy_px))
        if writer is not None:
            from streamer.io.overlay_sink import draw_tracks
            from streamer.records import Frame, Packet

            writer.write(draw_tracks(image, Packet(Frame(n, None, truth.time_s, image), tracks=tracks)), truth.time_s)
        n += 1
    scores = evaluate(gts, hyps, duration_s=n / config.fps)
    return EvalResult(scores, 1000 * t_det / max(n, 1), 1000 * t_trk / max(n, 1), n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--players", type=int, default=22)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--min-visibility", type=float, default=0.3)
    ap.add_argument("--no-pan", action="store_true")
    ap.add_argument("--save-video", help="write the tracked clip here (boxes and ids drawn)")
    ap.add_argument("--oracle", action="store_true",
                    help="track the true visible boxes instead of the detector's (tracker errors alone)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    config = SynthConfig(width=width, height=height, seconds=args.seconds, seed=args.seed, n_players=args.players,
                         pan=not args.no_pan)
    writer = None
    if args.save_video:
        from streamer.io.video_writer import VideoWriter

        writer = VideoWriter(args.save_video, fps=config.fps)
    result = run_eval(config, args.min_visibility, writer, oracle=args.oracle)
    if writer is not None:
        writer.close()
    print(f"{result.frames} frames, {args.seconds:.0f} s, {args.players} players + referee, seed {args.seed}"
          + (", true boxes as detections" if args.oracle else ""))
    for key, value in result.scores.as_dict().items():
        print(f"  {key:<20} {value}")
    print(f"  detect {result.detect_ms:.1f} ms/frame, track {result.track_ms:.1f} ms/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

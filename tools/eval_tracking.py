"""Tracking accuracy on synthetic broadcast clips with exact ground truth (MOTA, IDF1, ID switches).

Renders a clip with ``streamer.synth`` (22 players, panning camera, crossings, score
overlay), runs the ``pitch`` detector and the tracker on it frame by frame, and scores
the tracks with motmetrics against the generator's visible boxes. Ground-truth
players less than ``--min-visibility`` visible (hidden behind others or the score
box) are not counted as misses. Switches are also split: "re-entries" are players
back after 1.5 s or more out of the picture (the camera panned away) or hidden,
under a new id — with look-alike kits only re-identification could avoid those — and the rest
are reported per player-minute in view.

The offline identity pass (:mod:`streamer.tracking.identity`, what file runs do after the
stream) is scored too: the same tracks under their final ids, and its wrong-link rate — a
link is wrong when the two tracklets it joins mostly cover different true players (or one
covers a player and the other nobody).

``--cache DIR`` keeps what tracking needs of each rendered clip (detections, their torso
histograms, the camera motion, the truth boxes) in ``DIR``, so tracker and pass changes can
be re-scored in seconds; ``--seeds 0-5`` scores several clips and prints the means.

Usage: python tools/eval_tracking.py [--seconds 20] [--seed 0 | --seeds 0-5] [--cache DIR]
                                     [--size 1280x720] [--save-video out.mp4] [--oracle]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass

import numpy as np

from streamer.boxes import iou
from streamer.detection.pitch import PitchDetector
from streamer.records import Detections, Tracks
from streamer.synth import SynthConfig, generate
from streamer.tracking.appearance import DIM, torso_histograms
from streamer.tracking.camera_motion import CameraMotion
from streamer.tracking.identity import IdentityConfig, Link, TrackletCollector, link_tracklets
from streamer.tracking.metrics import FrameBoxes, TrackingScores, evaluate
from streamer.tracking.tracker import ByteTracker


@dataclass
class EvalResult:
    scores: TrackingScores
    detect_ms: float
    track_ms: float
    frames: int
    final: TrackingScores | None = None  # after the identity pass
    links: int = 0
    wrong_links: int = 0
    reentry_links: int = 0
    wrong_reentry_links: int = 0
    pass_ms: float = 0.0


@dataclass
class CachedFrame:
    """What the tracker and the identity pass need of one rendered frame."""

    time_s: float
    detections: Detections
    hists: np.ndarray
    affine: np.ndarray
    truth: FrameBoxes  # visible boxes of people at least min_visibility visible


def truth_boxes(truth, min_visibility: float) -> FrameBoxes:
    keep = (truth.visibility >= min_visibility) & np.isfinite(truth.xyxy_visible_px).all(axis=1)
    return FrameBoxes(truth.track_id[keep], truth.xyxy_visible_px[keep])


def truth_detections(truth, min_visibility: float) -> Detections:
    """The generator's visible boxes as detections (score 1): the tracker's share of the errors."""
    boxes = truth_boxes(truth, min_visibility).xyxy.astype(np.float32)
    return Detections(boxes, np.ones(len(boxes), np.float32))


def cached_frames(config: SynthConfig, cache_dir: str, min_visibility: float) -> list[CachedFrame]:
    """Render (once) and load the frames of ``config`` from ``cache_dir``."""
    from pathlib import Path

    path = Path(cache_dir) / (f"seed{config.seed}_{config.seconds:g}s_{config.width}x{config.height}"
                              f"{'' if config.pan else '_nopan'}_{config.n_players}p.npz")
    if not path.exists():
        detector, camera = PitchDetector(), CameraMotion()
        rec: dict[str, list] = {k: [] for k in ("boxes", "scores", "hists", "affine", "time", "n_det",
                                                "gt_ids", "gt_boxes", "gt_vis", "n_gt")}
        for image, truth in generate(config):
            dets = detector(image)
            rec["affine"].append(camera(image, dets.xyxy_px))
            rec["boxes"].append(dets.xyxy_px)
            rec["scores"].append(dets.score)
            rec["hists"].append(torso_histograms(image, dets.xyxy_px.astype(np.float64)))
            keep = np.isfinite(truth.xyxy_visible_px).all(axis=1)
            rec["gt_ids"].append(truth.track_id[keep])
            rec["gt_boxes"].append(truth.xyxy_visible_px[keep])
            rec["gt_vis"].append(truth.visibility[keep])
            rec["time"].append(truth.time_s)
            rec["n_det"].append(len(dets))
            rec["n_gt"].append(int(keep.sum()))
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".partial")  # a killed run leaves no truncated cache
        with open(temp, "wb") as fh:
            np.savez_compressed(fh, **{k: np.array(v) if k in ("affine", "time", "n_det", "n_gt")
                                       else np.concatenate(v) for k, v in rec.items()})
        os.replace(temp, path)
    data = np.load(path)
    det_at = np.concatenate([[0], np.cumsum(data["n_det"])])
    gt_at = np.concatenate([[0], np.cumsum(data["n_gt"])])
    frames = []
    for f in range(len(data["time"])):
        d, g = slice(det_at[f], det_at[f + 1]), slice(gt_at[f], gt_at[f + 1])
        keep = data["gt_vis"][g] >= min_visibility
        frames.append(CachedFrame(float(data["time"][f]), Detections(data["boxes"][d], data["scores"][d]),
                                  data["hists"][d], data["affine"][f],
                                  FrameBoxes(data["gt_ids"][g][keep], data["gt_boxes"][g][keep])))
    return frames


def _majority_truth(gts: list[FrameBoxes], hyps: list[FrameBoxes]) -> dict[int, int]:
    """Each online id's most often matched true id (IoU >= 0.5); 0 when it matched nobody."""
    votes: dict[int, dict[int, int]] = {}
    for gt, hyp in zip(gts, hyps, strict=True):
        if not len(hyp.ids):
            continue
        overlap = iou(hyp.xyxy, gt.xyxy) if len(gt.ids) else np.zeros((len(hyp.ids), 0))
        for k, tid in enumerate(hyp.ids.tolist()):
            best = int(np.argmax(overlap[k])) if overlap.shape[1] else -1
            who = int(gt.ids[best]) if best >= 0 and overlap[k, best] >= 0.5 else 0
            row = votes.setdefault(tid, {})
            row[who] = row.get(who, 0) + 1
    return {tid: max(row, key=row.__getitem__) for tid, row in votes.items()}


def score_identity(gts: list[FrameBoxes], hyps: list[FrameBoxes], collector: TrackletCollector,
                   duration_s: float, cfg: IdentityConfig, result: EvalResult) -> None:
    """Run the identity pass on the collected tracklets; score the final ids and the links."""
    t0 = time.perf_counter()
    final, links = link_tracklets(list(collector.tracklets.values()), cfg)
    result.pass_ms = 1000 * (time.perf_counter() - t0)
    relabelled = [FrameBoxes(np.array([final[int(i)] for i in h.ids], np.int64), h.xyxy) for h in hyps]
    result.final = evaluate(gts, relabelled, duration_s=duration_s)
    who = _majority_truth(gts, hyps)
    link: Link
    for link in links:
        wrong = who.get(link.before, 0) != who.get(link.after, 0)
        result.links += 1
        result.wrong_links += wrong
        if link.gap_s > cfg.reentry_gap_s:
            result.reentry_links += 1
            result.wrong_reentry_links += wrong


def run_cached(config: SynthConfig, cache_dir: str, min_visibility: float = 0.3,
               identity: IdentityConfig | None = None) -> EvalResult:
    """Track the cached detections of a clip, then run and score the identity pass."""
    frames = cached_frames(config, cache_dir, min_visibility)
    tracker, collector = ByteTracker(), TrackletCollector()
    gts, hyps = [], []
    t0 = time.perf_counter()
    for n, fr in enumerate(frames):
        tracks = tracker.update(None, fr.detections, fr.time_s, hists=fr.hists, affine=fr.affine)
        # a measured track box is one of the frame's detections: its histogram is cached
        same = (np.abs(tracks.xyxy_px[:, None] - fr.detections.xyxy_px[None]).max(axis=2) < 1e-3
                if len(tracks) and len(fr.detections) else np.zeros((len(tracks), 0), bool))
        hists = np.zeros((len(tracks), fr.hists.shape[1] if fr.hists.ndim == 2 else DIM), np.float32)
        for k in range(len(tracks)):
            hit = np.flatnonzero(same[k])
            if len(hit):
                hists[k] = fr.hists[hit[0]]
        collector.observe(n, fr.time_s, tracks.track_id, tracks.xyxy_px, tracks.score,
                          camera_motion=fr.affine, hists=hists)
        gts.append(fr.truth)
        hyps.append(FrameBoxes(tracks.track_id, tracks.xyxy_px))
    track_ms = 1000 * (time.perf_counter() - t0) / max(len(frames), 1)
    duration = len(frames) / config.fps
    result = EvalResult(evaluate(gts, hyps, duration_s=duration), 0.0, track_ms, len(frames))
    score_identity(gts, hyps, collector, duration, identity or IdentityConfig(), result)
    return result


def run_eval(config: SynthConfig, min_visibility: float = 0.3, writer=None, oracle: bool = False) -> EvalResult:
    detector, tracker, collector = PitchDetector(), ByteTracker(), TrackletCollector()
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
        collector.observe(n, truth.time_s, tracks.track_id, tracks.xyxy_px, tracks.score,
                          camera_motion=tracker.last_affine, hists=torso_histograms(image, tracks.xyxy_px))
        gts.append(truth_boxes(truth, min_visibility))
        hyps.append(FrameBoxes(tracks.track_id, tracks.xyxy_px))
        if writer is not None:
            from streamer.io.overlay_sink import draw_tracks
            from streamer.records import Frame, Packet

            writer.write(draw_tracks(image, Packet(Frame(n, None, truth.time_s, image), tracks=tracks)), truth.time_s)
        n += 1
    scores = evaluate(gts, hyps, duration_s=n / config.fps)
    result = EvalResult(scores, 1000 * t_det / max(n, 1), 1000 * t_trk / max(n, 1), n)
    score_identity(gts, hyps, collector, n / config.fps, IdentityConfig(), result)
    return result


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(v) for v in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(v) for v in text.split(",")]


def _print_result(result: EvalResult) -> None:
    for key, value in result.scores.as_dict().items():
        after = "" if result.final is None else result.final.as_dict()[key]
        print(f"  {key:<28} {value!s:<10} {after}")
    print(f"  identity links {result.links} (re-entries {result.reentry_links}), wrong {result.wrong_links} "
          f"(re-entries {result.wrong_reentry_links}); pass {result.pass_ms:.0f} ms; "
          f"track {result.track_ms:.1f} ms/frame")


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
    ap.add_argument("--seeds", help="several clips, e.g. 0-5 or 0,2,4 (prints each and the means)")
    ap.add_argument("--cache", help="folder to keep rendered clips' detections and truth in (and reuse)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    config = SynthConfig(width=width, height=height, seconds=args.seconds, seed=args.seed, n_players=args.players,
                         pan=not args.no_pan)
    if args.seeds or args.cache:
        if not args.cache or args.oracle or args.save_video:
            ap.error("--seeds needs --cache; --cache does not go with --oracle or --save-video")
        results = []
        for seed in _seeds(args.seeds) if args.seeds else [args.seed]:
            result = run_cached(dataclasses.replace(config, seed=seed), args.cache, args.min_visibility)
            print(f"seed {seed}: {result.frames} frames, {args.seconds:.0f} s  (online ids | after the identity pass)")
            _print_result(result)
            results.append(result)
        if len(results) > 1:
            online = np.mean([r.scores.idf1 for r in results])
            final = np.mean([r.final.idf1 for r in results if r.final is not None])
            links, wrong = sum(r.links for r in results), sum(r.wrong_links for r in results)
            print(f"mean over {len(results)} clips: IDF1 {online:.3f} online, {final:.3f} after the pass; "
                  f"switches {sum(r.scores.id_switches for r in results)} -> "
                  f"{sum(r.final.id_switches for r in results if r.final is not None)} "
                  f"(re-entries {sum(r.scores.reentry_switches for r in results)} -> "
                  f"{sum(r.final.reentry_switches for r in results if r.final is not None)}); "
                  f"wrong links {wrong}/{links} ({100 * wrong / max(links, 1):.1f} %), re-entry links "
                  f"{sum(r.wrong_reentry_links for r in results)}/{sum(r.reentry_links for r in results)}")
        return 0
    writer = None
    if args.save_video:
        from streamer.io.video_writer import VideoWriter

        writer = VideoWriter(args.save_video, fps=config.fps)
    result = run_eval(config, args.min_visibility, writer, oracle=args.oracle)
    if writer is not None:
        writer.close()
    print(f"{result.frames} frames, {args.seconds:.0f} s, {args.players} players + referee, seed {args.seed}"
          + (", true boxes as detections" if args.oracle else "") + "  (online ids | after the identity pass)")
    _print_result(result)
    print(f"  detect {result.detect_ms:.1f} ms/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Re-score the tracker and the identity pass on a real clip in seconds, its detections held fixed.

``record`` runs the pipeline once (``detect, track, calibrate`` unless ``--set
pipeline.stages=...`` says otherwise) and keeps, per frame, what tracking needs: the
detections, their torso histograms, the camera motion, the shot and the gated calibration
(image → pitch homography, for the outsider filter). ``score`` replays those frames through
the track stage (hold and back-fill as in a file run), takes out the outsiders as the
calibrate stage does (same judge, a window centred on each frame), collects the tracklets and
links them, and prints the final ids per shot — with any ``--set track.*`` / ``identity.*``
change. The detector and the calibration are frozen, so differences are the tracker's and the
pass's alone; counts come within an id or two of a full run's (the calibrate stage also masks
the players' boxes, which moves its fits a little).

Usage: python tools/replay_tracking.py record CLIP OUT.npz [--set key=value ...]
       python tools/replay_tracking.py score OUT.npz ... [--set key=value ...] [--tracks CSV]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import defaultdict

import numpy as np

from streamer.config import load_config, section_to
from streamer.records import Detections, Frame, Packet
from streamer.soccer.outsiders import OutsiderConfig, OutsiderJudge
from streamer.stages.track import TrackStage
from streamer.tracking.appearance import DIM, torso_histograms
from streamer.tracking.identity import IdentityConfig, TrackletCollector, link_tracklets
from streamer.tracking.tracker import TrackerConfig

_BLANK = np.zeros((1, 1, 3), np.uint8)  # replayed frames carry no image


class RecordSink:
    """A pipeline sink that keeps each frame's detections, histograms, camera motion and calibration."""

    name = "replay_record"

    def __init__(self) -> None:
        self.rows: dict[str, list] = defaultdict(list)

    def write(self, packet: Packet) -> None:
        dets = packet.detections if packet.detections is not None else Detections.empty()
        boxes = dets.xyxy_px.astype(np.float64)
        cal = packet.calibration
        self.rows["index"].append(packet.frame.index)
        self.rows["time"].append(packet.frame.time_s)
        self.rows["shot"].append(int(packet.shot))
        self.rows["n_det"].append(len(boxes))
        self.rows["boxes"].append(boxes.reshape(-1, 4))
        self.rows["scores"].append(dets.score.astype(np.float32))
        self.rows["hists"].append(torso_histograms(packet.frame.image, boxes).reshape(-1, DIM))
        motion = packet.camera_motion if packet.camera_motion is not None else np.eye(2, 3)
        self.rows["affine"].append(np.asarray(motion, np.float64))
        homography = np.full((3, 3), np.nan) if cal is None else np.asarray(cal.image_to_pitch, np.float64)
        self.rows["image_to_pitch"].append(homography)

    def counts(self) -> dict[str, int]:
        return {"replay_frames": len(self.rows["index"])}

    def close(self) -> None:
        pass

    def save(self, path: str) -> None:
        per_frame = ("index", "time", "shot", "n_det", "affine", "image_to_pitch")
        np.savez_compressed(path, **{k: np.array(v) if k in per_frame else np.concatenate(v)
                                     for k, v in self.rows.items()})


def record(clip: str, out_path: str, overrides: list[str]) -> None:
    from streamer.pipeline import Pipeline

    config = load_config(overrides=["pipeline.stages=[detect,track,calibrate]",
                                    "outputs.overlay.enabled=false", *overrides])
    sink = RecordSink()
    with tempfile.TemporaryDirectory() as tmp:
        Pipeline(config).run(clip, os.path.join(tmp, "run"), extra_sinks=[sink])
    sink.save(out_path)
    print(f"{clip}: {len(sink.rows['index'])} frames, {max(sink.rows['shot'], default=-1) + 1} shots -> {out_path}")


def _frame_hists(track_boxes: np.ndarray, det_boxes: np.ndarray, det_hists: np.ndarray) -> np.ndarray:
    """(N, DIM) the recorded histogram of the detection each measured track box is (zeros if none)."""
    out = np.zeros((len(track_boxes), DIM), np.float32)
    if len(track_boxes) and len(det_boxes):
        same = np.abs(track_boxes[:, None] - det_boxes[None]).max(axis=2) < 1e-3
        for k in np.flatnonzero(same.any(axis=1)):
            out[k] = det_hists[np.argmax(same[k])]
    return out


def score(path: str, overrides: list[str], tracks_csv: str | None = None) -> dict[int, int]:
    """Replay one recording; print and return the number of final ids per shot."""
    config = load_config(overrides=overrides)
    data = np.load(path)
    at = np.concatenate([[0], np.cumsum(data["n_det"])])
    stage = TrackStage(section_to(TrackerConfig, config["track"], "track"))
    tracker_update = stage.tracker.update
    current: dict[str, np.ndarray] = {}

    def update(image, detections, time_s):  # the recorded histograms and camera motion
        return tracker_update(None, detections, time_s, hists=current["hists"], affine=current["affine"])

    stage.tracker.update = update
    packets: list[Packet] = []
    shot = int(data["shot"][0]) if len(data["shot"]) else 0
    for f in range(len(data["index"])):
        if int(data["shot"][f]) != shot:
            packets += stage.end_shot()
            shot = int(data["shot"][f])
        d = slice(at[f], at[f + 1])
        current["hists"], current["affine"] = data["hists"][d], data["affine"][f]
        frame = Frame(f, None, float(data["time"][f]), _BLANK)
        packets += stage.process([Packet(frame, detections=Detections(data["boxes"][d].astype(np.float32),
                                                                      data["scores"][d]), shot=shot)])
    packets += stage.flush()
    # outsiders: the calibrate stage's judge, over a window centred on each frame
    outsider_cfg = section_to(OutsiderConfig, config["calibrate"]["outsiders"], "calibrate.outsiders")
    judge = OutsiderJudge(outsider_cfg)
    for p in packets:
        homography = data["image_to_pitch"][p.frame.index]
        judge.observe(p.frame.time_s, p.tracks.track_id, p.tracks.xyxy_px,
                      None if np.isnan(homography).any() else homography)
    collector = TrackletCollector()
    rows = []
    outsider_ids: set[int] = set()
    for p in packets:
        tracks = p.tracks
        if not outsider_cfg.keep and len(tracks):
            away = judge.outsiders(p.frame.time_s, tracks.track_id)
            outsider_ids.update(tracks.track_id[away].tolist())
            tracks = tracks.select(~away)
        d = slice(at[p.frame.index], at[p.frame.index + 1])
        collector.observe(p.frame.index, p.frame.time_s, tracks.track_id, tracks.xyxy_px, tracks.score,
                          shot=p.shot, camera_motion=p.camera_motion,
                          hists=_frame_hists(tracks.xyxy_px, data["boxes"][d], data["hists"][d]))
        rows += [(p.frame.index, p.shot, int(t), b) for t, b in zip(tracks.track_id, tracks.xyxy_px, strict=True)]
    final, links = link_tracklets(list(collector.tracklets.values()),
                                  section_to(IdentityConfig, config["identity"], "identity"))
    per_shot: dict[int, set[int]] = defaultdict(set)
    for _, s, t, _ in rows:
        per_shot[s].add(final[t])
    counts = {s: len(ids) for s, ids in sorted(per_shot.items())}
    print(f"{os.path.basename(path)}: {len(set(final.values()))} ids, {len(collector.tracklets)} tracklets, "
          f"{len(links)} links, {len(outsider_ids)} outsider tracks; ids per shot {list(counts.values())}")
    if tracks_csv:
        with open(tracks_csv, "w") as fh:
            fh.write("frame,shot,player_id,tracklet_id,x1,y1,x2,y2\n")
            for f, s, t, b in rows:
                fh.write(f"{f},{s},{final[t]},{t},{b[0]:.1f},{b[1]:.1f},{b[2]:.1f},{b[3]:.1f}\n")
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("record", "score"))
    ap.add_argument("paths", nargs="+", help="record: CLIP OUT.npz; score: recordings")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    ap.add_argument("--tracks", help="score: write the replayed rows with final ids to this CSV (one recording)")
    args = ap.parse_args()
    if args.mode == "record":
        if len(args.paths) != 2:
            ap.error("record takes CLIP OUT.npz")
        record(args.paths[0], args.paths[1], args.set)
        return 0
    for path in args.paths:
        score(path, args.set, args.tracks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

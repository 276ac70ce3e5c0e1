"""Tracking accuracy with py-motmetrics: MOTA, IDF1, ID switches (CLEAR MOT and identity metrics).

The box-overlap matrix is computed here (motmetrics 1.4's own ``iou_matrix``
calls ``np.asfarray``, removed in numpy 2); everything else — the matching,
MOTA, IDF1, switch counting — is motmetrics'. HOTA is not reported: TrackEval,
its maintained implementation, requires ``opencv-python``, which would replace
the project's ``opencv-contrib-python`` (both install ``cv2``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from streamer.boxes import iou
from streamer.errors import MissingDependencyError


@dataclass(frozen=True, slots=True)
class FrameBoxes:
    """Ids and (N, 4) xyxy boxes of one frame (ground truth or tracker output)."""

    ids: np.ndarray
    xyxy: np.ndarray


@dataclass(frozen=True, slots=True)
class TrackingScores:
    mota: float
    idf1: float
    id_switches: int
    num_frames: int
    num_gt_ids: int
    duration_s: float
    precision: float
    recall: float
    num_gt_boxes: int = 0  # player-frames in the truth
    reentry_switches: int = 0  # of id_switches: a player back in view after ``reentry_s`` or more out of it

    @property
    def player_minutes(self) -> float:
        """Minutes of players in view, summed over players (not ids × clip length:
        players leave and enter the view of a panning camera)."""
        if self.num_frames <= 0:
            return 0.0
        return self.num_gt_boxes * (self.duration_s / self.num_frames) / 60.0

    @property
    def switches_per_player_minute(self) -> float:
        minutes = self.player_minutes
        return self.id_switches / minutes if minutes > 0 else 0.0

    @property
    def in_view_switches_per_player_minute(self) -> float:
        """Switches of players who stayed in view (re-entries left out) per player-minute."""
        minutes = self.player_minutes
        return (self.id_switches - self.reentry_switches) / minutes if minutes > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "MOTA": round(self.mota, 4), "IDF1": round(self.idf1, 4), "ID switches": self.id_switches,
            "switches/player-min": round(self.switches_per_player_minute, 3),
            "of which re-entries": self.reentry_switches,
            "in-view switches/player-min": round(self.in_view_switches_per_player_minute, 3),
            "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "frames": self.num_frames, "gt ids": self.num_gt_ids,
            "player-minutes": round(self.player_minutes, 3),
        }


def evaluate(truth: Iterable[FrameBoxes], hypotheses: Iterable[FrameBoxes], duration_s: float,
             min_iou: float = 0.5, reentry_s: float = 1.5) -> TrackingScores:
    """Score a tracker against ground truth, frame by frame (a pair is a match at IoU >= ``min_iou``).

    Of motmetrics' switches, those where the player had been out of the truth (out of the
    picture, or hidden) for ``reentry_s`` or more since his last match are also counted as
    ``reentry_switches``: with look-alike kits only re-identification could give him his id
    back, which box tracking cannot.
    """
    try:
        import motmetrics as mm
    except ImportError as exc:
        raise MissingDependencyError("tracking metrics need motmetrics: pip install motmetrics") from exc
    acc = mm.MOTAccumulator(auto_id=True)
    gt_ids: set[int] = set()
    gt_boxes = 0
    present: list[set[int]] = []
    for gt, hyp in zip(truth, hypotheses, strict=True):
        present.append(set(gt.ids.tolist()))
        overlap = iou(gt.xyxy, hyp.xyxy) if len(gt.ids) and len(hyp.ids) else np.zeros((len(gt.ids), len(hyp.ids)))
        dist = np.where(overlap >= min_iou, 1.0 - overlap, np.nan)
        acc.update(gt.ids.tolist(), hyp.ids.tolist(), dist)
        gt_ids.update(int(i) for i in gt.ids)
        gt_boxes += len(gt.ids)
    summary = mm.metrics.create().compute(
        acc, metrics=["mota", "idf1", "num_switches", "num_frames", "precision", "recall"], name="run"
    )
    row = summary.loc["run"]
    frame_s = duration_s / max(len(present), 1)
    return TrackingScores(
        mota=float(row["mota"]), idf1=float(row["idf1"]), id_switches=int(row["num_switches"]),
        num_frames=int(row["num_frames"]), num_gt_ids=len(gt_ids), duration_s=duration_s,
        precision=float(row["precision"]), recall=float(row["recall"]), num_gt_boxes=gt_boxes,
        reentry_switches=_reentry_switches(acc.mot_events, present, round(reentry_s / frame_s) if frame_s else 0),
    )


def _reentry_switches(events, present: list[set[int]], min_gap_frames: int) -> int:
    """Switches after the player was absent from the truth for ``min_gap_frames`` in a row
    since his previous match."""
    matched = events[events["Type"].isin(["MATCH", "SWITCH"])]
    last_match: dict[int, int] = {}
    count = 0
    for (frame, _), event in matched.iterrows():
        oid = int(event["OId"])
        if event["Type"] == "SWITCH" and oid in last_match:
            run = longest = 0
            for f in range(last_match[oid] + 1, frame):
                run = 0 if oid in present[f] else run + 1
                longest = max(longest, run)
            count += longest >= max(min_gap_frames, 1)
        last_match[oid] = frame
    return count

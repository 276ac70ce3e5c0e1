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

from streamer.errors import MissingDependencyError
from streamer.tracking.association import iou


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

    def as_dict(self) -> dict[str, float]:
        return {
            "MOTA": round(self.mota, 4), "IDF1": round(self.idf1, 4), "ID switches": self.id_switches,
            "switches/player-min": round(self.switches_per_player_minute, 3),
            "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "frames": self.num_frames, "gt ids": self.num_gt_ids,
            "player-minutes": round(self.player_minutes, 3),
        }


def evaluate(truth: Iterable[FrameBoxes], hypotheses: Iterable[FrameBoxes], duration_s: float,
             min_iou: float = 0.5) -> TrackingScores:
    """Score a tracker against ground truth, frame by frame (a pair is a match at IoU >= ``min_iou``)."""
    try:
        import motmetrics as mm
    except ImportError as exc:
        raise MissingDependencyError("tracking metrics need motmetrics: pip install motmetrics") from exc
    acc = mm.MOTAccumulator(auto_id=True)
    gt_ids: set[int] = set()
    gt_boxes = 0
    for gt, hyp in zip(truth, hypotheses, strict=True):
        overlap = iou(gt.xyxy, hyp.xyxy) if len(gt.ids) and len(hyp.ids) else np.zeros((len(gt.ids), len(hyp.ids)))
        dist = np.where(overlap >= min_iou, 1.0 - overlap, np.nan)
        acc.update(gt.ids.tolist(), hyp.ids.tolist(), dist)
        gt_ids.update(int(i) for i in gt.ids)
        gt_boxes += len(gt.ids)
    summary = mm.metrics.create().compute(
        acc, metrics=["mota", "idf1", "num_switches", "num_frames", "precision", "recall"], name="run"
    )
    row = summary.loc["run"]
    return TrackingScores(
        mota=float(row["mota"]), idf1=float(row["idf1"]), id_switches=int(row["num_switches"]),
        num_frames=int(row["num_frames"]), num_gt_ids=len(gt_ids), duration_s=duration_s,
        precision=float(row["precision"]), recall=float(row["recall"]), num_gt_boxes=gt_boxes,
    )

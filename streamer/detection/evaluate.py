"""Scoring person boxes against hand labels: one frame's matching, and counts that add up.

Shape legend: ``D`` detections, ``T`` target boxes, ``G`` ignore boxes in one frame; all boxes
are xyxy pixels (continuous convention: a person over columns 10..19 has x1 = 10, x2 = 20).

The rule (label format and tool: README, "Detection accuracy"):

1. Hungarian matching of detections to targets on IoU, pairs below ``min_iou`` (0.5) not
   allowed; among the allowed pairs it takes the most matches, then the largest total IoU;
2. a detection left unmatched that lies at least ``ignore_cover`` (half) inside one ignore box,
   by its own area, is dropped: neither a hit nor a false positive (a spectator, a person cut
   by the frame edge, a player smaller than the labeller could box);
3. recall = matched / targets, precision = matched / kept detections (matched + false positives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from streamer.boxes import coverage, iou


def _boxes(xyxy: np.ndarray | list, name: str) -> np.ndarray:
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4) if len(xyxy) else np.zeros((0, 4))
    if not np.isfinite(boxes).all():
        raise ValueError(f"{name}: boxes must be finite, got {boxes.tolist()}")
    return boxes


@dataclass(frozen=True, slots=True)
class FrameMatch:
    """How one frame's detections met its targets (indices into the inputs of :func:`match_frame`)."""

    matches: np.ndarray  # (M, 2) int64: (detection index, target index) pairs with IoU >= min_iou
    iou: np.ndarray  # (M,) float64: IoU of each matched pair
    false_positives: np.ndarray  # (F,) int64: unmatched detections not dropped by an ignore box
    ignored: np.ndarray  # (I,) int64: unmatched detections dropped by an ignore box
    missed: np.ndarray  # (K,) int64: unmatched targets
    n_targets: int

    @property
    def n_matched(self) -> int:
        return len(self.matches)

    @property
    def n_kept(self) -> int:
        """Detections that count: matched ones and false positives."""
        return len(self.matches) + len(self.false_positives)


def match_frame(detections: np.ndarray, targets: np.ndarray, ignore: np.ndarray | None = None, *,
                min_iou: float = 0.5, ignore_cover: float = 0.5) -> FrameMatch:
    """Match one frame's (D, 4) detections to its (T, 4) targets; (G, 4) ``ignore`` regions."""
    det = _boxes(detections, "detections")
    tgt = _boxes(targets, "targets")
    ign = _boxes(ignore if ignore is not None else [], "ignore")
    pairs = np.zeros((0, 2), np.int64)
    pair_iou = np.zeros(0)
    if len(det) and len(tgt):
        overlap = iou(det, tgt)
        allowed = overlap >= min_iou
        # weight 1 + IoU per allowed pair: one more match (>= 1.5) outweighs the IoU a
        # rearrangement can gain in nearly every case, and ties go to the tighter boxes
        cost = np.where(allowed, -(1.0 + overlap), 0.0)
        rows, cols = linear_sum_assignment(cost)
        keep = allowed[rows, cols]
        pairs = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
        pair_iou = overlap[rows[keep], cols[keep]]
    unmatched = np.setdiff1d(np.arange(len(det)), pairs[:, 0]).astype(np.int64)
    if len(unmatched) and len(ign):
        inside = (coverage(det[unmatched], ign) >= ignore_cover).any(axis=1)
    else:
        inside = np.zeros(len(unmatched), bool)
    missed = np.setdiff1d(np.arange(len(tgt)), pairs[:, 1]).astype(np.int64)
    return FrameMatch(pairs, pair_iou, unmatched[~inside], unmatched[inside], missed, len(tgt))


@dataclass(slots=True)
class Counts:
    """Totals over frames; ``recall``/``precision`` are None where nothing was there to count."""

    frames: int = 0
    targets: int = 0
    matched: int = 0
    kept: int = 0  # detections that count (matched + false positives)
    ignored: int = 0  # detections dropped by ignore boxes

    def add(self, match: FrameMatch) -> None:
        self.frames += 1
        self.targets += match.n_targets
        self.matched += match.n_matched
        self.kept += match.n_kept
        self.ignored += len(match.ignored)

    def __iadd__(self, other: Counts) -> Counts:
        self.frames += other.frames
        self.targets += other.targets
        self.matched += other.matched
        self.kept += other.kept
        self.ignored += other.ignored
        return self

    @property
    def false_positives(self) -> int:
        return self.kept - self.matched

    @property
    def recall(self) -> float | None:
        return self.matched / self.targets if self.targets else None

    @property
    def precision(self) -> float | None:
        return self.matched / self.kept if self.kept else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"frames": self.frames, "targets": self.targets, "matched": self.matched,
                "detections": self.kept, "false_positives": self.false_positives, "ignored": self.ignored,
                "recall": self.recall, "precision": self.precision}


SPLITS = ("tune", "check")


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    """One hand-labelled frame: (T, 4) target boxes and (G, 4) ignore boxes, xyxy pixels."""

    frame: int
    split: str  # "tune" | "check"
    boxes: np.ndarray
    ignore: np.ndarray


def parse_labels(data: dict, name: str = "labels") -> list[LabelledFrame]:
    """The frames of one person-box label file (already parsed JSON), in frame order.

    ValueError (naming ``name``) for a missing key, a bad split, a frame given twice or a box
    with x2 <= x1 or y2 <= y1.
    """
    try:
        entries = data["frames"]
        frames = [LabelledFrame(int(e["frame"]), str(e["split"]), _boxes(e["boxes"], f"{name} boxes"),
                                _boxes(e.get("ignore", []), f"{name} ignore")) for e in entries]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{name}: not a person-box label file ({exc!r})") from exc
    seen: set[int] = set()
    for f in frames:
        if f.frame < 0 or f.frame in seen:
            raise ValueError(f"{name}: frame {f.frame} is negative or labelled twice")
        seen.add(f.frame)
        if f.split not in SPLITS:
            raise ValueError(f"{name}: frame {f.frame} has split {f.split!r}, expected one of {SPLITS}")
        for box in (*f.boxes, *f.ignore):
            if not (box[2] > box[0] and box[3] > box[1]):
                raise ValueError(f"{name}: frame {f.frame} has an empty box {box.tolist()}")
    return sorted(frames, key=lambda f: f.frame)

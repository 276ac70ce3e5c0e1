"""Person boxes for keypoint tools and benchmarks, with no detector stage: HOG or pitch blobs.

Shape legend: ``N`` boxes in a frame.

Two stand-ins for the pipeline's detector and tracker, good enough to put real people
in front of the keypoint stage:

* :func:`hog_boxes`: OpenCV's HOG people detector on an upscaled frame (pedestrians,
  60-200 px tall), its 64×128 window tightened to the person inside it;
* :func:`pitch_blob_boxes`: players on grass as non-green blobs (broadcast wide shots,
  players 15-90 px tall);
* :class:`IouTracker`: greedy IoU association that gives the boxes track ids.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamer.records import Tracks

#: the person inside a HOG detection window (INRIA-style 64×128 window, person ~96 px tall)
_HOG_INNER = (0.22, 0.11, 0.78, 0.92)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_max: float) -> np.ndarray:
    keep: list[int] = []
    for i in np.argsort(-scores):
        if all(box_iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] <= iou_max for j in keep):
            keep.append(int(i))
    return np.array(keep, np.int64)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(Na, Nb) IoU of (Na, 4) and (Nb, 4) xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


_HOG: cv2.HOGDescriptor | None = None


def hog_boxes(
    image_rgb: np.ndarray, upscale: float = 1.5, min_score: float = 1.1
) -> tuple[np.ndarray, np.ndarray]:
    """People found by OpenCV's HOG detector: (N, 4) float32 xyxy boxes, (N,) float32 SVM margins.

    ``min_score`` 1.1 drops the clip's recurring false positives (a parked van scores 0.7-1.05)
    and keeps the people, who mostly score 2-5.
    """
    global _HOG
    if _HOG is None:
        _HOG = cv2.HOGDescriptor()
        _HOG.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    big = cv2.resize(gray, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
    rects, weights = _HOG.detectMultiScale(big, winStride=(8, 8), padding=(8, 8), scale=1.05)
    if len(rects) == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    rects = np.asarray(rects, np.float64) / upscale
    scores = np.asarray(weights, np.float64).reshape(-1)
    x, y, w, h = rects.T
    fx1, fy1, fx2, fy2 = _HOG_INNER
    boxes = np.stack([x + fx1 * w, y + fy1 * h, x + fx2 * w, y + fy2 * h], axis=1)
    ok = scores >= min_score
    boxes, scores = boxes[ok], scores[ok]
    keep = _nms(boxes, scores, 0.3)
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)  # raw SVM margins, not [0, 1]


def pitch_blob_boxes(
    image_rgb: np.ndarray, min_height_px: float = 14.0, max_height_px: float = 120.0, threshold: float = 28.0
) -> tuple[np.ndarray, np.ndarray]:
    """Upright blobs that differ from the local grass colour: (N, 4) float32 boxes, (N,) float32 scores."""
    h_img, w_img = image_rgb.shape[:2]
    lab = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    small = cv2.resize(image_rgb, (w_img // 4, h_img // 4), interpolation=cv2.INTER_AREA)
    background = cv2.resize(cv2.medianBlur(small, 15), (w_img, h_img), interpolation=cv2.INTER_LINEAR)
    bg_hsv = cv2.cvtColor(background, cv2.COLOR_RGB2HSV)
    grass_bg = cv2.inRange(bg_hsv, (30, 50, 30), (90, 255, 255)) > 0
    bg_lab = cv2.cvtColor(background, cv2.COLOR_RGB2LAB).astype(np.float32)
    dist = np.sqrt(((lab - bg_lab) ** 2 * np.array([0.25, 1.0, 1.0], np.float32)).sum(axis=2))
    fg = ((dist > threshold) & grass_bg).astype(np.uint8)
    # pitch lines are 1-3 px thin: an opening removes them, a dilation inside fg grows limbs back
    core = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 5)))
    grown = cv2.dilate(core, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)), iterations=3) & fg
    n, _, stats, _ = cv2.connectedComponentsWithStats(grown)
    x, y, w, h, area = (stats[1:, i].astype(np.float64) for i in range(5))
    ok = (h >= min_height_px) & (h <= max_height_px) & (h >= 1.2 * w) & (h <= 5.0 * w) & (area >= 0.2 * w * h)
    boxes = np.stack([x, y, x + w, y + h], axis=1)[ok]
    return boxes.astype(np.float32), np.ones(len(boxes), np.float32)


class IouTracker:
    """Greedy IoU association: a box continues the track it overlaps most (IoU >= ``min_iou``)."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 5) -> None:
        self.min_iou, self.max_missed = min_iou, max_missed
        self._boxes = np.zeros((0, 4), np.float32)
        self._ids = np.zeros((0,), np.int64)
        self._missed = np.zeros((0,), np.int64)
        self._next_id = 1

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> Tracks:
        ids = np.zeros(len(boxes), np.int64)
        matched = np.zeros(len(self._boxes), bool)
        if len(boxes) and len(self._boxes):
            iou = box_iou(boxes, self._boxes)
            for flat in np.argsort(-iou, axis=None):
                i, j = np.unravel_index(flat, iou.shape)
                if iou[i, j] < self.min_iou:
                    break
                if ids[i] == 0 and not matched[j]:
                    ids[i], matched[j] = self._ids[j], True
        for i in np.flatnonzero(ids == 0):
            ids[i], self._next_id = self._next_id, self._next_id + 1
        missed = self._missed[~matched] + 1
        alive = missed <= self.max_missed
        self._boxes = np.concatenate([boxes, self._boxes[~matched][alive]]).astype(np.float32)
        self._ids = np.concatenate([ids, self._ids[~matched][alive]])
        self._missed = np.concatenate([np.zeros(len(boxes), np.int64), missed[alive]])
        return Tracks(ids, boxes.astype(np.float32), np.clip(scores, 0.0, 1.0).astype(np.float32))


#: frame index -> Tracks, replayed by the ``replay_tracks`` stage (benchmarks fill it in)
REPLAY: dict[int, Tracks] = {}


class ReplayTracks:
    """A pipeline stage that puts pre-computed tracks (:data:`REPLAY`) on each frame."""

    name = "replay_tracks"
    fills = ("tracks",)

    def process(self, packets: list) -> list:
        return [p.replace(tracks=REPLAY.get(p.frame.index, Tracks.empty())) for p in packets]

    def flush(self) -> list:
        return []


def build_replay(config: dict, context: object) -> ReplayTracks:
    """Stage factory: register with ``register_stage("replay_tracks", "person_boxes:build_replay")``."""
    return ReplayTracks()


#: (crops, seconds) of each ``process`` call of the ``timed_keypoints`` stage
TIMINGS: list[tuple[int, float]] = []


class TimedKeypoints:
    """The real ``keypoints`` stage, timing each window it processes (into :data:`TIMINGS`)."""

    name = "keypoints"

    def __init__(self, config: dict, context: object) -> None:
        from streamer.stages import build_stage

        self.stage = build_stage("keypoints", config, context)
        self.reads, self.uses, self.fills = self.stage.reads, self.stage.uses, self.stage.fills

    def process(self, packets: list) -> list:
        import time

        crops = sum(len(p.tracks) for p in packets if p.tracks is not None)
        t0 = time.perf_counter()
        out = self.stage.process(packets)
        TIMINGS.append((crops, time.perf_counter() - t0))
        return out

    def flush(self) -> list:
        return self.stage.flush()


def build_timed_keypoints(config: dict, context: object) -> TimedKeypoints:
    """Stage factory for ``register_stage("timed_keypoints", "person_boxes:build_timed_keypoints")``."""
    return TimedKeypoints(config, context)

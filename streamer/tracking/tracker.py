"""ByteTrack-style multi-player tracker with camera-motion compensation and jersey appearance.

Per frame (``update``):

1. every track predicts its box over ``dt`` seconds (timestamps, not frame
   counts) and is moved by the camera motion estimated between the frames;
2. **stage 1**: active and recently lost tracks vs high-score detections; cost =
   (1 − buffered IoU) + ``appearance_weight`` × jersey-colour distance, gated on
   overlap and on the Mahalanobis distance of the centre;
3. **stage 2**: tracks still unmatched vs low-score detections, on IoU alone
   (partly occluded players score low but are still there);
4. **stage 3**: unconfirmed tracks vs the high-score detections left;
5. unmatched high-score detections start tentative tracks; a track is confirmed
   (gets a player id) after ``min_hits`` updates, and is deleted when it has not
   been updated for ``max_age_s`` seconds.

Ids are handed out in order of confirmation, from 1, and never reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.records import Detections, Tracks
from streamer.tracking.appearance import hellinger, torso_histograms
from streamer.tracking.association import assign, expand, iou
from streamer.tracking.camera_motion import CameraMotion
from streamer.tracking.kalman import BoxKalman


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    high_score: float = 0.5  # detections at or above: stage 1 and births
    low_score: float = 0.1  # detections between low and high: stage 2 only
    new_track_score: float = 0.6  # a detection must score this to start a track
    match_cost: float = 0.85  # max stage-1 cost (1 - buffered IoU + appearance term)
    low_match_iou: float = 0.3  # min IoU in stage 2
    buffer_ratio: float = 0.3  # boxes grown by this fraction for stage-1 IoU (small, fast players)
    gate_chi2: float = 40.0  # centre Mahalanobis² gate
    appearance_weight: float = 0.5  # weight of the jersey-colour distance in stage 1
    appearance_momentum: float = 0.9  # EMA of a track's descriptor
    min_hits: int = 3  # updates before a track is confirmed
    max_age_s: float = 1.5  # a track unseen this long is deleted
    coast_s: float = 0.0  # a confirmed track missed this long is still output, at its prediction
    camera_motion: bool = True


class _Track:
    __slots__ = ("kf", "hist", "hits", "last_time", "player_id", "score", "updated", "box")

    def __init__(self, box: np.ndarray, score: float, hist: np.ndarray, time_s: float) -> None:
        self.kf = BoxKalman(box)
        self.box = np.asarray(box, np.float64)
        self.hist = hist
        self.hits = 1
        self.last_time = time_s
        self.player_id = 0  # 0 until confirmed
        self.score = score
        self.updated = True

    def update(self, box: np.ndarray, score: float, hist: np.ndarray, time_s: float, momentum: float) -> None:
        self.kf.update(box, score)
        self.box = np.asarray(box, np.float64)
        if hist.sum() > 0:
            self.hist = hist if self.hist.sum() == 0 else momentum * self.hist + (1 - momentum) * hist
        self.hits += 1
        self.last_time = time_s
        self.score = score
        self.updated = True


class ByteTracker:
    """Call :meth:`update` once per frame, in order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[_Track] = []
        self.camera = CameraMotion() if self.config.camera_motion else None
        self._next_id = 1
        self._last_time: float | None = None
        self.last_affine = np.array([[1.0, 0, 0], [0, 1.0, 0]])

    def _stage1_cost(self, tracks: list[_Track], boxes: np.ndarray, hists: np.ndarray) -> np.ndarray:
        cfg = self.config
        pred = np.array([t.kf.xyxy for t in tracks])
        overlap = iou(expand(pred, cfg.buffer_ratio), expand(boxes, cfg.buffer_ratio))
        app = hellinger(np.array([t.hist for t in tracks]), hists)
        cost = (1.0 - overlap) + cfg.appearance_weight * app
        gate = np.array([t.kf.mahalanobis2(boxes) for t in tracks]) > cfg.gate_chi2
        cost[(overlap <= 0) | gate] = np.inf
        return cost

    def update(self, image: np.ndarray, detections: Detections, time_s: float) -> Tracks:
        cfg = self.config
        dt = 0.04 if self._last_time is None else max(time_s - self._last_time, 1e-3)
        self._last_time = time_s
        if self.camera is not None:
            self.last_affine = self.camera(image, detections.xyxy_px)
        for t in self.tracks:
            t.updated = False
            t.kf.predict(dt)
            if self.camera is not None:
                t.kf.warp(self.last_affine)

        boxes, scores = detections.xyxy_px.astype(np.float64), detections.score
        hists = torso_histograms(image, boxes)
        high = np.flatnonzero(scores >= cfg.high_score)
        low = np.flatnonzero((scores >= cfg.low_score) & (scores < cfg.high_score))
        confirmed = [t for t in self.tracks if t.player_id]
        tentative = [t for t in self.tracks if not t.player_id]

        # stage 1: confirmed (active or lost) tracks vs high detections
        m1, un_t1, un_d1 = assign(self._stage1_cost(confirmed, boxes[high], hists[high])
                                  if confirmed and len(high) else np.zeros((len(confirmed), len(high))),
                                  cfg.match_cost)
        for ti, di in m1:
            confirmed[ti].update(boxes[high[di]], float(scores[high[di]]), hists[high[di]], time_s,
                                 cfg.appearance_momentum)
        # stage 2: leftover confirmed tracks vs low detections, IoU only
        left = [confirmed[i] for i in un_t1]
        if left and len(low):
            pred = np.array([t.kf.xyxy for t in left])
            cost2 = 1.0 - iou(pred, boxes[low])
            m2, _, _ = assign(cost2, 1.0 - cfg.low_match_iou)
            for ti, di in m2:
                left[ti].update(boxes[low[di]], float(scores[low[di]]), hists[low[di]], time_s,
                                cfg.appearance_momentum)
        # stage 3: tentative tracks vs remaining high detections
        rest = high[un_d1]
        if tentative and len(rest):
            m3, _, un_d3 = assign(self._stage1_cost(tentative, boxes[rest], hists[rest]), cfg.match_cost)
            for ti, di in m3:
                tentative[ti].update(boxes[rest[di]], float(scores[rest[di]]), hists[rest[di]], time_s,
                                     cfg.appearance_momentum)
            rest = rest[un_d3]
        # births, confirmations, deaths
        for di in rest:
            if scores[di] >= cfg.new_track_score:
                self.tracks.append(_Track(boxes[di], float(scores[di]), hists[di], time_s))
        alive = []
        for t in self.tracks:
            if not t.player_id and not t.updated:
                continue  # a tentative track must be seen in consecutive frames
            if time_s - t.last_time > cfg.max_age_s:
                continue
            if not t.player_id and t.hits >= cfg.min_hits:
                t.player_id = self._next_id
                self._next_id += 1
            alive.append(t)
        self.tracks = alive
        # confirmed tracks seen now, and those missed for at most coast_s (a player hidden in a
        # merged blob for a moment) at their predicted box with a zero score
        out = [t for t in alive if t.player_id and (t.updated or time_s - t.last_time <= cfg.coast_s)]
        if not out:
            return Tracks.empty()
        return Tracks(
            np.array([t.player_id for t in out], np.int64),
            # the matched detection's box: the filter's estimate lags a player who changes pace,
            # and for a 20 px player a few pixels of lag is a large share of the box
            np.array([t.box if t.updated else t.kf.xyxy for t in out], np.float32),
            np.array([t.score if t.updated else 0.0 for t in out], np.float32),
        )

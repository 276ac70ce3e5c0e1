"""ByteTrack-style multi-player tracker with camera-motion compensation and jersey appearance.

Per frame (``update``):

1. every track predicts its box over ``dt`` seconds (timestamps, not frame
   counts) and is moved by the camera motion estimated between the frames;
2. **stage 1**: active and recently lost tracks vs high-score detections; cost =
   (1 − buffered IoU) + ``appearance_weight`` × jersey-colour distance, gated on
   overlap and on the Mahalanobis distance of the centre;
3. **merged players**: a confirmed track left unmatched whose predicted box lies
   inside a matched detection clearly bigger than that detection's own track is
   hidden in the same blob (two players crossing make one blob for a weight-free
   detector): every track of the group keeps its predicted box, moved inside the
   blob, and is updated with it at low confidence — neither takes the merged box;
4. **stage 2**: tracks still unmatched vs low-score detections, on IoU alone
   (partly occluded players score low but are still there);
5. **stage 3**: unconfirmed tracks vs the high-score detections left;
6. unmatched high-score detections start tentative tracks; a track is confirmed
   (gets a player id) after ``min_hits`` updates, and is deleted when it has not
   been updated for ``max_age_s`` seconds.

Ids are handed out in order of confirmation, from 1, and never reused — not even
after :meth:`ByteTracker.reset` (a camera cut). A caller that holds frames back can give
a newly confirmed track's id to the frames it spent tentative: :meth:`ByteTracker.tentative`
lists the tentative tracks of the last frame and ``newly_confirmed`` the ones confirmed in
it, both by a per-track ``uid``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.boxes import coverage, iou
from streamer.records import Detections, Tracks
from streamer.tracking.appearance import hellinger, torso_histograms
from streamer.tracking.association import assign, expand, fit_inside
from streamer.tracking.camera_motion import CameraMotion
from streamer.tracking.kalman import BoxKalman


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    high_score: float = 0.5  # detections at or above: stage 1 and births
    low_score: float = 0.1  # detections between low and high: stage 2 only
    new_track_score: float = 0.6  # a detection must score this to start a track
    match_cost: float = 0.85  # max stage-1 cost (1 - buffered IoU + appearance term)
    low_match_iou: float = 0.3  # min IoU in stage 2
    low_buffer_ratio: float = 0.3  # boxes grown by this fraction for the stage-2 IoU (small, partly hidden players)
    buffer_ratio: float = 0.3  # boxes grown by this fraction for stage-1 IoU (small, fast players)
    gate_chi2: float = 40.0  # centre Mahalanobis² gate
    appearance_weight: float = 0.5  # weight of the jersey-colour distance in stage 1
    appearance_momentum: float = 0.9  # EMA of a track's descriptor
    min_hits: int = 3  # updates before a track is confirmed
    max_age_s: float = 1.5  # a track unseen this long is deleted
    coast_s: float = 0.0  # a confirmed track missed this long is still output, at its prediction
    merge_cover: float = 0.6  # share of an unmatched track's predicted box inside a detection: hidden in it
    merge_area_ratio: float = 1.2  # ...when that detection is this much bigger than its own track's box
    duplicate_iou: float = 0.7  # an unseen track this much on a seen one is the same player
    fragment_ratio: float = 0.5  # a tentative track shorter than this x a player seen now standing no
    #   further from the camera (feet no higher in the frame) is not confirmed: a piece of something
    fragment_cover: float = 0.8  # nor one lying this much inside a taller player's box seen now (his legs)
    camera_motion: bool = True


class _Track:
    __slots__ = ("kf", "hist", "hits", "last_time", "player_id", "score", "updated", "box", "held_time", "uid")

    def __init__(self, box: np.ndarray, score: float, hist: np.ndarray, time_s: float, uid: int = 0) -> None:
        self.uid = uid  # tells tracks apart before they have a player id
        self.kf = BoxKalman(box)
        self.box = np.asarray(box, np.float64)
        self.hist = hist
        self.hits = 1
        self.last_time = time_s
        self.player_id = 0  # 0 until confirmed
        self.score = score
        self.updated = True
        self.held_time = -np.inf  # last time it was held inside a merged blob

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
        self._next_uid = 1
        self._last_time: float | None = None
        self.last_affine = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        self.newly_confirmed: list[tuple[int, int]] = []  # (uid, player id) confirmed by the last update

    def reset(self) -> None:
        """Forget every track and the camera (a camera cut); ids already given are not reused."""
        self.tracks = []
        if self.camera is not None:
            self.camera.reset()
        self._last_time = None
        self.last_affine = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        self.newly_confirmed = []

    def tentative(self) -> list[tuple[int, np.ndarray, float]]:
        """(uid, (4,) box, score) of each tentative track seen in the last frame."""
        return [(t.uid, t.box.astype(np.float32), float(t.score)) for t in self.tracks
                if not t.player_id and t.updated]

    def confirm(self, uids: list[int]) -> list[tuple[int, int]]:
        """Give player ids now to the tentative tracks ``uids`` (in that order), e.g. at the end of
        a stream too short for ``min_hits``; returns (uid, player id) pairs."""
        out = []
        by_uid = {t.uid: t for t in self.tracks if not t.player_id}
        for uid in uids:
            t = by_uid.get(uid)
            if t is not None:
                t.player_id = self._next_id
                self._next_id += 1
                out.append((uid, t.player_id))
        return out

    def _stage1_cost(self, tracks: list[_Track], boxes: np.ndarray, hists: np.ndarray) -> np.ndarray:
        cfg = self.config
        pred = np.array([t.kf.xyxy for t in tracks])
        overlap = iou(expand(pred, cfg.buffer_ratio), expand(boxes, cfg.buffer_ratio))
        app = hellinger(np.array([t.hist for t in tracks]), hists)
        cost = (1.0 - overlap) + cfg.appearance_weight * app
        gate = np.array([t.kf.mahalanobis2(boxes) for t in tracks]) > cfg.gate_chi2
        cost[(overlap <= 0) | gate] = np.inf
        return cost

    def _hold_merged(self, tracks: list[_Track], matches: np.ndarray, unmatched: np.ndarray,
                     un_dets: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                     time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Find players hidden together in one detection; hold them at their predictions.

        A matched detection hosts unmatched tracks when it is clearly bigger than its
        own track's box; an unmatched detection hosts two or more unmatched tracks.
        Returns the unmatched track and detection indices left.
        """
        cfg = self.config
        if len(unmatched) == 0 or len(boxes) == 0:
            return unmatched, un_dets
        pred = np.array([t.kf.xyxy for t in tracks])
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        cover = coverage(pred[unmatched], boxes)  # (U, D)
        owner = np.full(len(boxes), -1)
        owner[matches[:, 1]] = matches[:, 0]
        own_area = np.prod(pred[owner, 2:] - pred[owner, :2], axis=1)
        cover[:, (owner >= 0) & (area < cfg.merge_area_ratio * own_area)] = 0.0
        host = np.argmax(cover, axis=1)
        hidden = cover[np.arange(len(unmatched)), host] >= cfg.merge_cover
        used = []
        for d in np.unique(host[hidden]):
            guests = list(unmatched[hidden & (host == d)])
            group = [owner[d], *guests] if owner[d] >= 0 else guests
            if len(group) < 2 or (owner[d] < 0 and area[d] < cfg.merge_area_ratio * np.prod(
                    pred[group, 2:] - pred[group, :2], axis=1).max()):
                hidden[np.isin(unmatched, guests)] = False
                continue
            used.append(d)
            # the predicted centre, the size last measured (the filter's size would drift)
            centre = (pred[group, :2] + pred[group, 2:]) / 2
            size = np.array([tracks[ti].box[2:] - tracks[ti].box[:2] for ti in group])
            guess = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
            for ti, box in zip(group, fit_inside(guess, boxes[d]), strict=True):
                t = tracks[ti]
                t.kf.hold_size()
                t.kf.update(box, 0.3)
                t.box, t.score, t.last_time, t.updated = box, 0.5 * float(scores[d]), time_s, True
                t.held_time = time_s
        return unmatched[~hidden], np.setdiff1d(un_dets, used)

    def _drop_duplicates(self, tracks: list[_Track], time_s: float) -> None:
        """Two confirmed tracks on one player (born from a blob split in two for a few
        frames) take turns at its detection and both live on. When one is seen and the
        other, unseen, predicts a box almost on it, they are one player: the seen
        track goes on, under the id the player was given first. A track held
        in a merged blob moments ago is a player hidden behind another, not a double."""
        seen = [t for t in tracks if t.updated]
        unseen = [t for t in tracks if not t.updated and time_s - t.held_time > self.config.max_age_s]
        if not seen or not unseen:
            return
        overlap = iou(np.array([t.box for t in seen]), np.array([t.kf.xyxy for t in unseen]))
        for si, ui in zip(*np.nonzero(overlap > self.config.duplicate_iou), strict=True):
            keep, drop = seen[si], unseen[ui]
            if drop.player_id == 0 or keep.player_id == 0:
                continue  # already merged with another
            if drop.player_id < keep.player_id:  # the id the player had first
                keep.player_id, keep.hits = drop.player_id, max(keep.hits, drop.hits)
            drop.player_id = 0
            drop.last_time = -np.inf  # ends it

    def _fragment(self, track: _Track, seen: np.ndarray) -> bool:
        """Whether tentative ``track`` is a piece of something rather than a person, beside the
        players ``seen`` now ((K, 4) boxes).

        * On a ground plane a person whose feet are as low in the frame as another's, or lower,
          is as near the camera or nearer, so at least about as tall. A box under
          ``fragment_ratio`` x the height of such a player is a piece of something (a boot
          sticking out of a player's box, a goalpost's foot, the ball) that a blob detector
          took for a small person. A box cut by the top edge of the frame shows only a person's
          lower part and is not judged so.
        * A box lying ``fragment_cover`` inside a taller player's box is part of him (his legs
          boxed apart from his merged upper body), or someone hidden behind him, who gets his
          id once he comes out.
        """
        cfg = self.config
        box = track.box
        if not len(seen):
            return False
        height = box[3] - box[1]
        seen_h = seen[:, 3] - seen[:, 1]
        if cfg.fragment_ratio > 0 and box[1] > 1.0 and np.any(
                (box[3] >= seen[:, 3]) & (height < cfg.fragment_ratio * seen_h)):
            return True
        inside = (coverage(box[None], seen)[0] >= cfg.fragment_cover) & (seen_h > height)
        return bool(cfg.fragment_cover < 1 and np.any(inside))

    def update(self, image: np.ndarray | None, detections: Detections, time_s: float, *,
               hists: np.ndarray | None = None, affine: np.ndarray | None = None) -> Tracks:
        """Tracks of this frame. ``hists`` (N, DIM) and ``affine`` (2, 3), when given, replace the
        torso histograms and the camera motion measured on ``image`` (cached evaluation runs)."""
        cfg = self.config
        dt = 0.04 if self._last_time is None else max(time_s - self._last_time, 1e-3)
        self._last_time = time_s
        if affine is not None:
            self.last_affine = np.asarray(affine, np.float64)
        elif self.camera is not None:
            self.last_affine = self.camera(image, detections.xyxy_px)
        for t in self.tracks:
            t.updated = False
            t.kf.predict(dt)
            if self.camera is not None or affine is not None:
                t.kf.warp(self.last_affine)

        boxes, scores = detections.xyxy_px.astype(np.float64), detections.score
        if hists is None:
            hists = torso_histograms(image, boxes)
        high = np.flatnonzero(scores >= cfg.high_score)
        low = np.flatnonzero((scores >= cfg.low_score) & (scores < cfg.high_score))
        confirmed = [t for t in self.tracks if t.player_id]
        tentative = [t for t in self.tracks if not t.player_id]

        # stage 1: confirmed (active or lost) tracks vs high detections
        m1, un_t1, un_d1 = assign(self._stage1_cost(confirmed, boxes[high], hists[high])
                                  if confirmed and len(high) else np.zeros((len(confirmed), len(high))),
                                  cfg.match_cost)
        un_t1, un_d1 = self._hold_merged(confirmed, m1, un_t1, un_d1, boxes[high], scores[high], time_s)
        for ti, di in m1:
            if not confirmed[ti].updated:
                confirmed[ti].update(boxes[high[di]], float(scores[high[di]]), hists[high[di]], time_s,
                                     cfg.appearance_momentum)
        # stage 2: leftover confirmed tracks vs low detections, IoU only
        left = [confirmed[i] for i in un_t1]
        if left and len(low):
            pred = np.array([t.kf.xyxy for t in left])
            cost2 = 1.0 - iou(expand(pred, cfg.low_buffer_ratio), expand(boxes[low], cfg.low_buffer_ratio))
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
        self._drop_duplicates(confirmed, time_s)
        # births, confirmations, deaths
        for di in rest:
            if scores[di] >= cfg.new_track_score:
                self.tracks.append(_Track(boxes[di], float(scores[di]), hists[di], time_s, self._next_uid))
                self._next_uid += 1
        alive = []
        self.newly_confirmed = []
        # players seen now, those confirmed in this frame included
        seen_boxes = np.array([t.box for t in self.tracks if t.updated and (t.player_id or t.hits >= cfg.min_hits)
                               ]).reshape(-1, 4)
        for t in self.tracks:
            if not t.player_id and not t.updated:
                continue  # a tentative track must be seen in consecutive frames
            if time_s - t.last_time > cfg.max_age_s:
                continue
            if not t.player_id and t.hits >= cfg.min_hits and not self._fragment(t, seen_boxes):
                t.player_id = self._next_id
                self._next_id += 1
                self.newly_confirmed.append((t.uid, t.player_id))
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

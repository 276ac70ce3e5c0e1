"""Tracking stage: detections → persistent player tracks (``streamer.tracking.tracker``).

A track gets its player id after ``min_hits`` updates. In file runs the stage holds
each packet back ``min_hits − 1`` frames, and when a track is confirmed its id goes back
to the frames it spent tentative (with the boxes it was matched to then): no player
loses his first frames. A stream (or a shot) shorter than ``min_hits`` frames — a still
photo — can confirm nothing that way, so at its end every tentative track, seen in each
frame since its birth with a score of at least ``new_track_score``, is confirmed.

Live sources (``StageContext.live``: cameras, streams, ``streamer preview``) are not held
back: a track's tentative frames keep no id there.

At a camera cut (:meth:`TrackStage.end_shot`) the held packets are released and the
tracker starts afresh: no id continues across the cut, and none is reused.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamer.config import check_ranges, section_to
from streamer.errors import ConfigError
from streamer.records import Packet, Tracks
from streamer.stages import StageContext
from streamer.tracking.tracker import ByteTracker, TrackerConfig


@dataclass(slots=True)
class _Held:
    """A packet (its confirmed tracks filled in) waiting for back-filled ids."""

    packet: Packet
    tentative: dict[int, tuple[np.ndarray, float]]  # uid -> (4,) box, score
    backfilled: list[tuple[int, np.ndarray, float]] = field(default_factory=list)  # (player id, box, score)

    def finished(self) -> Packet:
        if not self.backfilled:
            return self.packet
        tracks = self.packet.tracks if self.packet.tracks is not None else Tracks.empty()
        ids, boxes, scores = zip(*self.backfilled, strict=True)
        return self.packet.replace(tracks=Tracks(
            np.concatenate([tracks.track_id, np.array(ids, np.int64)]),
            np.concatenate([tracks.xyxy_px, np.array(boxes, np.float32).reshape(-1, 4)]),
            np.concatenate([tracks.score, np.array(scores, np.float32)]),
        ))


class TrackStage:
    name = "track"
    reads = ("detections",)
    uses: tuple[str, ...] = ()
    fills = ("tracks", "camera_motion")

    def __init__(self, config: TrackerConfig, *, hold: bool = True) -> None:
        """
        Args:
            config: the tracker's settings.
            hold: hold packets back to give confirmed tracks their tentative frames (file
                runs); False passes every packet on at once (live sources).
        """
        self.tracker = ByteTracker(config)
        self.hold = hold and config.min_hits > 1
        self._held: deque[_Held] = deque()
        self._frames = 0  # frames seen in the current shot

    def process(self, packets: list[Packet]) -> list[Packet]:
        out = []
        for packet in packets:
            if packet.detections is None:
                raise ConfigError("the track stage needs detections: put 'detect' before 'track' "
                                  "in pipeline.stages")
            tracks = self.tracker.update(packet.frame.image, packet.detections, packet.frame.time_s)
            motion = self.tracker.last_affine.copy() if self.tracker.camera is not None else None
            packet = packet.replace(tracks=tracks, camera_motion=motion)
            self._frames += 1
            if not self.hold:
                out.append(packet)
                continue
            self._backfill(self.tracker.newly_confirmed)
            self._held.append(_Held(packet, {uid: (box, score) for uid, box, score in self.tracker.tentative()}))
            # a track born in the oldest held frame is confirmed min_hits - 1 frames later, at the latest
            while len(self._held) > self.tracker.config.min_hits - 1:
                out.append(self._held.popleft().finished())
        return out

    def _backfill(self, confirmed: list[tuple[int, int]]) -> None:
        """Give the ids just handed out to the held frames the tracks spent tentative."""
        for uid, player_id in confirmed:
            for held in self._held:
                seen = held.tentative.pop(uid, None)
                if seen is not None:
                    held.backfilled.append((player_id, seen[0], seen[1]))

    def _release_all(self) -> list[Packet]:
        """The end of the stream or of a shot: a still confirms its tentative tracks, then every
        held packet goes out."""
        if self.hold and self._held and self._frames < self.tracker.config.min_hits:
            # everything of this short stream is still held (the hold is min_hits - 1 frames)
            lowest: dict[int, float] = {}
            for held in self._held:
                for uid, (_, score) in held.tentative.items():
                    lowest[uid] = min(score, lowest.get(uid, np.inf))
            good = [uid for uid in self._held[-1].tentative  # seen in the last frame: alive
                    if lowest[uid] >= self.tracker.config.new_track_score]
            self._backfill(self.tracker.confirm(good))
        out = [held.finished() for held in self._held]
        self._held.clear()
        return out

    def flush(self) -> list[Packet]:
        return self._release_all()

    def end_shot(self) -> list[Packet]:
        """A camera cut: release the old shot's packets, then forget its tracks and camera."""
        out = self._release_all()
        self.tracker.reset()
        self._frames = 0
        return out


# config numbers and the ranges they must lie in
RANGES = {
    "high_score": (0, 1), "low_score": (0, 1), "new_track_score": (0, 1), "match_cost": (0, 10),
    "low_match_iou": (0, 1), "low_buffer_ratio": (0, 5), "buffer_ratio": (0, 5),
    "gate_chi2": (0, float("inf")),
    "appearance_weight": (0, 10), "appearance_momentum": (0, 1), "min_hits": (1, 1000),
    "max_age_s": (0, 3600), "coast_s": (0, 3600), "merge_cover": (0, 1), "merge_area_ratio": (1, 10),
    "duplicate_iou": (0, 1), "fragment_ratio": (0, 1), "fragment_cover": (0, 1),
}


def build(config: dict[str, Any], context: StageContext) -> TrackStage:
    section = config["track"]
    check_ranges(section, RANGES, "track")
    if section["low_score"] > section["high_score"]:
        raise ConfigError(f"config key 'track.low_score' ({section['low_score']}) must not exceed "
                          f"'track.high_score' ({section['high_score']})")
    return TrackStage(section_to(TrackerConfig, section, "track"), hold=not context.live)

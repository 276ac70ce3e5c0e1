"""Tracking stage: detections → persistent player tracks (``streamer.tracking.tracker``)."""

from __future__ import annotations

from typing import Any

from streamer.config import check_ranges, section_to
from streamer.errors import ConfigError
from streamer.records import Packet
from streamer.stages import StageContext
from streamer.tracking.tracker import ByteTracker, TrackerConfig


class TrackStage:
    name = "track"
    reads = ("detections",)
    uses: tuple[str, ...] = ()
    fills = ("tracks", "camera_motion")

    def __init__(self, config: TrackerConfig) -> None:
        self.tracker = ByteTracker(config)

    def process(self, packets: list[Packet]) -> list[Packet]:
        out = []
        for packet in packets:
            if packet.detections is None:
                raise ConfigError("the track stage needs detections: put 'detect' before 'track' "
                                  "in pipeline.stages")
            tracks = self.tracker.update(packet.frame.image, packet.detections, packet.frame.time_s)
            motion = self.tracker.last_affine.copy() if self.tracker.camera is not None else None
            out.append(packet.replace(tracks=tracks, camera_motion=motion))
        return out

    def flush(self) -> list[Packet]:
        return []


# config numbers and the ranges they must lie in
RANGES = {
    "high_score": (0, 1), "low_score": (0, 1), "new_track_score": (0, 1), "match_cost": (0, 10),
    "low_match_iou": (0, 1), "buffer_ratio": (0, 5), "gate_chi2": (0, float("inf")),
    "appearance_weight": (0, 10), "appearance_momentum": (0, 1), "min_hits": (1, 1000),
    "max_age_s": (0, 3600), "coast_s": (0, 3600), "merge_cover": (0, 1), "merge_area_ratio": (1, 10),
    "duplicate_iou": (0, 1),
}


def build(config: dict[str, Any], context: StageContext) -> TrackStage:
    section = config["track"]
    check_ranges(section, RANGES, "track")
    if section["low_score"] > section["high_score"]:
        raise ConfigError(f"config key 'track.low_score' ({section['low_score']}) must not exceed "
                          f"'track.high_score' ({section['high_score']})")
    return TrackStage(section_to(TrackerConfig, section, "track"))

"""Tracking stage: detections → persistent player tracks (``streamer.tracking.tracker``)."""

from __future__ import annotations

from typing import Any

from streamer.config import section_to
from streamer.errors import ConfigError
from streamer.records import Packet
from streamer.stages import StageContext
from streamer.tracking.tracker import ByteTracker, TrackerConfig


class TrackStage:
    name = "track"

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


def build(config: dict[str, Any], context: StageContext) -> TrackStage:
    return TrackStage(section_to(TrackerConfig, config["track"], "track"))

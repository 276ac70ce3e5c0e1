"""``overlay.mp4``: the input frames with what the pipeline found drawn on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamer.io.video_writer import VideoWriter
from streamer.records import Packet

_BOX_COLOUR = (255, 210, 0)


def draw_tracks(image: np.ndarray, packet: Packet) -> np.ndarray:
    """A copy of ``image`` with track boxes and ids drawn (the input when there are none)."""
    tracks = packet.tracks
    if tracks is None or len(tracks) == 0:
        return image
    import cv2  # only paid for when there is something to draw

    canvas = image.copy()
    for track_id, box in zip(tracks.track_id, tracks.xyxy_px, strict=True):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), _BOX_COLOUR, 1, cv2.LINE_AA)
        cv2.putText(
            canvas, str(int(track_id)), (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
            _BOX_COLOUR, 1, cv2.LINE_AA,
        )
    return canvas


class OverlaySink:
    """Draws each packet and encodes it; frame timing follows the input."""

    name = "overlay"

    def __init__(self, path: str | Path, writer_kwargs: dict) -> None:
        self.writer = VideoWriter(path, **writer_kwargs)
        self._t0: float | None = None

    def write(self, packet: Packet) -> None:
        frame = packet.frame
        if self._t0 is None:
            self._t0 = frame.time_s  # the overlay starts at 0 even after --start
        self.writer.write(draw_tracks(frame.image, packet), frame.time_s - self._t0)

    def counts(self) -> dict[str, int]:
        return {"overlay_frames": self.writer.frames_written}

    def close(self) -> None:
        self.writer.close()

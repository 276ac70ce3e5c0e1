"""Per-frame records that flow one way through the pipeline.

Shape legend: ``H, W`` image height and width in pixels; ``N`` boxes in a frame.

Records are frozen struct-of-arrays dataclasses. They validate their shapes on
construction (naming expected vs actual) and are never mutated: a stage returns
new records, e.g. ``packet.replace(tracks=...)``.

A :class:`Packet` bundles everything known about one frame so far. Each stage
reads some fields of the packets it is given and returns packets with one more
field filled in; sinks read the finished packets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np


def _check_shape(name: str, array: np.ndarray, shape: tuple[int | None, ...]) -> None:
    """Raise ValueError unless ``array`` matches ``shape`` (``None`` = any size)."""
    ok = array.ndim == len(shape) and all(
        want is None or want == got for want, got in zip(shape, array.shape, strict=True)
    )
    if not ok:
        want_txt = str(tuple("*" if s is None else s for s in shape)).replace("'", "")
        raise ValueError(f"{name}: expected shape {want_txt}, got {tuple(array.shape)}")


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One decoded video frame.

    Attributes:
        index: 0-based position among the frames the source delivered.
        pts: presentation timestamp in the stream's time base (None if the
            container had none).
        time_s: presentation time in seconds from the stream start, from
            ``pts * time_base`` (never ``index / fps``).
        image: (H, W, 3) uint8 RGB, already turned upright by the rotation metadata.
    """

    index: int
    pts: int | None
    time_s: float
    image: np.ndarray

    def __post_init__(self) -> None:
        _check_shape("Frame.image", self.image, (None, None, 3))
        if self.image.dtype != np.uint8:
            raise ValueError(f"Frame.image: expected dtype uint8, got {self.image.dtype}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """Person boxes found in one frame.

    Attributes:
        xyxy_px: (N, 4) float32 boxes, image pixels, x1 y1 x2 y2.
        score: (N,) float32 detector confidence in [0, 1].
    """

    xyxy_px: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        _check_shape("Detections.xyxy_px", self.xyxy_px, (None, 4))
        _check_shape("Detections.score", self.score, (len(self.xyxy_px),))

    def __len__(self) -> int:
        return len(self.xyxy_px)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def select(self, mask: np.ndarray) -> Detections:
        return Detections(self.xyxy_px[mask], self.score[mask])


@dataclass(frozen=True, slots=True, eq=False)
class Tracks:
    """Confirmed player tracks in one frame.

    Attributes:
        track_id: (N,) int64 persistent player ids (>= 1).
        xyxy_px: (N, 4) float32 boxes, image pixels.
        score: (N,) float32 confidence of the box the track was updated with.
    """

    track_id: np.ndarray
    xyxy_px: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        _check_shape("Tracks.track_id", self.track_id, (None,))
        n = len(self.track_id)
        _check_shape("Tracks.xyxy_px", self.xyxy_px, (n, 4))
        _check_shape("Tracks.score", self.score, (n,))

    def __len__(self) -> int:
        return len(self.track_id)

    @classmethod
    def empty(cls) -> Tracks:
        return cls(
            np.zeros((0,), np.int64), np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        )

    def select(self, mask: np.ndarray) -> Tracks:
        return Tracks(self.track_id[mask], self.xyxy_px[mask], self.score[mask])


@dataclass(frozen=True, slots=True, eq=False)
class Packet:
    """Everything known about one frame; stages fill fields in, in order."""

    frame: Frame
    detections: Detections | None = None
    tracks: Tracks | None = None

    def replace(self, **changes: Any) -> Packet:
        """A new packet with the given fields replaced."""
        return dataclasses.replace(self, **changes)

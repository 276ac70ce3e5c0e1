"""What the detect stage needs from a person detector backend.

A backend takes the frames of a window at once, so it can batch them into as few
model calls as it likes, and returns one :class:`~streamer.records.Detections` per
frame. It may keep state across windows (frames arrive in order), e.g. a size prior
or which tiles to look at next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from streamer.records import Detections


class DetectorBackend(Protocol):
    """Person boxes for a window of frames."""

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One record per image, each (H, W, 3) uint8 RGB, in the order given."""
        ...


class PerImage:
    """A detector that works one image at a time (``detector(image) -> Detections``) as a backend."""

    def __init__(self, detector: Callable[[np.ndarray], Detections]) -> None:
        self.detector = detector

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        return [self.detector(image) for image in images]

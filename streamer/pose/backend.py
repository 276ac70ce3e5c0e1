"""What the keypoints stage needs from a model backend.

Shape legend: ``M`` players across all frames of a window, ``K`` keypoints of the
backend's layout.

A backend takes the frames of a window and every player box in them at once, so it
can batch all crops into as few model calls as it likes. It never sees track ids or
keeps state: the stage does both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class PoseBatch:
    """Keypoints of ``M`` players, in full-frame pixels.

    Attributes:
        xy_px: (M, K, 2) float32 continuous pixel coordinates of each player's frame.
        conf: (M, K) float32 in [0, 1].
        pose_score: (M,) float32 in [0, 1]: the model's belief that the crop holds a person
            (BlazePose: its pose flag; others: the mean keypoint confidence).
        world_m: (M, K, 3) float32 hip-centred metres in camera axes, or None.
    """

    xy_px: np.ndarray
    conf: np.ndarray
    pose_score: np.ndarray
    world_m: np.ndarray | None = None

    def __post_init__(self) -> None:
        m, k = self.conf.shape
        if self.xy_px.shape != (m, k, 2) or self.pose_score.shape != (m,):
            raise ValueError(
                f"PoseBatch: xy_px {self.xy_px.shape}, conf {self.conf.shape}, "
                f"pose_score {self.pose_score.shape} disagree"
            )
        if self.world_m is not None and self.world_m.shape != (m, k, 3):
            raise ValueError(f"PoseBatch.world_m: expected ({m}, {k}, 3), got {self.world_m.shape}")

    def __len__(self) -> int:
        return len(self.conf)

    def rows(self, start: int, stop: int) -> PoseBatch:
        """Rows ``start:stop``."""
        world = None if self.world_m is None else self.world_m[start:stop]
        return PoseBatch(self.xy_px[start:stop], self.conf[start:stop], self.pose_score[start:stop], world)


class PoseBackend(Protocol):
    """A 2D keypoint model run on player boxes."""

    #: name of the keypoint layout it returns (see :mod:`streamer.pose.layouts`)
    layout: str
    #: whether its PoseBatch carries world_m
    gives_world: bool

    def estimate(
        self,
        images: Sequence[np.ndarray],
        image_index: np.ndarray,
        xyxy_px: np.ndarray,
        angle_rad: np.ndarray,
    ) -> PoseBatch:
        """Keypoints of every box.

        Args:
            images: the window's frames, each (H, W, 3) uint8 RGB.
            image_index: (M,) int, the frame each box is in.
            xyxy_px: (M, 4) player boxes.
            angle_rad: (M,) ROI rotation per box (see :mod:`streamer.pose.crop`); a backend
                that cannot rotate its crops ignores it.

        Returns:
            a :class:`PoseBatch` of M rows, in the order of the boxes.
        """
        ...

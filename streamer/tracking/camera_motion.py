"""Global camera motion between consecutive frames, from sparse optical flow on the background.

Broadcast cameras pan and zoom: without compensation a player standing still
seems to move by the pan, and predictions drift off small boxes. Corners are
tracked with pyramidal Lucas–Kanade on a downscaled grey frame, with the
players' boxes masked out (they move on their own), and a similarity transform
(rotation, uniform scale, translation) is fitted with RANSAC.
"""

from __future__ import annotations

import cv2
import numpy as np


class CameraMotion:
    """Estimate the 2x3 affine mapping the previous frame's pixels to this frame's.

    Args:
        scale: processing resolution relative to the frame (speed vs precision).
        max_corners: corners tracked per frame.
    """

    def __init__(self, scale: float = 0.25, max_corners: int = 200) -> None:
        self.scale, self.max_corners = scale, max_corners
        self._prev: np.ndarray | None = None
        self._prev_pts: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = self._prev_pts = None

    def __call__(self, image: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Affine (2, 3) from the previous call's frame to ``image`` (identity on the first)."""
        s = self.scale
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if s != 1.0:
            grey = cv2.resize(grey, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        mask = np.full(grey.shape, 255, np.uint8)
        for x1, y1, x2, y2 in (np.asarray(boxes_xyxy) * s).astype(int):
            mask[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2] = 0
        affine = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        if self._prev is not None and self._prev.shape != grey.shape:
            self.reset()  # the stream changed size: no motion to estimate
        if self._prev is not None and self._prev_pts is not None and len(self._prev_pts) >= 8:
            pts, status, _ = cv2.calcOpticalFlowPyrLK(self._prev, grey, self._prev_pts, None,
                                                      winSize=(15, 15), maxLevel=2)
            ok = status[:, 0] == 1
            if ok.sum() >= 8:
                m, inliers = cv2.estimateAffinePartial2D(self._prev_pts[ok], pts[ok], method=cv2.RANSAC,
                                                         ransacReprojThreshold=1.0)
                if m is not None and inliers is not None and inliers.sum() >= 6:
                    affine = m.astype(np.float64)
                    affine[:, 2] /= s  # back to full-resolution pixels
        self._prev = grey
        self._prev_pts = cv2.goodFeaturesToTrack(grey, self.max_corners, 0.01, 4, mask=mask)
        return affine

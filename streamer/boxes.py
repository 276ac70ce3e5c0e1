"""Box overlaps: pure functions on (N, 4) xyxy pixel boxes, shared by detection, tracking and
their evaluations."""

from __future__ import annotations

import numpy as np


def _intersection(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, M) intersection areas of (N, 4) and (M, 4) xyxy boxes, with the (N, 1) and (1, M) areas."""
    a = np.asarray(a, np.float64)[:, None, :]
    b = np.asarray(b, np.float64)[None, :, :]
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return wh[..., 0] * wh[..., 1], area_a, area_b


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of (N, 4) and (M, 4) xyxy boxes."""
    inter, area_a, area_b = _intersection(a, b)
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def coverage(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) share of each box of ``a`` (N, 4) that lies inside each box of ``b`` (M, 4)."""
    inter, area_a, _ = _intersection(a, b)
    return inter / np.maximum(area_a, 1e-9)

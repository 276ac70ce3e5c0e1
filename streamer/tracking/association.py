"""Box assignment and box moves: pure functions on (N, 4) xyxy arrays (overlaps: :mod:`streamer.boxes`)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def fit_inside(boxes: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """(N, 4) boxes moved (cropped only if bigger) to lie inside ``outer`` (4,)."""
    boxes = np.array(boxes, np.float64).reshape(-1, 4)
    for lo, hi in ((0, 2), (1, 3)):
        size = np.minimum(boxes[:, hi] - boxes[:, lo], outer[hi] - outer[lo])
        start = np.clip(boxes[:, lo], outer[lo], outer[hi] - size)
        boxes[:, lo], boxes[:, hi] = start, start + size
    return boxes


def expand(boxes: np.ndarray, ratio: float) -> np.ndarray:
    """Boxes grown by ``ratio`` of their size on every side (buffered IoU for small, fast boxes)."""
    boxes = np.asarray(boxes, np.float64)
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] - ratio * wh, boxes[:, 2:] + ratio * wh], axis=1)


def assign(cost: np.ndarray, max_cost: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian assignment keeping pairs with cost <= ``max_cost``.

    Returns:
        matches (K, 2) row/col index pairs, unmatched rows, unmatched cols.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), int), np.arange(n), np.arange(m)
    big = max_cost * 10 + 1.0
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), np.minimum(cost, big), big))
    keep = cost[rows, cols] <= max_cost
    matches = np.stack([rows[keep], cols[keep]], axis=1)
    return (
        matches,
        np.setdiff1d(np.arange(n), matches[:, 0]),
        np.setdiff1d(np.arange(m), matches[:, 1]),
    )

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
    """The cheapest matching of rows to columns using pairs with cost <= ``max_cost`` only.

    A row or a column left unmatched costs ``max_cost`` / 2 (ByteTrack's cost limit), so a
    pair above ``max_cost`` never takes part: it cannot push two cheap pairs apart. (Solving
    with such pairs as allowed and dropping them afterwards lets the solver trade a track's
    cheap match for two dear ones that are then both refused, losing both.)

    Returns:
        matches (K, 2) row/col index pairs, unmatched rows, unmatched cols.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), int), np.arange(n), np.arange(m)
    allowed = np.isfinite(cost) & (cost <= max_cost)
    big = 2.0 * max_cost + 1.0  # dearer than leaving both unmatched
    full = np.full((n + m, m + n), big)
    full[:n, :m] = np.where(allowed, cost, big)
    full[np.arange(n), m + np.arange(n)] = max_cost / 2  # row left unmatched
    full[n + np.arange(m), np.arange(m)] = max_cost / 2  # column left unmatched
    full[n:, m:] = 0.0
    rows, cols = linear_sum_assignment(full)
    pair = (rows < n) & (cols < m)
    rows, cols = rows[pair], cols[pair]
    keep = allowed[rows, cols]
    matches = np.stack([rows[keep], cols[keep]], axis=1)
    return (
        matches,
        np.setdiff1d(np.arange(n), matches[:, 0]),
        np.setdiff1d(np.arange(m), matches[:, 1]),
    )

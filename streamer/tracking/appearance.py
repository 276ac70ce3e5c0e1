"""Jersey-colour appearance descriptors: what keeps crossing players apart when motion cannot.

Descriptor: a normalised hue/saturation/value histogram of the torso part of a
box (rows 15–55 %, middle 60 % of columns), with grass-coloured pixels left
out so the pitch showing through a small box does not dominate. Distance:
Hellinger (1 − Bhattacharyya coefficient), in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

HUE_BINS, SAT_BINS, VAL_BINS = 12, 3, 3
DIM = HUE_BINS * SAT_BINS * VAL_BINS


def torso_histograms(image: np.ndarray, boxes_xyxy: np.ndarray,
                     grass_hue: tuple[int, int] = (30, 95), grass_min_sat: int = 40) -> np.ndarray:
    """(N, DIM) float32 histograms, each summing to 1 (zeros when a box shows no torso)."""
    out = np.zeros((len(boxes_xyxy), DIM), np.float32)
    h_img, w_img = image.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy, np.float64)):
        bw, bh = x2 - x1, y2 - y1
        tx1, tx2 = int(max(0, x1 + 0.2 * bw)), int(min(w_img, np.ceil(x2 - 0.2 * bw)))
        ty1, ty2 = int(max(0, y1 + 0.15 * bh)), int(min(h_img, np.ceil(y1 + 0.55 * bh)))
        if tx2 <= tx1 or ty2 <= ty1:
            continue
        hsv = cv2.cvtColor(np.ascontiguousarray(image[ty1:ty2, tx1:tx2]), cv2.COLOR_RGB2HSV).reshape(-1, 3)
        grass = (hsv[:, 0] >= grass_hue[0]) & (hsv[:, 0] <= grass_hue[1]) & (hsv[:, 1] >= grass_min_sat)
        # keep grass-hued pixels only if they are most of the torso (a green jersey)
        if grass.mean() < 0.7:
            hsv = hsv[~grass]
        if len(hsv) == 0:
            continue
        hb = np.minimum(hsv[:, 0].astype(np.int32) * HUE_BINS // 180, HUE_BINS - 1)
        sb = np.minimum(hsv[:, 1].astype(np.int32) * SAT_BINS // 256, SAT_BINS - 1)
        vb = np.minimum(hsv[:, 2].astype(np.int32) * VAL_BINS // 256, VAL_BINS - 1)
        hist = np.bincount((hb * SAT_BINS + sb) * VAL_BINS + vb, minlength=DIM).astype(np.float32)
        out[i] = hist / hist.sum()
    return out


def hellinger(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) distances in [0, 1] between (N, D) and (M, D) normalised histograms.

    A row that is all zeros (no descriptor) gets distance 0.5 to everything: no evidence.
    """
    bc = np.sqrt(a) @ np.sqrt(b).T
    d = np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))
    empty = (a.sum(axis=1) == 0)[:, None] | (b.sum(axis=1) == 0)[None, :]
    return np.where(empty, 0.5, d).astype(np.float32)

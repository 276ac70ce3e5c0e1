"""Homography hypotheses from the centre circle, for views that show one straight cross line.

Shape legend: ``L`` image lines; ``M`` curve pixels; ``K`` hypotheses.

The broadcast kick-off view shows the touchlines, the halfway line and the centre circle,
but no second line across the pitch: two-by-two line hypotheses
(:mod:`streamer.soccer.line_search`) cannot be formed. The circle supplies the rest:

1. **Ellipse.** Line pixels off the straight lines are grouped (connected components) and
   an ellipse is fitted to each component and each pair (the halfway line cuts the circle
   in two); a candidate must fit tightly and be crossed by a straight line near its centre.
2. **Vanishing point of the touchlines** ``v_x``: the pole of the halfway line with
   respect to the ellipse (the tangents where the halfway line meets the circle are
   parallel to the touchlines).
3. **The halfway line's own scale.** Its crossings with the ellipse are (0, ±9.15) and
   with a touchline through ``v_x`` (0, ±34): three known points fix the 1D projective map
   along it, which gives the images of the centre spot and of the halfway line's
   vanishing point, i.e. the homography's second and third columns.
4. **The scale along the touchlines** comes from the circle's widest points, (±9.15, 0):
   the ellipse's crossings with the polar of the halfway line's vanishing point.

Hypotheses are returned as pitch → image homographies for the search to prune and score.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from streamer.soccer import pitch_model

_R = pitch_model.CIRCLE_RADIUS_M


def _conic(ellipse: tuple) -> np.ndarray:
    """(3, 3) symmetric conic matrix of an OpenCV rotated-rect ellipse ((cx, cy), (w, h), angle)."""
    (cx, cy), (ew, eh), angle = ellipse
    a, b = ew / 2, eh / 2
    t = np.radians(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    q = rot @ np.diag([1 / a**2, 1 / b**2]) @ rot.T
    c = np.array([cx, cy])
    conic = np.zeros((3, 3))
    conic[:2, :2] = q
    conic[:2, 2] = conic[2, :2] = -q @ c
    conic[2, 2] = c @ q @ c - 1
    return conic


def _line_conic(line: np.ndarray, conic: np.ndarray) -> np.ndarray:
    """(n, 2) points (n = 0 or 2) where ``line`` (3,) meets ``conic`` (3, 3)."""
    p0 = -line[2] * line[:2]  # the point of the line nearest the origin (|(a, b)| = 1)
    d = np.array([-line[1], line[0]])
    hp, hd = np.append(p0, 1.0), np.append(d, 0.0)
    qa, qb, qc = hd @ conic @ hd, 2 * hp @ conic @ hd, hp @ conic @ hp
    disc = qb * qb - 4 * qa * qc
    if abs(qa) < 1e-18 or disc <= 0:
        return np.zeros((0, 2))
    s = (-qb + np.array([-1.0, 1.0]) * np.sqrt(disc)) / (2 * qa)
    return p0 + s[:, None] * d


def ellipses(
    mask: np.ndarray, lines: np.ndarray, min_pixels: int = 40, max_rms_px: float = 1.5
) -> list[tuple]:
    """Candidate centre-circle ellipses (OpenCV rotated rects) among the mask's curved pixels.

    Args:
        mask: (H, W) uint8 thinned line mask.
        lines: (L, 3) straight lines found in it (their pixels are not curves).
    """
    h, w = mask.shape
    curve = mask.copy()
    for a, b, c in lines:  # erase the straight lines
        if abs(b) > abs(a):
            p1, p2 = (0, -c / b), (w, -(c + a * w) / b)
        else:
            p1, p2 = (-c / a, 0), (-(c + b * h) / a, h)
        if np.isfinite([*p1, *p2]).all() and max(abs(v) for v in (*p1, *p2)) < 1e6:
            cv2.line(curve, tuple(int(round(v)) for v in p1), tuple(int(round(v)) for v in p2), 0, 5)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(curve, connectivity=8)
    big = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= min_pixels]
    big = sorted(big, key=lambda k: -stats[k, cv2.CC_STAT_AREA])[:6]
    pts = {k: np.column_stack(np.nonzero(labels == k)[::-1]).astype(np.float32) + 0.5 for k in big}
    out = []
    for group in [(k,) for k in big] + list(itertools.combinations(big, 2)):
        xy = np.concatenate([pts[k] for k in group])
        if len(xy) < 2 * min_pixels // len(group) or len(xy) < 20:
            continue
        ell = cv2.fitEllipse(xy)
        (cx, cy), (ew, eh), _ = ell
        if not (0.05 * w <= max(ew, eh) <= 1.5 * w and min(ew, eh) >= 6):
            continue
        conic = _conic(ell)
        hom = np.column_stack([xy, np.ones(len(xy))])
        # first-order distance to the conic: |x^T C x| / |grad|
        val = np.einsum("ni,ij,nj->n", hom, conic, hom)
        grad = 2 * (hom @ conic)[:, :2]
        dist = np.abs(val) / np.maximum(np.linalg.norm(grad, axis=1), 1e-9)
        if np.sqrt(np.mean(dist**2)) > max_rms_px:
            continue
        # the pixels must go some way round it: a short arc fits any ellipse
        ang = np.arctan2(xy[:, 1] - cy, xy[:, 0] - cx)
        if np.ptp(np.unwrap(np.sort(ang))) < np.radians(120):
            continue
        out.append(ell)
    return out


def _map_1d(s_known: np.ndarray, y_known: np.ndarray) -> np.ndarray | None:
    """(2, 2) projective map s -> y fitted to 3+ pairs (y ~ (a s + b) / (c s + d))."""
    rows = np.column_stack([s_known, np.ones_like(s_known), -y_known * s_known, -y_known])
    _, sv, vt = np.linalg.svd(rows)
    if sv[-2] < 1e-9 * sv[0]:
        return None
    a, b, c, d = vt[-1]
    return np.array([[a, b], [c, d]])


def circle_hypotheses(mask: np.ndarray, lines: np.ndarray, near_centre_frac: float = 0.25) -> np.ndarray:
    """(K, 3, 3) pitch → image homographies built on centre-circle candidates (maybe K = 0)."""
    out = []
    for ell in ellipses(mask, lines):
        conic = _conic(ell)
        centre = np.array(ell[0])
        semi_minor = min(ell[1]) / 2
        for hi, halfway in enumerate(lines):
            if abs(halfway[:2] @ centre + halfway[2]) > near_centre_frac * semi_minor:
                continue
            ab = _line_conic(halfway, conic)
            if len(ab) != 2:
                continue
            v_x = np.linalg.solve(conic, halfway)  # pole of the halfway line
            d = np.array([-halfway[1], halfway[0]])
            if d[1] < 0:
                d = -d  # s grows down the image: toward the camera, toward -y
            origin = ab.mean(axis=0)
            s_ab = (ab - origin) @ d
            y_ab = np.where(s_ab < 0, _R, -_R)  # the upper crossing is the far one (+9.15)
            for ti, touch in enumerate(lines):
                if ti == hi or abs(touch @ v_x) > 2e-2 * np.linalg.norm(v_x[:2]) + 2.0 * abs(v_x[2]):
                    continue  # a touchline must pass through v_x
                tp = np.cross(halfway, touch)
                if abs(tp[2]) < 1e-12:
                    continue
                s_t = (tp[:2] / tp[2] - origin) @ d
                if s_ab.min() < s_t < s_ab.max():
                    continue  # crosses the halfway line inside the circle: not a touchline
                y_t = pitch_model.HALF_WIDTH_M * (1.0 if s_t < s_ab.min() else -1.0)
                m = _map_1d(np.append(s_ab, s_t), np.append(y_ab, y_t))
                if m is None:
                    continue
                # inverse map y -> s: s ~ (d' y + ...) ; points on the halfway line, homogeneous
                inv = np.linalg.inv(m)  # (s, 1) ~ inv @ (y, 1)
                col_y = inv[0, 0] * np.append(d, 0.0) + inv[1, 0] * np.append(origin, 1.0)
                col_c = inv[0, 1] * np.append(d, 0.0) + inv[1, 1] * np.append(origin, 1.0)
                v_y = col_y
                widest = _line_conic(conic @ v_y / np.linalg.norm((conic @ v_y)[:2]), conic)
                if len(widest) != 2:
                    continue
                for e in widest:  # either widest point may be (+9.15, 0): scoring decides
                    # 9.15 * lam * v_x + col_c ~ (e, 1): solve for lam and the scale mu
                    a_mat = np.column_stack([_R * v_x, -np.append(e, 1.0)])
                    lam, _ = np.linalg.lstsq(a_mat, -col_c, rcond=None)[0]
                    out.append(np.column_stack([lam * v_x, col_y, col_c]))
    return np.asarray(out, np.float64).reshape(-1, 3, 3)

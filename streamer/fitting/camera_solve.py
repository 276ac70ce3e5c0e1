"""Focal length and per-player translations from posed bodies, their pixels and a depth prior.

Shape legend: ``P`` players of one frame; ``J`` points per player.

A body regressor such as BLADE gives each player's pose and shape (so the body's points in
camera axes, up to a translation ``t``) plus a metric pelvis depth, but no image camera. With
the principal point ``c`` known (the image centre) and one focal ``f`` shared by the frame's
players, a point ``X`` seen at pixel ``(u, v)`` obeys::

    u - cx = f (X + tx) / (Z + tz)        v - cy = f (Y + ty) / (Z + tz)

Multiplied out, the equations are linear in ``(f, f tx, f ty, tz)`` (the algebraic error, exact
for noise-free data, as SMPLify's camera initialisation), so :func:`solve_camera` gets every
unknown from one weighted linear least-squares solve. Each equation is divided by the player's
depth and his keypoint noise, which turns the algebraic error into an expected-error count in
pixels; two passes refresh that depth. A depth prior ``tz = Tz - pelvis_z`` (std ``tz_std_m``)
anchors the scale: for players 20-80 m away the body's own depth extent is far too small for
perspective to separate ``f`` from ``tz`` (only ``f / tz`` is observed), so without usable depth
priors the focal is not observable and the solve reports it (``focal_ok`` False). Given the
focal (a calibrated camera), the same equations fix the translation alone and the prior only
breaks near-ties. :func:`refine_camera` then takes a few Gauss-Newton steps on the true
reprojection error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from streamer.fitting.camera import MIN_DEPTH_M


@dataclass(frozen=True, slots=True)
class CameraSolve:
    """Result for one frame.

    Attributes:
        focal_px: the focal used or found (pixels).
        transl_m: (P, 3) float64 translations, camera frame; NaN rows could not be solved.
        focal_ok: False when the focal was free but could not be observed (the given one is kept).
    """

    focal_px: float
    transl_m: np.ndarray
    focal_ok: bool = True


def _inputs(points_m: np.ndarray, xy_px: np.ndarray, weight: np.ndarray, noise_px: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    points = np.asarray(points_m, np.float64)
    xy = np.asarray(xy_px, np.float64)
    w = np.clip(np.nan_to_num(np.asarray(weight, np.float64)), 0.0, None)
    w = np.where(np.isfinite(xy).all(-1) & np.isfinite(points).all(-1), w, 0.0)
    w = w / np.maximum(np.asarray(noise_px, np.float64), 1e-6)[:, None] ** 2
    return points, np.nan_to_num(xy), w


def _linear_pass(points: np.ndarray, xy: np.ndarray, w: np.ndarray, principal_px: np.ndarray,
                 tz_prior_m: np.ndarray, tz_w: np.ndarray, depth_m: np.ndarray, focal_px: float | None
                 ) -> tuple[float, np.ndarray]:
    """One weighted linear solve. Unknowns: [f] + per player (f tx, f ty, tz); rows scaled by 1/depth."""
    p, j = points.shape[:2]
    free = focal_px is None
    off = int(free)
    n_unknown = off + 3 * p
    du = xy[..., 0] - principal_px[0]
    dv = xy[..., 1] - principal_px[1]
    rows_a, rows_b = [], []
    scale = np.sqrt(w) / np.maximum(depth_m, MIN_DEPTH_M)[:, None]  # (P, J)
    for axis, d in ((0, du), (1, dv)):
        a = np.zeros((p, j, n_unknown))
        player = np.arange(p)
        a[player, :, off + 3 * player + axis] = 1.0  # f tx (or f ty)
        a[player, :, off + 3 * player + 2] = -d  # -du tz
        b = d * points[..., 2]
        if free:
            a[..., 0] = points[..., axis]
        else:
            b = b - focal_px * points[..., axis]
        rows_a.append((a * scale[..., None]).reshape(p * j, n_unknown))
        rows_b.append((b * scale).reshape(p * j))
    prior_a = np.zeros((p, n_unknown))
    prior_a[np.arange(p), off + 3 * np.arange(p) + 2] = np.sqrt(tz_w)
    rows_a.append(prior_a)
    rows_b.append(np.sqrt(tz_w) * tz_prior_m)
    a, b = np.concatenate(rows_a), np.concatenate(rows_b)
    col = np.linalg.norm(a, axis=0)
    col = np.where(col > 0, col, 1.0)
    sol = np.linalg.lstsq(a / col, b, rcond=None)[0] / col
    focal = float(sol[0]) if free else float(focal_px)
    per = sol[off:].reshape(p, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        transl = np.stack([per[:, 0] / focal, per[:, 1] / focal, per[:, 2]], 1)
    return focal, transl


def solve_camera(points_m: np.ndarray, xy_px: np.ndarray, weight: np.ndarray, principal_px: np.ndarray,
                 tz_prior_m: np.ndarray, tz_std_m: float | np.ndarray, noise_px: np.ndarray,
                 focal_px: float | None = None, fallback_focal_px: float | None = None,
                 passes: int = 2) -> CameraSolve:
    """Focal (optional) and translations of one frame's players by weighted linear least squares.

    Args:
        points_m: (P, J, 3) body points in camera axes without translation (metres).
        xy_px: (P, J, 2) their pixels; weight: (P, J) >= 0 (0 = unused point).
        principal_px: (2,) principal point (the image centre).
        tz_prior_m: (P,) expected translation z (pelvis depth minus the pelvis' own z), NaN = none.
        tz_std_m: its std (metres), scalar or (P,); ``inf`` = no prior.
        noise_px: (P,) expected keypoint error of each player (pixels).
        focal_px: known focal; None = solve it (shared by the players).
        fallback_focal_px: focal kept when it is free but not observable (no finite prior);
            required when ``focal_px`` is None.
        passes: linear solves; each re-scales the equations by the depths just found.

    Returns:
        :class:`CameraSolve`. A player needs two points of positive weight; rows without them,
        or landing behind the camera, are NaN.
    """
    points, xy, w = _inputs(points_m, xy_px, weight, noise_px)
    p = len(points)
    principal = np.asarray(principal_px, np.float64)
    prior = np.asarray(tz_prior_m, np.float64).reshape(p)
    std = np.broadcast_to(np.asarray(tz_std_m, np.float64), (p,))
    tz_w = np.where(np.isfinite(prior) & np.isfinite(std), 1.0 / np.maximum(std, 1e-6) ** 2, 0.0)
    prior = np.nan_to_num(prior)
    usable = (w > 0).sum(1) >= 2
    if focal_px is None and fallback_focal_px is None:
        raise ValueError("solve_camera: a free focal needs fallback_focal_px")
    transl = np.full((p, 3), np.nan)
    if not usable.any():
        return CameraSolve(float(focal_px or fallback_focal_px), transl, focal_px is not None)
    free = focal_px is None and bool((tz_w[usable] > 0).any())
    focal = None if free else float(focal_px if focal_px is not None else fallback_focal_px)
    depth = np.where(tz_w > 0, prior, 0.0)[usable]
    depth = np.where(depth > MIN_DEPTH_M, depth, np.median(depth[depth > MIN_DEPTH_M])
                     if (depth > MIN_DEPTH_M).any() else 10.0)
    pts, obs, ww = points[usable], xy[usable], w[usable]
    found, sub = focal if focal is not None else float("nan"), np.full((int(usable.sum()), 3), np.nan)
    for _ in range(max(1, passes)):
        found, sub = _linear_pass(pts, obs, ww, principal, prior[usable], tz_w[usable], depth, focal)
        if not (np.isfinite(found) and found > 0):
            break
        z = sub[:, 2] + np.average(pts[..., 2], axis=1, weights=np.maximum(ww, 1e-12))
        depth = np.where(np.isfinite(z) & (z > MIN_DEPTH_M), z, depth)
    if free and not (np.isfinite(found) and found > 0):  # degenerate: keep the given focal
        fixed = solve_camera(points_m, xy_px, weight, principal_px, tz_prior_m, tz_std_m, noise_px,
                             focal_px=fallback_focal_px, passes=passes)
        return dataclasses.replace(fixed, focal_ok=False)
    transl[usable] = sub
    transl[~(np.isfinite(transl).all(1) & (transl[:, 2] > MIN_DEPTH_M))] = np.nan
    return CameraSolve(found, transl, focal_px is not None or free)


def reprojection_px(points_m: np.ndarray, transl_m: np.ndarray, focal_px: float, principal_px: np.ndarray
                    ) -> np.ndarray:
    """(P, J, 2) pixels of (P, J, 3) points moved by (P, 3) translations."""
    cam = np.asarray(points_m, np.float64) + np.asarray(transl_m, np.float64)[:, None]
    z = np.maximum(cam[..., 2:], MIN_DEPTH_M)
    return focal_px * cam[..., :2] / z + np.asarray(principal_px, np.float64)


def refine_camera(solve: CameraSolve, points_m: np.ndarray, xy_px: np.ndarray, weight: np.ndarray,
                  principal_px: np.ndarray, tz_prior_m: np.ndarray, tz_std_m: float | np.ndarray,
                  noise_px: np.ndarray, free_focal: bool, steps: int = 3) -> CameraSolve:
    """A few damped Gauss-Newton steps on the reprojection error (plus the depth prior).

    Arguments as :func:`solve_camera`; ``free_focal`` also refines the focal. Rows that are NaN
    in ``solve`` stay NaN; a step that raises the cost is not taken.
    """
    ok = np.isfinite(solve.transl_m).all(1)
    if steps <= 0 or not ok.any():
        return solve
    points, xy, w = _inputs(points_m, xy_px, weight, noise_px)
    points, xy, w = points[ok], xy[ok], w[ok]
    p = len(points)
    principal = np.asarray(principal_px, np.float64)
    prior = np.asarray(tz_prior_m, np.float64).reshape(-1)[ok]
    std = np.broadcast_to(np.asarray(tz_std_m, np.float64), ok.shape)[ok]
    tz_w = np.where(np.isfinite(prior) & np.isfinite(std), 1.0 / np.maximum(std, 1e-6) ** 2, 0.0)
    prior = np.nan_to_num(prior)
    sw = np.sqrt(w)
    off = int(free_focal)

    def residual(focal: float, t: np.ndarray) -> np.ndarray:
        proj = reprojection_px(points, t, focal, principal)
        return np.concatenate([((proj - xy) * sw[..., None]).ravel(), np.sqrt(tz_w) * (t[:, 2] - prior)])

    focal, t = solve.focal_px, solve.transl_m[ok].copy()
    cost = float((residual(focal, t) ** 2).sum())
    for _ in range(steps):
        cam = points + t[:, None]
        z = np.maximum(cam[..., 2], MIN_DEPTH_M)
        jac = np.zeros((p, points.shape[1], 2, off + 3 * p))
        player = np.arange(p)
        for axis in (0, 1):
            if free_focal:
                jac[:, :, axis, 0] = cam[..., axis] / z
            jac[player, :, axis, off + 3 * player + axis] = focal / z[player]
            jac[player, :, axis, off + 3 * player + 2] = -focal * cam[player, :, axis] / z[player] ** 2
        jac = (jac * sw[..., None, None]).reshape(-1, off + 3 * p)
        prior_jac = np.zeros((p, off + 3 * p))
        prior_jac[player, off + 3 * player + 2] = np.sqrt(tz_w)
        jac = np.concatenate([jac, prior_jac])
        r = residual(focal, t)
        h = jac.T @ jac
        step = np.linalg.solve(h + 1e-6 * np.diag(np.diag(h) + 1e-9), -jac.T @ r)
        new_focal = focal + step[0] if free_focal else focal
        new_t = t + step[off:].reshape(p, 3)
        if not (new_focal > 0 and (new_t[:, 2] > MIN_DEPTH_M).all()):
            break
        new_cost = float((residual(new_focal, new_t) ** 2).sum())
        if not new_cost < cost:
            break
        focal, t, cost = new_focal, new_t, new_cost
    transl = solve.transl_m.copy()
    transl[ok] = t
    return CameraSolve(float(focal), transl, solve.focal_ok)

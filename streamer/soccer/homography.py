"""Plane homographies between image pixels and pitch metres, and the camera behind one.

Shape legend: ``N`` points or lines; homographies are (3, 3) float64 acting on column
vectors ``[u, v, 1]``. ``image_to_pitch`` maps pixels to metres, ``pitch_to_image`` is
its inverse.

Pure functions: the normalised DLT (Hartley & Zisserman, *Multiple View Geometry*,
alg. 4.2) for point and for line correspondences, propagation through the camera's
frame-to-frame motion, and the pinhole camera (focal length, rotation, position) that a
pitch homography implies when the principal point is the image centre and pixels are
square (H&Z 8.8; Zhang's constraints with one unknown).
"""

from __future__ import annotations

import numpy as np

from streamer.errors import StreamerError


class CalibrationError(StreamerError, ValueError):
    """Correspondences that cannot define a homography (too few, collinear, degenerate)."""


def _normaliser(pts: np.ndarray) -> np.ndarray:
    """(3, 3) similarity moving ``pts`` (N, 2) to zero mean and RMS distance √2."""
    centre = pts.mean(axis=0)
    rms = float(np.sqrt(((pts - centre) ** 2).sum(axis=1).mean()))
    s = np.sqrt(2.0) / max(rms, 1e-12)
    return np.array([[s, 0, -s * centre[0]], [0, s, -s * centre[1]], [0, 0, 1.0]])


def apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by ``h``; NaN where a point maps to infinity (or beyond)."""
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    q = p @ h[:, :2].T + h[:, 2]
    w = q[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = q[:, :2] / w
    out[np.abs(w[:, 0]) < 1e-12] = np.nan
    return out


def _dlt(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """The H with dst ~ H src for (N, 2) point sets (normalised, weighted least squares)."""
    t_src, t_dst = _normaliser(src), _normaliser(dst)
    s = src @ t_src[:2, :2].T + t_src[:2, 2]
    d = dst @ t_dst[:2, :2].T + t_dst[:2, 2]
    n = len(s)
    a = np.zeros((2 * n, 9))
    one, zero = np.ones(n), np.zeros((n, 3))
    sh = np.column_stack([s, one])
    a[0::2] = np.hstack([zero, -sh, d[:, 1:2] * sh])
    a[1::2] = np.hstack([sh, zero, -d[:, 0:1] * sh])
    if weights is not None:
        a *= np.repeat(np.sqrt(np.asarray(weights, np.float64)), 2)[:, None]
    # the right singular vector of A with the smallest singular value, from the 9 x 9
    # normal matrix (normalised coordinates keep it well conditioned; far cheaper for large N)
    eigval, eigvec = np.linalg.eigh(a.T @ a)
    if eigval[1] < 1e-14 * max(eigval[-1], 1e-300):
        raise CalibrationError("the correspondences do not determine a homography (collinear points?)")
    h = np.linalg.inv(t_dst) @ eigvec[:, 0].reshape(3, 3) @ t_src
    return h / h[2, 2] if abs(h[2, 2]) > 1e-12 else h / np.linalg.norm(h)


def _check_general_position(pts: np.ndarray, name: str) -> None:
    """Raise unless some three of the points span a triangle (not all on one line)."""
    c = pts - pts.mean(axis=0)
    sv = np.linalg.svd(c, compute_uv=False)
    if len(sv) < 2 or sv[1] < 1e-6 * max(sv[0], 1e-12):
        raise CalibrationError(
            f"the {name} points all lie on one line: a homography needs a spread of points"
        )


def fit_homography(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The homography taking ``src`` to ``dst``.

    Args:
        src, dst: (N, 2) corresponding points, N >= 4, not all collinear.
        weights: (N,) non-negative weights of the correspondences, or None.

    Returns:
        (3, 3) float64, normalised so that ``h[2, 2] == 1`` where possible.
    """
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    if len(src) != len(dst):
        raise CalibrationError(f"{len(src)} source points but {len(dst)} destination points")
    if len(src) < 4:
        raise CalibrationError(f"a homography needs at least 4 point pairs, got {len(src)}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise CalibrationError("point pairs must be finite numbers")
    _check_general_position(src, "source")
    _check_general_position(dst, "destination")
    return _dlt(src, dst, weights)


def fit_homography_lines(src_lines: np.ndarray, dst_lines: np.ndarray) -> np.ndarray:
    """The point homography H whose line map ``l_dst ~ H^-T l_src`` fits the line pairs.

    Args:
        src_lines, dst_lines: (N, 3) homogeneous lines ``a x + b y + c = 0``, N >= 4, no
            three through one point.
    """
    src = np.asarray(src_lines, np.float64)
    dst = np.asarray(dst_lines, np.float64)
    if len(src) < 4 or len(src) != len(dst):
        raise CalibrationError("line homography needs at least 4 line pairs")
    # lines are points of the dual plane: fit G = H^-T on them as if they were points
    if np.any(np.abs(src[:, 2]) < 1e-12) or np.any(np.abs(dst[:, 2]) < 1e-12):
        # a line through the origin has no finite dual point: shift both planes first
        raise CalibrationError("line through the origin: translate the frames before fitting")
    g = fit_homography(src[:, :2] / src[:, 2:], dst[:, :2] / dst[:, 2:])
    h = np.linalg.inv(g).T
    return h / h[2, 2] if abs(h[2, 2]) > 1e-12 else h / np.linalg.norm(h)


def reprojection_rms_px(image_to_pitch: np.ndarray, image_px: np.ndarray, pitch_m: np.ndarray) -> float:
    """RMS distance (pixels) between ``image_px`` (N, 2) and ``pitch_m`` (N, 2) drawn into the image."""
    projected = apply_homography(np.linalg.inv(image_to_pitch), pitch_m)
    d2 = ((projected - np.asarray(image_px, np.float64).reshape(-1, 2)) ** 2).sum(axis=1)
    return float(np.sqrt(np.nanmean(d2))) if np.isfinite(d2).any() else float("nan")


def affine_to_3x3(affine: np.ndarray) -> np.ndarray:
    """(3, 3) homogeneous form of a (2, 3) affine."""
    return np.vstack([np.asarray(affine, np.float64), [0.0, 0.0, 1.0]])


def propagate(image_to_pitch: np.ndarray, prev_to_cur_px: np.ndarray) -> np.ndarray:
    """Carry a calibration to the next frame through the camera motion.

    Args:
        image_to_pitch: (3, 3) homography of the previous frame.
        prev_to_cur_px: (2, 3) affine (or (3, 3) homography) taking the previous frame's
            pixels to this frame's, as the track stage estimates it.
    """
    m = prev_to_cur_px if prev_to_cur_px.shape == (3, 3) else affine_to_3x3(prev_to_cur_px)
    h = image_to_pitch @ np.linalg.inv(m)
    return h / h[2, 2] if abs(h[2, 2]) > 1e-12 else h


def intrinsics(focal_px: float, principal_px: tuple[float, float]) -> np.ndarray:
    """(3, 3) pinhole K with square pixels and no skew."""
    return np.array([[focal_px, 0, principal_px[0]], [0, focal_px, principal_px[1]], [0, 0, 1.0]])


def focal_from_homography(pitch_to_image: np.ndarray, principal_px: tuple[float, float]) -> float | None:
    """Focal length (pixels) implied by a plane homography, or None when it is not observable.

    With K = diag(f, f, 1) about the principal point, the columns h1, h2 of K^-1 H are
    scaled rotation columns: orthogonal and of equal length. Each gives one equation in
    1/f²; both are solved together in least squares.
    """
    shift = np.array([[1, 0, -principal_px[0]], [0, 1, -principal_px[1]], [0, 0, 1.0]])
    h = shift @ pitch_to_image
    h = h / np.linalg.norm(h[:, :2])
    h1, h2 = h[:, 0], h[:, 1]
    # unknown w = 1/f²:  w (h1x h2x + h1y h2y) + h1z h2z = 0
    #                    w (|h1xy|² - |h2xy|²) + h1z² - h2z² = 0
    a = np.array([h1[0] * h2[0] + h1[1] * h2[1], h1[0] ** 2 + h1[1] ** 2 - h2[0] ** 2 - h2[1] ** 2])
    b = -np.array([h1[2] * h2[2], h1[2] ** 2 - h2[2] ** 2])
    denom = float(a @ a)
    if denom < 1e-18:
        return None
    w = float(a @ b) / denom
    if not np.isfinite(w) or w <= 0:
        return None
    return float(1.0 / np.sqrt(w))


def camera_from_homography(
    pitch_to_image: np.ndarray, cam_k: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The pitch → camera pose ``x_cam = R x_pitch + t`` behind a homography, or None.

    None when the camera would stand below the pitch or behind the points (a mirrored
    calibration: y or x of the correspondences flipped against the documented frame).

    Returns:
        R: (3, 3) rotation, pitch axes to camera axes (x right, y down, z forward).
        t: (3,) translation, metres.
    """
    m = np.linalg.inv(cam_k) @ pitch_to_image
    scale = 2.0 / (np.linalg.norm(m[:, 0]) + np.linalg.norm(m[:, 1]))
    m = m * scale
    if m[2, 2] < 0:  # the pitch centre must lie in front of the camera
        m = -m
    r1, r2 = m[:, 0], m[:, 1]
    rot = np.column_stack([r1, r2, np.cross(r1, r2)])
    u, _, vt = np.linalg.svd(rot)
    rot = u @ vt  # the nearest rotation
    if np.linalg.det(rot) < 0:
        return None
    t = m[:, 2]
    centre = -rot.T @ t
    if centre[2] <= 0:
        return None
    return rot, t

"""The fitting camera: intrinsics, projection, viewing-ray frames and a closed-form translation.

Shape legend: ``N`` player-frames; ``P`` points per player.

Conventions are those of :mod:`streamer.render.camera` (OpenCV): camera frame x right,
y down, z along the optical axis; ``[u, v, 1] ~ K @ X``; continuous pixels with the image's
top-left corner at (0, 0), so the principal point of a W x H frame is (W / 2, H / 2).

Focal length, in order of preference: the pitch calibration's intrinsics on the packet
(``calibrate`` stage; see :func:`packet_intrinsics`), the configured ``mesh.focal_px``,
else :func:`default_focal_px`: a 30 degree horizontal field of view. Broadcast cameras
following play are zoomed in — roughly 10-35 degrees across, wide establishing shots up to
about 50 — so 30 degrees sits in the common range. A wrong focal mostly moves the fitted
depth (translation z scales with f) and barely changes the pose: at these fields of view
the projection is close to weak perspective across one player.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from streamer.records import Packet
from streamer.render.camera import intrinsics

#: horizontal field of view assumed when nothing better is known (degrees)
DEFAULT_HFOV_DEG = 30.0
#: depth below which points are clamped before dividing (metres): keeps gradients finite
MIN_DEPTH_M = 0.1


def default_focal_px(width: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> float:
    """Focal length in pixels giving a ``hfov_deg`` horizontal field of view across ``width``."""
    return width / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))


def packet_intrinsics(packet: Packet, focal_px: float = 0.0, hfov_deg: float = DEFAULT_HFOV_DEG
                      ) -> np.ndarray:
    """(3, 3) float64 K for the packet's frame.

    The pitch calibration's intrinsics win (``packet.calibration.cam_K``, when the
    ``calibrate`` stage ran and solved them). Else ``focal_px`` if > 0, else
    :func:`default_focal_px`; principal point at the image centre either way.
    """
    calibration = getattr(packet, "calibration", None)
    K = getattr(calibration, "cam_K", None)
    if K is not None and np.shape(K) == (3, 3) and np.isfinite(K).all():
        return np.asarray(K, np.float64)
    width, height = packet.frame.width, packet.frame.height
    focal = focal_px if focal_px > 0 else default_focal_px(width, hfov_deg)
    return intrinsics(focal, width, height)


def project(points_cam: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(N, P, 3) camera-frame points → (N, P, 2) pixels with per-row (N, 3, 3) intrinsics.

    Depth is clamped to :data:`MIN_DEPTH_M` so a point behind the camera mid-optimisation
    gives a large but finite residual instead of NaN.
    """
    z = points_cam[..., 2:].clamp(min=MIN_DEPTH_M)
    xy = points_cam[..., :2] / z
    focal = torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None]
    centre = K[:, None, :2, 2]
    return xy * focal + centre


def ray_rotation(xy_px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations taking the optical axis onto the viewing ray through each (N, 2) pixel.

    A crop-based 3D model (BlazePose's world landmarks) answers in a frame that looks straight
    at the player; ``R @ p`` turns such a point into the camera frame. Minimal rotation
    (about the axis perpendicular to both directions), identity at the principal point.

    Args:
        xy_px: (N, 2) pixels, e.g. the player's hip centre.
        K: (N, 3, 3) or (3, 3) intrinsics.
    """
    K = np.broadcast_to(np.asarray(K, np.float64), (len(xy_px), 3, 3))
    ray = np.stack([(xy_px[:, 0] - K[:, 0, 2]) / K[:, 0, 0], (xy_px[:, 1] - K[:, 1, 2]) / K[:, 1, 1],
                    np.ones(len(xy_px))], -1)
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    axis = np.stack([-ray[:, 1], ray[:, 0], np.zeros(len(ray))], -1)  # z x ray
    sin = np.linalg.norm(axis, axis=1)
    cos = ray[:, 2]
    unit = axis / np.maximum(sin, 1e-12)[:, None]
    skew = np.zeros((len(ray), 3, 3))
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -unit[:, 2], unit[:, 1], -unit[:, 0]
    skew = skew - skew.transpose(0, 2, 1)
    return np.eye(3) + sin[:, None, None] * skew + (1.0 - cos)[:, None, None] * (skew @ skew)


def weak_perspective_translation(points_m: np.ndarray, xy_px: np.ndarray, weight: np.ndarray, K: np.ndarray
                                 ) -> np.ndarray:
    """Translation from the points' spread: depth = focal x spread in metres / spread in pixels.

    The weak-perspective camera (one depth for the whole player), exact in the limit of a
    telephoto lens and robust however few or badly spread the points are: it never divides by
    a near-singular system, unlike :func:`solve_translation`.

    Args and returns as :func:`solve_translation`.
    """
    n = len(points_m)
    K = np.broadcast_to(np.asarray(K, np.float64), (n, 3, 3))
    w = np.clip(weight, 0.0, None)[..., None].astype(np.float64)
    total = np.maximum(w.sum(1), 1e-12)  # (N, 1)
    mean_m = (w * points_m).sum(1) / total
    mean_px = (w * xy_px).sum(1) / total
    spread_m = np.sqrt((w * (points_m[..., :2] - mean_m[:, None, :2]) ** 2).sum((1, 2)) / total[:, 0])
    spread_px = np.sqrt((w * (xy_px - mean_px[:, None]) ** 2).sum((1, 2)) / total[:, 0])
    focal = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = focal * spread_m / spread_px
    ray = np.stack([(mean_px[:, 0] - K[:, 0, 2]) / K[:, 0, 0], (mean_px[:, 1] - K[:, 1, 2]) / K[:, 1, 1],
                    np.ones(n)], 1)
    t = ray * depth[:, None] - mean_m
    ok = ((weight > 0).sum(1) >= 2) & (spread_px > 1e-6) & np.isfinite(depth) & (depth > MIN_DEPTH_M)
    t[~ok] = np.nan
    return t


def solve_translation(points_m: np.ndarray, xy_px: np.ndarray, weight: np.ndarray, K: np.ndarray
                      ) -> np.ndarray:
    """Translation putting body-frame points onto their pixels, by weighted linear least squares.

    For each point ``X`` with pixel ``(u, v)``: ``(u - cx) (Z + tz) = fx (X + tx)`` and the same
    for v — linear in ``t`` (the algebraic error, exact for noise-free data), as SMPLify solves
    its initial camera translation.

    Args:
        points_m: (N, P, 3) points in camera axes without translation.
        xy_px: (N, P, 2) their observed pixels.
        weight: (N, P) >= 0; a row needs two points of positive weight.
        K: (N, 3, 3) or (3, 3).

    Returns:
        (N, 3) float64 translations; rows that cannot be solved, or that land behind the
        camera, get NaN.
    """
    n = len(points_m)
    K = np.broadcast_to(np.asarray(K, np.float64), (n, 3, 3))
    x, y, z = (points_m[..., k].astype(np.float64) for k in range(3))
    du = xy_px[..., 0] - K[:, None, 0, 2]
    dv = xy_px[..., 1] - K[:, None, 1, 2]
    fx, fy = K[:, None, 0, 0], K[:, None, 1, 1]
    zeros = np.zeros_like(du)
    # rows: fx tx - du tz = du z - fx x ; fy ty - dv tz = dv z - fy y
    a = np.concatenate([np.stack([fx + zeros, zeros, -du], -1), np.stack([zeros, fy + zeros, -dv], -1)], 1)
    b = np.concatenate([du * z - fx * x, dv * z - fy * y], 1)
    w = np.sqrt(np.clip(np.concatenate([weight, weight], 1), 0.0, None))
    # normalise each equation by its focal so pixels of both axes weigh alike
    norm = w / np.concatenate([fx + zeros, fy + zeros], 1)
    aw, bw = a * norm[..., None], b * norm
    ata = aw.transpose(0, 2, 1) @ aw + 1e-9 * np.eye(3)
    atb = (aw.transpose(0, 2, 1) @ bw[..., None])[..., 0]
    enough = (weight > 0).sum(1) >= 2
    t = np.full((n, 3), np.nan)
    if enough.any():
        t[enough] = np.linalg.solve(ata[enough], atb[enough][..., None])[..., 0]
    t[~(t[:, 2] > MIN_DEPTH_M)] = np.nan
    return t

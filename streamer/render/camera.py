"""Perspective pinhole camera: intrinsics K, extrinsics R|t, projection, ground homography.

Shape legend: ``*B`` any leading dims.

Conventions (OpenCV's): the camera frame has x right, y down, z forward (along the optical
axis); ``X_cam = R @ X_world + t``; ``[u, v, 1] ~ K @ X_cam``. Image coordinates are
continuous pixels with the top-left corner of the image at (0, 0): pixel column ``c``,
row ``r`` covers ``[c, c+1) x [r, r+1)`` and its centre is ``(c + 0.5, r + 0.5)``. A box
``xyxy_px`` of the pixels ``c0..c1`` spans ``[c0, c1 + 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def intrinsics(focal_px: float, width: int, height: int) -> np.ndarray:
    """(3, 3) K with square pixels, no skew, principal point at the image centre."""
    return np.array([[focal_px, 0.0, width / 2.0], [0.0, focal_px, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(
    eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """World→camera (R (3, 3), t (3,)) of a camera at ``eye`` looking at ``target``, ``up`` up in the image."""
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    norm = np.linalg.norm(right)
    if norm < 1e-9:
        raise ValueError("look_at: the viewing direction is parallel to 'up'")
    right /= norm
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    return rotation, -rotation @ eye


@dataclass(frozen=True, slots=True, eq=False)
class PinholeCamera:
    """A calibrated camera.

    Attributes:
        K: (3, 3) float64 intrinsics in pixels.
        R: (3, 3) float64 world→camera rotation.
        t: (3,) float64 world→camera translation (metres).
        width / height: image size in pixels.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        for name, shape in (("K", (3, 3)), ("R", (3, 3)), ("t", (3,))):
            value = np.asarray(getattr(self, name), np.float64)
            if value.shape != shape:
                raise ValueError(f"PinholeCamera.{name}: expected shape {shape}, got {value.shape}")
            object.__setattr__(self, name, value)

    @property
    def center_world(self) -> np.ndarray:
        """(3,) camera position in the world frame."""
        return -self.R.T @ self.t

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(*B, 3) world points → (*B, 3) camera-frame points."""
        # einsum, not a BLAS matmul: a (N, 3) x (3, 3) product gains nothing from BLAS threads,
        # which on a busy machine cost more than the product itself
        return np.einsum("ij,...j->...i", self.R, np.asarray(points_world, np.float64)) + self.t

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(*B, 3) world points → ((*B, 2) pixel coordinates, (*B,) depth along z in metres).

        Points at or behind the camera (depth <= 0) get NaN coordinates.
        """
        return project_camera_points(self.K, self.to_camera(points_world))

    def ground_homography(self) -> np.ndarray:
        """(3, 3) map of the world plane z = 0, as (x, y, 1), to homogeneous pixel coordinates."""
        return self.K @ np.stack([self.R[:, 0], self.R[:, 1], self.t], 1)

    def ray_to_ground(self, uv_px: np.ndarray) -> np.ndarray:
        """(*B, 2) pixels → (*B, 2) world (x, y) where their viewing rays meet z = 0."""
        uv = np.asarray(uv_px, np.float64)
        homog = np.concatenate([uv, np.ones((*uv.shape[:-1], 1))], -1)
        ground = homog @ np.linalg.inv(self.ground_homography()).T
        return ground[..., :2] / ground[..., 2:]


def project_camera_points(K: np.ndarray, points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(*B, 3) camera-frame points → ((*B, 2) pixels, (*B,) depth); NaN pixels where depth <= 0."""
    points_cam = np.asarray(points_cam, np.float64)
    depth = points_cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(depth > 0, 1.0 / depth, np.nan)
    u = K[0, 0] * points_cam[..., 0] * inv + K[0, 1] * points_cam[..., 1] * inv + K[0, 2]
    v = K[1, 1] * points_cam[..., 1] * inv + K[1, 2]
    return np.stack([u, v], -1), depth

"""Constant-velocity Kalman model of one box, on filterpy, with time steps in seconds.

State ``x`` (8,): ``cx, cy, w, h`` (pixels) and their rates (pixels/second).
Measurement ``z`` (4,): ``cx, cy, w, h``.

Noise scales with the box height (a 20 px player jitters less in pixels than a
200 px one) and the process noise with ``dt``, so 25, 30 and 50 fps clips are
filtered alike. A player's box size changes slowly (zoom is the camera motion's
job) but its measurement jitters with every stride and arm swing: the size's rate
gets a tenth of the centre's rate noise and its measurement twice the centre's —
otherwise three jittery first boxes give a newborn track a size rate that shrinks
its prediction to nothing within a few frames of missed detections.
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import KalmanFilter

_H = np.hstack([np.eye(4), np.zeros((4, 4))])


def xyxy_to_z(xyxy: np.ndarray) -> np.ndarray:
    """(4,) or (N, 4) x1 y1 x2 y2 → cx cy w h."""
    xyxy = np.asarray(xyxy, np.float64)
    wh = xyxy[..., 2:] - xyxy[..., :2]
    return np.concatenate([xyxy[..., :2] + wh / 2, wh], axis=-1)


def z_to_xyxy(z: np.ndarray) -> np.ndarray:
    """(4,) or (N, 4) cx cy w h → x1 y1 x2 y2."""
    z = np.asarray(z, np.float64)
    half = z[..., 2:] / 2
    return np.concatenate([z[..., :2] - half, z[..., :2] + half], axis=-1)


class BoxKalman:
    """One track's box filter.

    Args:
        xyxy: first measured box.
        pos_std: position noise as a fraction of the box height.
        vel_std: velocity noise, fraction of box height per second.
        size_rate_ratio: the size rates' noise relative to the centre's.
        size_meas_ratio: the size measurement's noise relative to the centre's.
    """

    def __init__(self, xyxy: np.ndarray, pos_std: float = 0.05, vel_std: float = 0.6,
                 size_rate_ratio: float = 0.1, size_meas_ratio: float = 2.0) -> None:
        self.pos_std, self.vel_std = pos_std, vel_std
        self.size_rate_ratio, self.size_meas_ratio = size_rate_ratio, size_meas_ratio
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.H = _H.copy()
        kf.x = np.concatenate([xyxy_to_z(xyxy), np.zeros(4)])[:, None]
        h = max(float(kf.x[3, 0]), 1.0)
        v0 = 10 * vel_std * h
        kf.P = np.diag(np.square([2 * pos_std * h] * 4 + [v0, v0] + [size_rate_ratio * v0] * 2))
        self.kf = kf

    @property
    def z(self) -> np.ndarray:
        """Current cx, cy, w, h."""
        return self.kf.x[:4, 0].copy()

    @property
    def xyxy(self) -> np.ndarray:
        return z_to_xyxy(self.z)

    def predict(self, dt_s: float) -> None:
        dt = max(float(dt_s), 1e-3)
        F = np.eye(8)
        F[:4, 4:] = dt * np.eye(4)
        h = max(float(self.kf.x[3, 0]), 1.0)
        q_pos = (self.pos_std * h) ** 2 * dt * 25.0  # tuned at 25 fps, scales with dt
        q_vel = (self.vel_std * h) ** 2 * dt * 25.0
        q_size = q_vel * 0.25 * self.size_rate_ratio**2
        Q = np.diag([q_pos, q_pos, q_pos * 0.5, q_pos * 0.5, q_vel, q_vel, q_size, q_size])
        self.kf.predict(F=F, Q=Q)
        self.kf.x[2:4, 0] = np.maximum(self.kf.x[2:4, 0], 1.0)

    def update(self, xyxy: np.ndarray, score: float = 1.0) -> None:
        h = max(float(self.kf.x[3, 0]), 1.0)
        std = self.pos_std * h / max(score, 0.2)
        size_std = self.size_meas_ratio * std
        R = np.diag(np.square([std, std, size_std, size_std]))
        self.kf.update(xyxy_to_z(xyxy)[:, None], R=R)

    def hold_size(self) -> None:
        """Stop the box size changing (its velocity to zero): for a player not seen alone."""
        self.kf.x[6:8, 0] = 0.0

    def warp(self, affine: np.ndarray) -> None:
        """Move the state with a 2x3 image affine (global camera motion)."""
        A = affine[:, :2]
        scale = float(np.sqrt(abs(np.linalg.det(A))))
        M = np.eye(8)
        M[0:2, 0:2] = A
        M[2:4, 2:4] *= scale
        M[4:6, 4:6] = A
        M[6:8, 6:8] *= scale
        x = M @ self.kf.x
        x[0:2, 0] += affine[:, 2]
        self.kf.x = x
        self.kf.P = M @ self.kf.P @ M.T

    def mahalanobis2(self, xyxy: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of (N, 4) boxes' centres to the predicted centre."""
        S = (_H @ self.kf.P @ _H.T)[:2, :2] + np.eye(2) * (self.pos_std * max(self.kf.x[3, 0], 1.0)) ** 2
        d = xyxy_to_z(xyxy)[:, :2] - self.kf.x[:2, 0]
        return np.einsum("ni,ij,nj->n", d, np.linalg.inv(S), d)

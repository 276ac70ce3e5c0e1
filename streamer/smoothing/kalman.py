"""Linear Kalman algebra for many small independent filters at once.

Shape legend: ``...`` a batch of blocks (tracks × joints, tracks × axes);
``D`` channels sharing one block's covariance (3 tangent axes of a joint, or 1).

Each block is a constant-velocity filter with state ``[position, velocity]`` and
measurement ``H = [1, 0]``. When the process and measurement noise are the same
for every channel of a block (isotropic, as for a joint's three rotation axes),
the channels' 6×6 filter splits into three identical 2×2 filters: one shared
``(..., 2, 2)`` covariance and ``(..., 2, D)`` state corrections. That is what
makes the whole player cheap: 22 joints are 22 2×2 filters, not a 132-state one.

The equations are filterpy's (``KalmanFilter.predict/update``, ``rts_smoother``,
``Q_continuous_white_noise``); ``tests/test_smoothing_kalman.py`` checks them
against filterpy on the same series. filterpy loops over one filter object at a
time, which costs ~50 µs per block-step — 24 blocks per player would blow the
per-player-frame budget — hence the explicit batched 2×2 arithmetic here.

A shape-only random walk (``rw_*``) serves the body shape: one scalar variance
shared by the 10 betas, near-constant over a track.
"""

from __future__ import annotations

import numpy as np


def cv_transition(dt_s: np.ndarray) -> np.ndarray:
    """Constant-velocity transition ``[[1, dt], [0, 1]]``: ``(...)`` seconds → ``(..., 2, 2)``."""
    dt_s = np.asarray(dt_s, dtype=np.float64)
    out = np.zeros(dt_s.shape + (2, 2))
    out[..., 0, 0] = 1.0
    out[..., 0, 1] = dt_s
    out[..., 1, 1] = 1.0
    return out


def cv_process_noise(dt_s: np.ndarray, accel_density: np.ndarray | float) -> np.ndarray:
    """Continuous white-noise-acceleration covariance over ``dt_s`` seconds, ``(..., 2, 2)``.

    ``Q = q [[dt³/3, dt²/2], [dt²/2, dt]]`` with spectral density ``q``
    (units²/s³). Integrating the noise over the real interval is what makes the
    filter frame-rate independent: three steps of ``dt/3`` add up to the same
    uncertainty as one step of ``dt``.
    """
    dt = np.asarray(dt_s, dtype=np.float64)
    q = np.asarray(accel_density, dtype=np.float64)
    out = np.empty(np.broadcast_shapes(dt.shape, q.shape) + (2, 2))
    out[..., 0, 0] = q * dt**3 / 3.0
    out[..., 0, 1] = out[..., 1, 0] = q * dt**2 / 2.0
    out[..., 1, 1] = q * dt
    return out


def predict_cov(cov: np.ndarray, transition: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``F P Fᵀ + Q`` for ``(..., 2, 2)`` arrays."""
    return transition @ cov @ np.swapaxes(transition, -1, -2) + noise


def cv_update(
    cov_pred: np.ndarray, innovation: np.ndarray, meas_var: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Kalman update with ``H = [1, 0]`` for blocks sharing one covariance across channels.

    Args:
        cov_pred: (..., 2, 2) predicted covariance.
        innovation: (..., D) measurement minus prediction (tangent vector for rotations).
        meas_var: (...) measurement variance of each channel.
        active: (...) bool; inactive blocks keep their prediction (no or rejected measurement).

    Returns:
        correction (..., 2, D): add row 0 to the position, row 1 to the velocity;
        cov (..., 2, 2): the updated covariance.
    """
    innov_var = cov_pred[..., 0, 0] + meas_var
    gain = cov_pred[..., :, 0] / innov_var[..., None]  # (..., 2)
    gain = np.where(active[..., None], gain, 0.0)
    correction = gain[..., :, None] * innovation[..., None, :]
    # P - K S Kᵀ, the filterpy form; S K Kᵀ is symmetric by construction
    cov = cov_pred - innov_var[..., None, None] * gain[..., :, None] * gain[..., None, :]
    return correction, cov


def innovation_sq(cov_pred: np.ndarray, innovation: np.ndarray, meas_var: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance ``|r|² / S`` of each block's innovation, ``(...)``."""
    return np.sum(innovation * innovation, axis=-1) / (cov_pred[..., 0, 0] + meas_var)


def _inv2(mat: np.ndarray) -> np.ndarray:
    """Inverse of ``(..., 2, 2)`` matrices in closed form."""
    a, b, c, d = mat[..., 0, 0], mat[..., 0, 1], mat[..., 1, 0], mat[..., 1, 1]
    det = a * d - b * c
    out = np.empty_like(mat)
    out[..., 0, 0], out[..., 0, 1] = d / det, -b / det
    out[..., 1, 0], out[..., 1, 1] = -c / det, a / det
    return out


def rts_gain(cov_filt: np.ndarray, transition: np.ndarray, cov_pred_next: np.ndarray) -> np.ndarray:
    """RTS smoother gain ``G = P_f Fᵀ P_p⁻¹`` for ``(..., 2, 2)`` arrays."""
    return cov_filt @ np.swapaxes(transition, -1, -2) @ _inv2(cov_pred_next)


def rts_cov(
    cov_filt: np.ndarray, gain: np.ndarray, cov_smooth_next: np.ndarray, cov_pred_next: np.ndarray
) -> np.ndarray:
    """Smoothed covariance ``P_f + G (P_s' − P_p') Gᵀ``, ``(..., 2, 2)``."""
    return cov_filt + gain @ (cov_smooth_next - cov_pred_next) @ np.swapaxes(gain, -1, -2)


def rw_update(
    var_pred: np.ndarray, innovation: np.ndarray, meas_var: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Random-walk update of ``(..., D)`` channels sharing a scalar variance ``(...)``.

    Returns:
        correction (..., D) to add to the state; var (...) the updated variance.
    """
    gain = np.where(active, var_pred / (var_pred + meas_var), 0.0)
    return gain[..., None] * innovation, (1.0 - gain) * var_pred

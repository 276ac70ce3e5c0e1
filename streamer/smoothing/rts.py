"""Rauch–Tung–Striebel backward pass over the forward filter's frame records.

Shape legend: ``S`` bank slots; ``N`` tracks of one frame; ``J`` = 22 joints; ``B`` = 10 betas.

The pass walks the records newest → oldest, vectorised across the tracks of
each frame. A per-slot *carry* holds, for the frame after the current one in
that track's own timeline (which may be several frames later after a short
gap), its smoothed state and the prior the forward filter had there. For a
track seen at frame ``k`` with a carry:

    G   = P_f(k) Fᵀ P_p(k+1)⁻¹                       (per joint / axis, 2×2)
    δ   = [x_s(k+1) ⊟ x_p(k+1),  v_s(k+1) − v_p(k+1)]  (tangent space for rotations)
    x_s(k) = x_f(k) ⊞ (G δ)₀,  v_s(k) = v_f(k) + (G δ)₁
    P_s(k) = P_f(k) + G (P_s(k+1) − P_p(k+1)) Gᵀ

— the linear RTS equations (filterpy's ``rts_smoother``) with the difference
and correction taken on the rotation manifold. ``G`` is zero where the forward
filter restarted at ``k+1`` (new track, re-birth, accepted jump), so a segment
never pulls on the one before it. A track without a carry (its newest frame)
keeps its filtered state.

Run over a bounded window of records this is a fixed-lag smoother: the frames
at least ``lag_s`` older than the newest one are (nearly) as good as a
whole-clip smoother's, because the gains' product decays within a few frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamer.records import NUM_BETAS
from streamer.smoothing import kalman
from streamer.smoothing.measurement import NUM_FILTERED_JOINTS as J
from streamer.smoothing.rotations import boxminus, boxplus
from streamer.smoothing.state import FrameRecord


@dataclass(frozen=True, slots=True, eq=False)
class SmoothedFrame:
    """Smoothed state of the N tracks of one frame (rows as in its record).

    Attributes:
        quat: (N, J, 4) joint rotations. pos: (N, 3) root translation, metres. betas: (N, B).
    """

    quat: np.ndarray
    pos: np.ndarray
    betas: np.ndarray


class _Carry:
    """The later frame's smoothed state and forward prior, per slot."""

    def __init__(self, capacity: int) -> None:
        eye = np.eye(2)
        self.valid = np.zeros(capacity, bool)
        self.dt_s = np.zeros(capacity)
        self.quat = np.tile([1.0, 0.0, 0.0, 0.0], (capacity, J, 1))
        self.omega = np.zeros((capacity, J, 3))
        self.rot_cov = np.tile(eye, (capacity, J, 1, 1))
        self.quat_pred = self.quat.copy()
        self.omega_pred = np.zeros((capacity, J, 3))
        self.rot_cov_pred = self.rot_cov.copy()
        self.rot_broken = np.ones((capacity, J), bool)
        self.pos = np.zeros((capacity, 3))
        self.vel = np.zeros((capacity, 3))
        self.pos_cov = np.tile(eye, (capacity, 3, 1, 1))
        self.pos_pred = np.zeros((capacity, 3))
        self.vel_pred = np.zeros((capacity, 3))
        self.pos_cov_pred = self.pos_cov.copy()
        self.pos_broken = np.ones(capacity, bool)
        self.betas = np.zeros((capacity, NUM_BETAS))
        self.betas_var = np.ones(capacity)
        self.betas_var_pred = np.ones(capacity)
        self.betas_broken = np.ones(capacity, bool)


def _smooth_rotations(rec: FrameRecord, carry: _Carry, idx: np.ndarray, linked: np.ndarray) -> np.ndarray:
    transition = kalman.cv_transition(carry.dt_s[idx])[:, None]  # (N, 1, 2, 2)
    cov_pred_next = carry.rot_cov_pred[idx]
    gain = kalman.rts_gain(rec.rot_cov, transition, cov_pred_next)  # (N, J, 2, 2)
    gain = np.where((linked[:, None] & ~carry.rot_broken[idx])[..., None, None], gain, 0.0)
    delta = np.stack(
        (boxminus(carry.quat[idx], carry.quat_pred[idx]), carry.omega[idx] - carry.omega_pred[idx]), axis=-2
    )  # (N, J, 2, 3)
    correction = gain @ delta
    quat = boxplus(rec.quat, correction[..., 0, :])
    omega = rec.omega + correction[..., 1, :]
    cov = kalman.rts_cov(rec.rot_cov, gain, carry.rot_cov[idx], cov_pred_next)
    carry.quat[idx], carry.omega[idx], carry.rot_cov[idx] = quat, omega, cov
    carry.quat_pred[idx], carry.omega_pred[idx] = rec.quat_pred, rec.omega_pred
    carry.rot_cov_pred[idx], carry.rot_broken[idx] = rec.rot_cov_pred, rec.rot_broken
    return quat


def _smooth_translation(rec: FrameRecord, carry: _Carry, idx: np.ndarray, linked: np.ndarray) -> np.ndarray:
    transition = kalman.cv_transition(carry.dt_s[idx])[:, None]  # (N, 1, 2, 2)
    cov_pred_next = carry.pos_cov_pred[idx]
    gain = kalman.rts_gain(rec.pos_cov, transition, cov_pred_next)  # (N, 3, 2, 2)
    gain = np.where((linked & ~carry.pos_broken[idx])[:, None, None, None], gain, 0.0)
    delta = np.stack((carry.pos[idx] - carry.pos_pred[idx], carry.vel[idx] - carry.vel_pred[idx]), axis=-1)
    correction = (gain @ delta[..., None])[..., 0]  # (N, 3, 2)
    pos = rec.pos + correction[..., 0]
    vel = rec.vel + correction[..., 1]
    cov = kalman.rts_cov(rec.pos_cov, gain, carry.pos_cov[idx], cov_pred_next)
    carry.pos[idx], carry.vel[idx], carry.pos_cov[idx] = pos, vel, cov
    carry.pos_pred[idx], carry.vel_pred[idx] = rec.pos_pred, rec.vel_pred
    carry.pos_cov_pred[idx], carry.pos_broken[idx] = rec.pos_cov_pred, rec.pos_broken
    return pos


def _smooth_betas(rec: FrameRecord, carry: _Carry, idx: np.ndarray, linked: np.ndarray) -> np.ndarray:
    # random walk: the prior at k+1 is the filtered state at k, F = 1
    gain = np.where(linked & ~carry.betas_broken[idx], rec.betas_var / carry.betas_var_pred[idx], 0.0)
    betas = rec.betas + gain[:, None] * (carry.betas[idx] - rec.betas)
    var = rec.betas_var + gain**2 * (carry.betas_var[idx] - carry.betas_var_pred[idx])
    carry.betas[idx], carry.betas_var[idx] = betas, var
    carry.betas_var_pred[idx], carry.betas_broken[idx] = rec.betas_var_pred, rec.betas_broken
    return betas


def smooth_backward(records: Sequence[FrameRecord], capacity: int) -> list[SmoothedFrame]:
    """Smoothed states of every record (same order), from one backward pass over them.

    Args:
        records: consecutive forward-filter records, oldest first.
        capacity: the bank's slot count (every ``record.slots`` is below it).
    """
    carry = _Carry(capacity)
    out: list[SmoothedFrame] = []
    for rec in reversed(records):
        idx = rec.slots
        linked = carry.valid[idx]
        quat = _smooth_rotations(rec, carry, idx, linked)
        pos = _smooth_translation(rec, carry, idx, linked)
        betas = _smooth_betas(rec, carry, idx, linked)
        carry.valid[idx] = True
        carry.dt_s[idx] = rec.dt_s
        out.append(SmoothedFrame(quat, pos, betas))
    out.reverse()
    return out

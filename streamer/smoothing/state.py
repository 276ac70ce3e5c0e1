"""Per-track filter state and the causal (forward) filter step.

Shape legend: ``S`` slots (tracks the bank holds, grows as needed); ``N`` tracks
measured in the current frame; ``J`` = 22 joints (root first); ``B`` = 10 betas.

Per track the bank keeps, as struct-of-arrays over slots:

* each joint's rotation (quaternion) and angular velocity (rad/s, joint frame),
  with one 2×2 covariance per joint — an error-state constant-velocity filter
  on the manifold (predict ``q ⊞ ω dt``, innovation ``z ⊟ q``, see
  :mod:`streamer.smoothing.rotations`);
* root translation and velocity (m, m/s), one 2×2 covariance per axis;
* the shape (betas), a random walk with one scalar variance.

Every frame is vectorised across all its tracks and joints at once. Robustness:

* outliers — a joint (or the translation, or the shape) whose innovation lies
  beyond the gate is ignored this frame;
* real fast motion — a gated joint is re-initialised at the measurement when the
  next measurement agrees with the gated one (a step, not a glitch) or when it
  stays gated for ``outlier_patience_s``; two glitches in a row that happen to
  agree are indistinguishable from a step and pass as one;
* gaps — ``dt`` comes from timestamps, so the process noise grows with the gap;
  a track unseen longer than ``gap_reset_s`` (or new) starts afresh (re-birth).

Each step returns a :class:`FrameRecord` holding what the RTS backward pass
needs (predicted and filtered states, and where the chain is broken).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.records import NUM_BETAS
from streamer.smoothing import kalman
from streamer.smoothing.measurement import NUM_FILTERED_JOINTS as J
from streamer.smoothing.measurement import Measurements
from streamer.smoothing.params import SmoothingParams
from streamer.smoothing.rotations import boxminus, boxplus

#: prior std of a (re)started state: wide, so the first measurement sets it; velocities
#: from what bodies do (joints swing at up to ~10 rad/s, players run at up to ~9 m/s)
INIT_ROT_STD_RAD = 1.0
INIT_ROT_SPEED_STD_RAD_S = 6.0
INIT_POS_STD_M = 10.0
INIT_SPEED_STD_M_S = 5.0
#: prior std of a (re)started shape coefficient (SMPL-X betas are ~unit normal)
INIT_BETAS_STD = 1.0
IDENTITY_QUAT = np.array([1.0, 0.0, 0.0, 0.0])
#: angular-acceleration noise of each joint relative to ``rot_accel``: limbs swing much harder
#: than the trunk in running and kicking (a running knee ~50 degrees at ~1.4 Hz: ~2700 deg/s²
#: RMS; limbs at a third of these values flattened its peaks and left a hidden leg's 3D guess
#: unsmoothed, see tools/eval_mesh_synth.py). SMPL-X order: pelvis, hips, spine1, knees,
#: spine2, ankles, spine3, feet, neck, collars, head, shoulders, elbows, wrists.
JOINT_ACCEL_SCALE = np.array([
    1.0, 4.5, 4.5, 0.5, 7.5, 7.5, 0.5, 6.0, 6.0, 0.5, 1.0, 1.0,
    0.5, 0.5, 0.5, 0.7, 4.5, 4.5, 6.0, 6.0, 4.5, 4.5,
])


@dataclass(frozen=True, slots=True, eq=False)
class FrameRecord:
    """The forward filter's result for the N tracks of one frame (all float64).

    ``*_pred`` is the prior this frame's update started from (for the RTS pass);
    ``*_broken`` marks where the chain to the previous frame is cut (new track,
    re-birth, accepted jump): the smoother must not pull across it.

    Attributes:
        slots: (N,) bank slots of the rows; dt_s: (N,) seconds since each track's previous frame.
        quat, omega, rot_cov: (N, J, 4), (N, J, 3), (N, J, 2, 2) filtered rotation state.
        quat_pred, omega_pred, rot_cov_pred: the same, predicted.
        rot_broken: (N, J) bool.
        pos, vel, pos_cov: (N, 3), (N, 3), (N, 3, 2, 2) filtered root translation state.
        pos_pred, vel_pred, pos_cov_pred: the same, predicted. pos_broken: (N,) bool.
        betas, betas_var: (N, B), (N,) filtered shape; betas_var_pred: (N,); betas_broken: (N,).
    """

    slots: np.ndarray
    dt_s: np.ndarray
    quat: np.ndarray
    omega: np.ndarray
    rot_cov: np.ndarray
    quat_pred: np.ndarray
    omega_pred: np.ndarray
    rot_cov_pred: np.ndarray
    rot_broken: np.ndarray
    pos: np.ndarray
    vel: np.ndarray
    pos_cov: np.ndarray
    pos_pred: np.ndarray
    vel_pred: np.ndarray
    pos_cov_pred: np.ndarray
    pos_broken: np.ndarray
    betas: np.ndarray
    betas_var: np.ndarray
    betas_var_pred: np.ndarray
    betas_broken: np.ndarray


@dataclass(slots=True)
class FilterStats:
    """Counts of what the filter did (joints or tracks, summed over frames)."""

    joint_outliers: int = 0
    joint_jumps: int = 0
    transl_outliers: int = 0
    transl_jumps: int = 0
    betas_outliers: int = 0
    births: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


def _init_cov(pos_std: np.ndarray | float, vel_std: float) -> np.ndarray:
    cov = np.zeros(np.shape(pos_std) + (2, 2))
    cov[..., 0, 0] = np.square(pos_std)
    cov[..., 1, 1] = vel_std**2
    return cov


def _grow(array: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    out = np.full((capacity,) + array.shape[1:], fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


class TrackBank:
    """Filter state of every live track, struct-of-arrays over slots."""

    def __init__(self, params: SmoothingParams, capacity: int = 32) -> None:
        self.params = params
        self.capacity = s = capacity
        self.stats = FilterStats()
        self.slot_of: dict[int, int] = {}  # track id -> slot
        self.track_of = np.full(s, -1, np.int64)
        self.last_t = np.full(s, -np.inf)
        self.quat = np.tile(IDENTITY_QUAT, (s, J, 1))
        self.omega = np.zeros((s, J, 3))
        self.rot_cov = np.zeros((s, J, 2, 2))
        self.rot_gated_since = np.full((s, J), np.nan)  # time the joint was first gated; NaN = not
        self.rot_gated_quat = np.tile(IDENTITY_QUAT, (s, J, 1))  # the last gated measurement
        self.pos = np.zeros((s, 3))
        self.vel = np.zeros((s, 3))
        self.pos_cov = np.zeros((s, 3, 2, 2))
        self.pos_gated_since = np.full(s, np.nan)
        self.pos_gated = np.zeros((s, 3))
        self.betas = np.zeros((s, NUM_BETAS))
        self.betas_var = np.zeros(s)
        self.betas_gated_since = np.full(s, np.nan)

    # -- slots ----------------------------------------------------------------------------------

    _ARRAYS = ("track_of", "last_t", "quat", "omega", "rot_cov", "rot_gated_since", "rot_gated_quat",
               "pos", "vel", "pos_cov", "pos_gated_since", "pos_gated", "betas", "betas_var",
               "betas_gated_since")

    def _ensure_capacity(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        capacity = max(needed, 2 * self.capacity)
        for name in self._ARRAYS:
            array = getattr(self, name)
            fill = {"track_of": -1, "last_t": -np.inf}.get(name, np.nan if "since" in name else 0.0)
            grown = _grow(array, capacity, fill)
            if "quat" in name:
                grown[self.capacity :] = IDENTITY_QUAT
            setattr(self, name, grown)
        self.capacity = capacity

    def expire(self, time_s: float) -> None:
        """Forget tracks unseen for longer than ``gap_reset_s`` (they restart when seen again)."""
        stale = np.flatnonzero((self.track_of >= 0) & (self.last_t < time_s - self.params.gap_reset_s))
        for slot in stale:
            del self.slot_of[int(self.track_of[slot])]
            self.track_of[slot] = -1

    def _slots_for(self, track_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots ``(N,)`` of the ids, allocating free ones; and which are new ``(N,)``."""
        if len(np.unique(track_id)) != len(track_id):
            raise ValueError(f"smooth: duplicate track ids in one frame: {track_id.tolist()}")
        slots = np.empty(len(track_id), np.int64)
        new = np.zeros(len(track_id), bool)
        for row, tid in enumerate(track_id.tolist()):
            slot = self.slot_of.get(tid)
            if slot is None:
                free = np.flatnonzero(self.track_of < 0)
                if len(free) == 0:
                    self._ensure_capacity(self.capacity + 1)
                    free = np.flatnonzero(self.track_of < 0)
                slot = int(free[0])
                self.slot_of[tid] = slot
                self.track_of[slot] = tid
                new[row] = True
            slots[row] = slot
        return slots, new

    # -- the forward step ----------------------------------------------------------------------

    def step(self, time_s: float, meas: Measurements) -> FrameRecord:
        """Predict every measured track to ``time_s`` and update it with ``meas``."""
        p = self.params
        self.expire(time_s)
        slots, new = self._slots_for(meas.track_id)
        dt = np.where(new, 0.0, np.maximum(time_s - self.last_t[slots], 0.0))
        reborn = new | (dt > p.gap_reset_s)
        self.stats.births += int(reborn.sum())
        dt = np.where(reborn, 0.0, dt)
        rot = self._step_rotations(time_s, slots, dt, reborn, meas)
        pos = self._step_translation(time_s, slots, dt, reborn, meas)
        shape = self._step_betas(time_s, slots, dt, reborn, meas)
        self.last_t[slots] = time_s
        return FrameRecord(slots, dt, *rot, *pos, *shape)

    def _jumps(self, time_s: float, since: np.ndarray, outlier: np.ndarray,
               agree: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which gated measurements are accepted as real motion (jump), which are rejected,
        and the new gated-since times (NaN = not gated), all shaped like ``outlier``."""
        was_gated = np.isfinite(since)
        patience_over = was_gated & (time_s - since >= self.params.outlier_patience_s - 1e-9)
        jump = outlier & was_gated & (agree | patience_over)
        rejected = outlier & ~jump
        return jump, rejected, np.where(rejected & was_gated, since, np.where(rejected, time_s, np.nan))

    def _step_rotations(self, time_s: float, slots: np.ndarray, dt: np.ndarray, reborn: np.ndarray,
                        meas: Measurements) -> tuple[np.ndarray, ...]:
        """Joints: filtered quat/omega/cov, predicted quat/omega/cov, restarted (N, J)."""
        p = self.params
        q_rot = (p.rot_accel_rad_s2 * JOINT_ACCEL_SCALE) ** 2  # (J,)
        quat, omega, cov = self.quat[slots], self.omega[slots], self.rot_cov[slots]
        transition = kalman.cv_transition(dt)[:, None]  # (N, 1, 2, 2)
        quat_pred = boxplus(quat, omega * dt[:, None, None])
        cov_pred = kalman.predict_cov(cov, transition, kalman.cv_process_noise(dt[:, None], q_rot))
        omega_pred = omega.copy()
        innovation = boxminus(meas.quat, quat_pred)  # (N, J, 3)
        d2 = kalman.innovation_sq(cov_pred, innovation, meas.rot_var)
        outlier = meas.rot_valid & (d2 > p.gate_sq(3)) & ~reborn[:, None]
        since = self.rot_gated_since[slots]
        pair = boxminus(meas.quat, self.rot_gated_quat[slots])
        agree = kalman.innovation_sq(cov_pred, pair, 2.0 * meas.rot_var) <= p.gate_sq(3)
        jump, rejected, new_since = self._jumps(time_s, since, outlier, agree)
        restart = reborn[:, None] | jump  # (N, J)
        quat_pred = np.where(restart[..., None], meas.quat, quat_pred)
        omega_pred[restart] = 0.0
        cov_pred[restart] = _init_cov(INIT_ROT_STD_RAD, INIT_ROT_SPEED_STD_RAD_S)
        innovation[restart] = 0.0
        active = meas.rot_valid & ~rejected
        correction, cov_new = kalman.cv_update(cov_pred, innovation, meas.rot_var, active)
        quat_new = boxplus(quat_pred, correction[..., 0, :])
        omega_new = omega_pred + correction[..., 1, :]
        self.quat[slots], self.omega[slots], self.rot_cov[slots] = quat_new, omega_new, cov_new
        measured = meas.rot_valid | restart
        self.rot_gated_since[slots] = np.where(measured, new_since, since)
        self.rot_gated_quat[slots] = np.where(rejected[..., None], meas.quat, self.rot_gated_quat[slots])
        self.stats.joint_outliers += int(rejected.sum())
        self.stats.joint_jumps += int(jump.sum())
        return quat_new, omega_new, cov_new, quat_pred, omega_pred, cov_pred, restart

    def _step_translation(self, time_s: float, slots: np.ndarray, dt: np.ndarray, reborn: np.ndarray,
                          meas: Measurements) -> tuple[np.ndarray, ...]:
        """Root: filtered pos/vel/cov, predicted pos/vel/cov, restarted (N,)."""
        p = self.params
        pos, vel, cov = self.pos[slots], self.vel[slots], self.pos_cov[slots]
        transition = kalman.cv_transition(dt)[:, None]  # (N, 1, 2, 2)
        pos_pred = pos + vel * dt[:, None]
        vel_pred = vel.copy()
        cov_pred = kalman.predict_cov(
            cov, transition, kalman.cv_process_noise(dt, p.transl_accel_m_s2**2)[:, None]
        )
        innovation = meas.transl_m - pos_pred  # (N, 3)
        d2 = kalman.innovation_sq(cov_pred, innovation[..., None], meas.transl_var).sum(axis=1)
        outlier = meas.transl_valid & (d2 > p.gate_sq(3)) & ~reborn
        pair = meas.transl_m - self.pos_gated[slots]
        agree = kalman.innovation_sq(cov_pred, pair[..., None], 2.0 * meas.transl_var).sum(1) <= p.gate_sq(3)
        since = self.pos_gated_since[slots]
        jump, rejected, new_since = self._jumps(time_s, since, outlier, agree)
        restart = reborn | jump  # (N,)
        pos_pred[restart] = meas.transl_m[restart]
        vel_pred[restart] = 0.0
        cov_pred[restart] = _init_cov(INIT_POS_STD_M, INIT_SPEED_STD_M_S)
        innovation[restart] = 0.0
        active = np.broadcast_to((meas.transl_valid & ~rejected)[:, None], innovation.shape)
        correction, cov_new = kalman.cv_update(cov_pred, innovation[..., None], meas.transl_var, active)
        pos_new = pos_pred + correction[..., 0, 0]
        vel_new = vel_pred + correction[..., 1, 0]
        self.pos[slots], self.vel[slots], self.pos_cov[slots] = pos_new, vel_new, cov_new
        measured = meas.transl_valid | restart
        self.pos_gated_since[slots] = np.where(measured, new_since, since)
        self.pos_gated[slots] = np.where(rejected[:, None], meas.transl_m, self.pos_gated[slots])
        self.stats.transl_outliers += int(rejected.sum())
        self.stats.transl_jumps += int(jump.sum())
        return pos_new, vel_new, cov_new, pos_pred, vel_pred, cov_pred, restart

    def _step_betas(self, time_s: float, slots: np.ndarray, dt: np.ndarray, reborn: np.ndarray,
                    meas: Measurements) -> tuple[np.ndarray, ...]:
        """Shape: filtered betas/var, predicted var, restarted (N,)."""
        p = self.params
        betas = self.betas[slots]
        var_pred = self.betas_var[slots] + p.betas_drift_per_s**2 * dt
        innovation = meas.betas - betas
        d2 = np.sum(innovation**2, axis=1) / (var_pred + meas.betas_var)
        since = self.betas_gated_since[slots]
        outlier = (d2 > p.gate_sq(NUM_BETAS)) & ~reborn
        jump, rejected, new_since = self._jumps(time_s, since, outlier, np.zeros_like(outlier))
        restart = reborn | jump
        betas = np.where(restart[:, None], meas.betas, betas)
        var_pred = np.where(restart, INIT_BETAS_STD**2, var_pred)
        innovation[restart] = 0.0
        correction, var_new = kalman.rw_update(var_pred, innovation, meas.betas_var, ~rejected)
        betas_new = betas + correction
        self.betas[slots], self.betas_var[slots] = betas_new, var_new
        self.betas_gated_since[slots] = new_since
        self.stats.betas_outliers += int(rejected.sum())
        return betas_new, var_new, var_pred, restart

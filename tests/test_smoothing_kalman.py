"""The batched filter and RTS pass agree with filterpy's KalmanFilter / rts_smoother."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.common import Q_continuous_white_noise
from filterpy.kalman import KalmanFilter

from streamer.records import NUM_BETAS
from streamer.smoothing import kalman
from streamer.smoothing.measurement import NUM_FILTERED_JOINTS as J
from streamer.smoothing.measurement import Measurements
from streamer.smoothing.params import SmoothingParams
from streamer.smoothing.rotations import quat_from_rotvec, rotvec_from_quat
from streamer.smoothing.rts import smooth_backward
from streamer.smoothing.state import (
    INIT_POS_STD_M,
    INIT_ROT_SPEED_STD_RAD_S,
    INIT_ROT_STD_RAD,
    INIT_SPEED_STD_M_S,
    JOINT_ACCEL_SCALE,
    TrackBank,
)

NO_GATE = SmoothingParams(outlier_gate_sigma=1e3)


def _meas(rotvec: np.ndarray, transl_m: np.ndarray, rot_var: float, transl_var: np.ndarray) -> Measurements:
    """One track's measurements: rotvec (J, 3), transl (3,)."""
    return Measurements(
        track_id=np.array([7]),
        quat=quat_from_rotvec(rotvec)[None],
        rot_var=np.full((1, J), rot_var),
        rot_valid=np.ones((1, J), bool),
        transl_m=transl_m[None].astype(np.float64),
        transl_var=transl_var[None].astype(np.float64),
        transl_valid=np.ones(1, bool),
        betas=np.zeros((1, NUM_BETAS)),
        betas_var=np.ones(1),
    )


def _filterpy_run(zs, times, q, r, p0_pos, p0_vel):
    """Reference: filterpy constant-velocity filter + RTS on a scalar series."""
    kf = KalmanFilter(dim_x=2, dim_z=1)
    kf.x = np.array([[zs[0]], [0.0]])
    kf.P = np.diag([p0_pos**2, p0_vel**2])
    kf.H = np.array([[1.0, 0.0]])
    kf.R = np.array([[r]])
    xs, ps, fs, qs = [], [], [], []
    for k, z in enumerate(zs):
        dt = 0.0 if k == 0 else times[k] - times[k - 1]
        kf.F = np.array([[1.0, dt], [0.0, 1.0]])
        kf.Q = Q_continuous_white_noise(2, dt, q) if dt > 0 else np.zeros((2, 2))
        if k:
            kf.predict()
        kf.update(np.array([[z]]))
        xs.append(kf.x.copy())
        ps.append(kf.P.copy())
        fs.append(kf.F.copy())
        qs.append(kf.Q.copy())
    xs, ps = np.array(xs), np.array(ps)
    smoothed, _, _, _ = kf.rts_smoother(xs, ps, fs, qs)
    return xs[:, 0, 0], smoothed[:, 0, 0]


@pytest.fixture
def vfr_times() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate(([0.0], np.cumsum(rng.uniform(0.02, 0.06, size=59))))


@pytest.mark.parametrize("dt", [0.01, 0.04, 0.2])
def test_process_noise_is_filterpy_continuous_white_noise(dt):
    assert np.allclose(kalman.cv_process_noise(dt, 3.0), Q_continuous_white_noise(2, dt, 3.0))


def test_three_short_steps_add_up_to_one_long_one():
    """Integrated process noise is what makes 75 fps and 25 fps filter alike."""
    cov = np.array([[0.3, 0.1], [0.1, 2.0]])
    one = kalman.predict_cov(cov, kalman.cv_transition(0.12), kalman.cv_process_noise(0.12, 5.0))
    three = cov
    for _ in range(3):
        three = kalman.predict_cov(three, kalman.cv_transition(0.04), kalman.cv_process_noise(0.04, 5.0))
    assert np.allclose(one, three)


def test_translation_filter_and_smoother_match_filterpy(vfr_times):
    rng = np.random.default_rng(4)
    truth = 10.0 + 1.5 * np.sin(vfr_times)
    zs = truth + rng.normal(0.0, 0.15, size=len(vfr_times))
    r = 0.15**2
    bank = TrackBank(NO_GATE)
    records, filtered = [], []
    for t, z in zip(vfr_times, zs, strict=True):
        rec = bank.step(float(t), _meas(np.zeros((J, 3)), np.array([0.0, 0.0, z]), 1e-4, np.array([1, 1, r])))
        records.append(rec)
        filtered.append(rec.pos[0, 2])
    smoothed = [f.pos[0, 2] for f in smooth_backward(records, bank.capacity)]
    ref_f, ref_s = _filterpy_run(zs, vfr_times, NO_GATE.transl_accel_m_s2**2, r, INIT_POS_STD_M,
                                 INIT_SPEED_STD_M_S)
    assert np.allclose(filtered, ref_f, atol=1e-9)
    assert np.allclose(smoothed, ref_s, atol=1e-9)
    assert np.std(np.array(smoothed) - truth) < 0.5 * np.std(zs - truth)


def test_rotation_about_one_axis_matches_filterpy_on_the_angle(vfr_times):
    """On a fixed axis the manifold filter must reduce to the linear one on the angle."""
    rng = np.random.default_rng(5)
    joint = 4  # a knee: its own process-noise scale
    angles = 0.3 + 0.8 * np.sin(3.0 * vfr_times) + rng.normal(0.0, 0.08, size=len(vfr_times))
    r = 0.08**2
    bank = TrackBank(NO_GATE)
    records = []
    for t, a in zip(vfr_times, angles, strict=True):
        rotvec = np.zeros((J, 3))
        rotvec[joint, 0] = a
        records.append(bank.step(float(t), _meas(rotvec, np.array([0.0, 0.0, 5.0]), r, np.ones(3))))
    filtered = [rotvec_from_quat(rec.quat[0, joint])[0] for rec in records]
    smoothed = [rotvec_from_quat(f.quat[0, joint])[0] for f in smooth_backward(records, bank.capacity)]
    q = (NO_GATE.rot_accel_rad_s2 * JOINT_ACCEL_SCALE[joint]) ** 2
    ref_f, ref_s = _filterpy_run(angles, vfr_times, q, r, INIT_ROT_STD_RAD, INIT_ROT_SPEED_STD_RAD_S)
    assert np.allclose(filtered, ref_f, atol=1e-7)
    assert np.allclose(smoothed, ref_s, atol=1e-7)

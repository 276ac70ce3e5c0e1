"""Pitch homographies: fits from correspondences, propagation, the camera behind them, manual config."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from streamer.errors import ConfigError
from streamer.soccer import pitch_model
from streamer.soccer.calibrator import ManualCalibration
from streamer.soccer.homography import (
    CalibrationError,
    apply_homography,
    camera_from_homography,
    fit_homography,
    focal_from_homography,
    intrinsics,
    propagate,
    reprojection_rms_px,
)

W, H = 1280, 720


def broadcast_camera(pan_deg: float, tilt_deg: float, focal_px: float, centre_m=(0.0, -75.0, 20.0)):
    """K, R (pitch -> camera), t of a camera behind the near touchline looking at the pitch."""
    k = intrinsics(focal_px, (W / 2, H / 2))
    # camera axes: x right, y down, z forward; looking along +y (across the pitch), then pan/tilt
    base = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # rows: cam x, y, z in pitch axes
    turn = Rotation.from_euler("zx", [-pan_deg, -tilt_deg], degrees=True).as_matrix()
    rot = base @ turn.T
    t = -rot @ np.asarray(centre_m)
    return k, rot, t


def pitch_to_image(k, rot, t) -> np.ndarray:
    h = k @ np.column_stack([rot[:, 0], rot[:, 1], t])
    return h / h[2, 2]


CAMERAS = [(0.0, 15.0, 1500.0), (20.0, 12.0, 2200.0), (-25.0, 20.0, 1100.0), (8.0, 25.0, 3000.0)]


def visible(p2i: np.ndarray, pts_m: np.ndarray) -> np.ndarray:
    uv = apply_homography(p2i, pts_m)
    return np.isfinite(uv).all(1) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)


@pytest.mark.parametrize(("pan", "tilt", "focal"), CAMERAS)
def test_fit_recovers_pitch_points_within_5cm(pan, tilt, focal):
    k, rot, t = broadcast_camera(pan, tilt, focal)
    p2i = pitch_to_image(k, rot, t)
    grid = np.stack(np.meshgrid(np.linspace(-52.5, 52.5, 43), np.linspace(-34, 34, 29)), -1).reshape(-1, 2)
    grid = grid[visible(p2i, grid)]
    assert len(grid) > 20
    # four landmarks spread over the view, image positions rounded to 1/100 px as a click tool gives
    rng = np.random.default_rng(0)
    pick = grid[rng.choice(len(grid), 6, replace=False)]
    image_px = np.round(apply_homography(p2i, pick), 2)
    fitted = fit_homography(image_px, pick)
    error_m = np.linalg.norm(apply_homography(fitted, apply_homography(p2i, grid)) - grid, axis=1)
    assert error_m.max() < 0.05
    assert reprojection_rms_px(fitted, image_px, pick) < 0.05


def test_noisy_many_points_least_squares():
    k, rot, t = broadcast_camera(5.0, 15.0, 1600.0)
    p2i = pitch_to_image(k, rot, t)
    pts = np.array(list(pitch_model.landmarks().values()))
    pts = pts[visible(p2i, pts)]
    rng = np.random.default_rng(1)
    image_px = apply_homography(p2i, pts) + rng.normal(0, 0.3, (len(pts), 2))
    fitted = fit_homography(image_px, pts)
    assert reprojection_rms_px(fitted, image_px, pts) < 0.6
    centre = apply_homography(fitted, apply_homography(p2i, np.array([[0.0, 0.0]])))
    assert np.linalg.norm(centre) < 0.2


@pytest.mark.parametrize(
    ("image_px", "pitch_m", "message"),
    [
        ([[0, 0], [1, 1], [2, 2], [3, 3]], [[0, 0], [1, 0], [0, 1], [1, 1]], "one line"),
        ([[0, 0], [10, 0], [0, 10]], [[0, 0], [1, 0], [0, 1]], "at least 4"),
        ([[0, 0], [10, 0], [0, 10], [np.nan, 3]], [[0, 0], [1, 0], [0, 1], [1, 1]], "finite"),
    ],
)
def test_degenerate_correspondences_raise(image_px, pitch_m, message):
    with pytest.raises(CalibrationError, match=message):
        fit_homography(np.array(image_px, float), np.array(pitch_m, float))


def test_propagate_through_camera_motion():
    k, rot, t = broadcast_camera(0.0, 15.0, 1500.0)
    i2p = np.linalg.inv(pitch_to_image(k, rot, t))
    # the image moves 12 px left and zooms 2 % about the centre: pixel p -> A p
    affine = np.array([[1.02, 0.0, -12.0 - 0.02 * W / 2], [0.0, 1.02, -0.02 * H / 2]])
    moved = propagate(i2p, affine)
    p_prev = np.array([[300.0, 400.0], [900.0, 500.0]])
    p_cur = p_prev @ affine[:, :2].T + affine[:, 2]
    np.testing.assert_allclose(apply_homography(moved, p_cur), apply_homography(i2p, p_prev), atol=1e-9)


@pytest.mark.parametrize(("pan", "tilt", "focal"), CAMERAS)
def test_camera_behind_the_homography(pan, tilt, focal):
    k, rot, t = broadcast_camera(pan, tilt, focal)
    p2i = pitch_to_image(k, rot, t)
    f = focal_from_homography(p2i, (W / 2, H / 2))
    assert f == pytest.approx(focal, rel=1e-6)
    r_est, t_est = camera_from_homography(p2i, intrinsics(f, (W / 2, H / 2)))
    np.testing.assert_allclose(r_est, rot, atol=1e-6)
    np.testing.assert_allclose(t_est, t, atol=1e-4)


def test_mirrored_calibration_has_no_camera():
    k, rot, t = broadcast_camera(0.0, 15.0, 1500.0)
    flip = np.diag([1.0, -1.0, 1.0])  # y pointing toward the camera: a left-handed pitch frame
    assert camera_from_homography(pitch_to_image(k, rot, t) @ flip, k) is None


def test_manual_calibration_from_config_rows():
    k, rot, t = broadcast_camera(0.0, 15.0, 1500.0)
    p2i = pitch_to_image(k, rot, t)
    names = (
        "halfway_near_touchline",
        "halfway_far_touchline",
        "centre_circle_near",
        "left_penalty_far_front_corner",
        "right_penalty_far_front_corner",
    )
    marks = pitch_model.landmarks()
    pts = np.array([marks[n] for n in names])
    rows = [[*apply_homography(p2i, p[None])[0], *p] for p in pts]
    manual = ManualCalibration.from_points(3, rows)
    assert manual.frame_index == 3 and manual.rms_px < 1e-6
    np.testing.assert_allclose(
        manual.image_to_pitch @ p2i / (manual.image_to_pitch @ p2i)[2, 2], np.eye(3), atol=1e-6
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1, 2, 3]], "each row"),
        ([[0, 0, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1]], "at least 4"),
        ([["a", 0, 0, 0]] * 4, "numbers"),
        ([[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]], "one line"),
    ],
)
def test_manual_points_validation(rows, message):
    with pytest.raises(ConfigError, match=message):
        ManualCalibration.from_points(0, rows)

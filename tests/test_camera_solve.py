"""Focal / translation solve from posed bodies, pixels and a depth prior (synthetic projections)."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.fitting.camera_solve import CameraSolve, refine_camera, reprojection_px, solve_camera

PRINCIPAL = np.array([960.0, 540.0])


def scene(seed: int, players: int, depth_m: tuple[float, float], points: int = 17):
    """Random body-sized point clouds (P, J, 3) and translations (P, 3) in front of the camera."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(0.0, 0.25, (players, points, 3)) * [1.0, 3.0, 1.0]
    transl = np.stack([rng.uniform(-0.2, 0.2, players), rng.uniform(-0.05, 0.1, players),
                       rng.uniform(*depth_m, players)], 1)
    transl[:, :2] *= transl[:, 2:]  # stay within a ~20 degree field of view
    return pts, transl


@pytest.mark.parametrize(("focal_px", "depth_m", "players"), [
    (1200.0, (3.0, 9.0), 1),
    (3000.0, (4.0, 9.0), 3),
    (6000.0, (20.0, 60.0), 5),
])  # fmt: skip
def test_free_focal_and_translations_are_recovered_exactly(focal_px, depth_m, players):
    pts, transl = scene(1, players, depth_m)
    xy = reprojection_px(pts, transl, focal_px, PRINCIPAL)
    solve = solve_camera(pts, xy, np.ones(xy.shape[:2]), PRINCIPAL, transl[:, 2], 1.0, np.full(players, 3.0),
                         focal_px=None, fallback_focal_px=1000.0)
    assert solve.focal_ok
    np.testing.assert_allclose(solve.focal_px, focal_px, rtol=1e-6)
    np.testing.assert_allclose(solve.transl_m, transl, rtol=1e-6, atol=1e-6)


def test_known_focal_gives_translation_without_any_prior():
    pts, transl = scene(2, 4, (20.0, 80.0))
    xy = reprojection_px(pts, transl, 4000.0, PRINCIPAL)
    solve = solve_camera(pts, xy, np.ones(xy.shape[:2]), PRINCIPAL, np.full(4, np.nan), 1.0, np.full(4, 2.0),
                         focal_px=4000.0)
    assert solve.focal_px == 4000.0
    np.testing.assert_allclose(solve.transl_m, transl, rtol=1e-6)


def test_a_wrong_depth_prior_barely_moves_a_calibrated_far_player():
    """BLADE's Tz is capped at 10 m; with the focal known, 2D keypoints outweigh a weak (10 m std) prior."""
    pts, transl = scene(3, 3, (30.0, 60.0))
    rng = np.random.default_rng(0)
    xy = reprojection_px(pts, transl, 5000.0, PRINCIPAL) + rng.normal(0.0, 1.0, (3, 17, 2))
    solve = solve_camera(pts, xy, np.ones((3, 17)), PRINCIPAL, np.full(3, 8.0), 10.0, np.full(3, 2.0),
                         focal_px=5000.0)
    assert np.abs(solve.transl_m[:, 2] - transl[:, 2]).max() < 0.02 * transl[:, 2].min()


def test_free_focal_without_a_usable_prior_keeps_the_fallback():
    pts, transl = scene(4, 2, (30.0, 40.0))
    xy = reprojection_px(pts, transl, 3000.0, PRINCIPAL)
    solve = solve_camera(pts, xy, np.ones((2, 17)), PRINCIPAL, np.full(2, np.nan), 1.0, np.full(2, 2.0),
                         focal_px=None, fallback_focal_px=3000.0)
    assert not solve.focal_ok and solve.focal_px == 3000.0
    np.testing.assert_allclose(solve.transl_m, transl, rtol=1e-6)


def test_players_with_fewer_than_two_points_are_nan():
    pts, transl = scene(5, 3, (5.0, 8.0))
    xy = reprojection_px(pts, transl, 2000.0, PRINCIPAL)
    weight = np.ones((3, 17))
    weight[1, 1:] = 0.0
    xy[2, :] = np.nan  # no finite pixel at all
    solve = solve_camera(pts, xy, weight, PRINCIPAL, transl[:, 2], 1.0, np.full(3, 2.0), focal_px=2000.0)
    assert np.isfinite(solve.transl_m[0]).all() and np.isnan(solve.transl_m[1:]).all()


def test_a_free_focal_needs_a_fallback():
    pts, transl = scene(6, 1, (5.0, 6.0))
    with pytest.raises(ValueError, match="fallback"):
        solve_camera(pts, np.zeros((1, 17, 2)), np.ones((1, 17)), PRINCIPAL, [5.0], 1.0, [2.0])


@pytest.mark.parametrize("free_focal", [True, False])
def test_gauss_newton_lowers_the_reprojection_error(free_focal):
    pts, transl = scene(7, 3, (4.0, 9.0))
    rng = np.random.default_rng(1)
    xy = reprojection_px(pts, transl, 2500.0, PRINCIPAL) + rng.normal(0.0, 3.0, (3, 17, 2))
    args = (pts, xy, np.ones((3, 17)), PRINCIPAL, transl[:, 2] + 0.3, 1.0, np.full(3, 3.0))
    linear = solve_camera(*args, focal_px=None if free_focal else 2500.0, fallback_focal_px=2500.0)
    refined = refine_camera(linear, *args, free_focal=free_focal, steps=5)

    def rms(s: CameraSolve) -> float:
        return float(np.sqrt(((reprojection_px(pts, s.transl_m, s.focal_px, PRINCIPAL) - xy) ** 2).mean()))

    assert rms(refined) < rms(linear)
    assert rms(refined) < 4.0
    exact = reprojection_px(pts, transl, 2500.0, PRINCIPAL)
    truth = CameraSolve(2500.0, transl)
    same = refine_camera(truth, pts, exact, np.ones((3, 17)), PRINCIPAL, transl[:, 2], 1.0, np.full(3, 3.0),
                         free_focal=free_focal, steps=3)
    np.testing.assert_allclose(same.transl_m, transl, rtol=1e-9)

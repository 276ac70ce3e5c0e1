"""Quaternion manifold math of the smoother: round trips, hemispheres, unwrapping through π."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.smoothing.rotations import (
    boxminus,
    boxplus,
    geodesic_angle,
    quat_from_rotvec,
    quat_mul,
    rotvec_from_quat,
    unwrap_rotvec,
)


def _random_rotvecs(rng: np.random.Generator, n: int, max_angle: float = np.pi) -> np.ndarray:
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return axis * rng.uniform(0.0, max_angle, size=(n, 1))


def _matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula, an independent reference."""
    angle = np.linalg.norm(rotvec)
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


@pytest.mark.parametrize("angle", [0.0, 1e-9, 1e-4, 0.5, 3.0, np.pi - 1e-7, np.pi])
def test_rotvec_round_trip(angle):
    rotvec = angle * np.array([0.6, -0.8, 0.0])
    back = rotvec_from_quat(quat_from_rotvec(rotvec))
    # at exactly π, +πn and -πn are the same rotation
    assert np.allclose(_matrix(back), _matrix(rotvec), atol=1e-9)
    assert np.linalg.norm(back) <= np.pi + 1e-9


def test_quat_mul_composes_like_matrices():
    rng = np.random.default_rng(0)
    a, b = _random_rotvecs(rng, 20), _random_rotvecs(rng, 20)
    ab = rotvec_from_quat(quat_mul(quat_from_rotvec(a), quat_from_rotvec(b)))
    for i in range(20):
        assert np.allclose(_matrix(ab[i]), _matrix(a[i]) @ _matrix(b[i]), atol=1e-9)


def test_boxminus_inverts_boxplus_and_ignores_the_hemisphere():
    rng = np.random.default_rng(1)
    q = quat_from_rotvec(_random_rotvecs(rng, 50))
    delta = _random_rotvecs(rng, 50, max_angle=3.0)
    p = boxplus(q, delta)
    assert np.allclose(boxminus(p, q), delta, atol=1e-9)
    assert np.allclose(boxminus(-p, q), delta, atol=1e-9)  # -p is the same rotation
    assert np.allclose(geodesic_angle(p, q), np.linalg.norm(delta, axis=1), atol=1e-7)


def test_boxminus_is_small_across_the_axis_angle_flip():
    """Raw axis-angle jumps by ~2π at half a turn; the manifold difference does not."""
    before = np.array([0.0, np.pi - 0.01, 0.0])
    after = np.array([0.0, -(np.pi - 0.01), 0.0])  # 0.02 rad further on, canonical form
    assert np.linalg.norm(after - before) > 6.0
    delta = boxminus(quat_from_rotvec(after), quat_from_rotvec(before))
    assert np.allclose(delta, [0.0, 0.02, 0.0], atol=1e-9)


def test_unwrap_keeps_a_half_turn_sweep_continuous():
    angles = np.linspace(2.5, 4.0, 200)  # through π about one axis
    axis = np.array([0.0, 0.6, 0.8])
    canonical = rotvec_from_quat(quat_from_rotvec(angles[:, None] * axis))
    assert np.max(np.linalg.norm(np.diff(canonical, axis=0), axis=1)) > 6.0  # the flip
    out = [canonical[0]]
    for rv in canonical[1:]:
        out.append(unwrap_rotvec(rv, out[-1]))
    out = np.array(out)
    assert np.max(np.linalg.norm(np.diff(out, axis=0), axis=1)) < 0.01
    assert np.allclose(out, angles[:, None] * axis, atol=1e-9)  # same rotations, continuous vector


def test_unwrap_near_identity_borrows_the_previous_axis():
    previous = np.array([2 * np.pi - 0.01, 0.0, 0.0])  # ≈ identity, written as a full turn
    out = unwrap_rotvec(np.zeros(3), previous)
    assert np.allclose(out, [2 * np.pi, 0.0, 0.0])

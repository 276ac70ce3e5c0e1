"""Rotation manifold math on unit quaternions, vectorised over any leading shape.

Shape legend: ``...`` any leading batch shape (frames, tracks, joints).

Quaternions are ``(..., 4)`` float64, scalar first ``(w, x, y, z)``. Rotation
vectors (axis-angle, radians) are ``(..., 3)``. The filter lives on the manifold:
a rotation is moved by a tangent vector with :func:`boxplus` (``q ⊗ exp(δ)``, the
perturbation in the joint's own frame) and two rotations are compared with
:func:`boxminus`, which picks the quaternion hemisphere so the difference is the
shortest one. Raw axis-angle is never differenced: it jumps from ``+π n`` to
``-π n`` when a rotation passes half a turn, which is where an upright body seen by
a camera (y down) sits for its root.
"""

from __future__ import annotations

import numpy as np

#: below this angle (radians) sin(x)/x style ratios use their Taylor series
_SMALL_ANGLE = 1e-6


def quat_from_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)`` from rotation vectors ``(..., 3)`` (radians)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1)
    half = 0.5 * angle
    small = angle < _SMALL_ANGLE
    safe = np.where(small, 1.0, angle)
    # sin(θ/2)/θ, with its series 1/2 - θ²/48 near zero
    scale = np.where(small, 0.5 - angle * angle / 48.0, np.sin(half) / safe)
    out = np.empty(rotvec.shape[:-1] + (4,), dtype=np.float64)
    out[..., 0] = np.cos(half)
    out[..., 1:] = rotvec * scale[..., None]
    return out


def rotvec_from_quat(quat: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(..., 3)`` with angle in ``[0, π]`` from quaternions ``(..., 4)``.

    The quaternion need not be in the ``w ≥ 0`` hemisphere (``q`` and ``-q`` give
    the same answer).
    """
    quat = np.asarray(quat, dtype=np.float64)
    sign = np.where(quat[..., :1] < 0.0, -1.0, 1.0)
    w = quat[..., 0] * sign[..., 0]
    xyz = quat[..., 1:] * sign
    sin_half = np.linalg.norm(xyz, axis=-1)
    angle = 2.0 * np.arctan2(sin_half, w)
    small = sin_half < _SMALL_ANGLE
    # θ / sin(θ/2) → 2 / w near zero
    scale = np.where(small, 2.0 / np.maximum(w, _SMALL_ANGLE), angle / np.where(small, 1.0, sin_half))
    return xyz * scale[..., None]


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a ⊗ b`` of ``(..., 4)`` quaternions (broadcasting)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        axis=-1,
    )


def quat_conj(quat: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion), ``(..., 4)``."""
    out = np.array(quat, dtype=np.float64, copy=True)
    out[..., 1:] *= -1.0
    return out


def quat_normalize(quat: np.ndarray) -> np.ndarray:
    """Unit-norm quaternions ``(..., 4)``."""
    return quat / np.linalg.norm(quat, axis=-1, keepdims=True)


def boxplus(quat: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``q ⊗ exp(δ)``: move rotations ``(..., 4)`` by tangent vectors ``(..., 3)`` (radians)."""
    return quat_normalize(quat_mul(quat, quat_from_rotvec(delta)))


def boxminus(quat_to: np.ndarray, quat_from: np.ndarray) -> np.ndarray:
    """Tangent vector ``δ`` ``(..., 3)`` with ``quat_from ⊞ δ = quat_to``, shortest way (|δ| ≤ π)."""
    return rotvec_from_quat(quat_mul(quat_conj(quat_from), quat_to))


def geodesic_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle ``(...)`` in radians between rotations ``a`` and ``b`` (``(..., 4)`` each)."""
    dot = np.abs(np.sum(np.asarray(a) * np.asarray(b), axis=-1))
    return 2.0 * np.arccos(np.clip(dot, 0.0, 1.0))


def unwrap_rotvec(rotvec: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """The rotation vector equivalent to ``rotvec`` that lies closest to ``previous``.

    ``θ n`` and ``(θ + 2πk) n`` are the same rotation for every integer ``k``;
    choosing ``k`` against the previous output keeps an output sequence
    continuous where the canonical form (angle ≤ π) would flip sign.

    Args:
        rotvec: (..., 3) canonical rotation vectors (angle in [0, π]).
        previous: (..., 3) the previous outputs (any angle).

    Returns:
        (..., 3) rotation vectors, angle possibly above π.
    """
    rotvec = np.asarray(rotvec, dtype=np.float64)
    previous = np.asarray(previous, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1)
    prev_norm = np.linalg.norm(previous, axis=-1)
    tiny = angle < _SMALL_ANGLE
    # near the identity the axis is undefined: borrow the previous one
    axis = np.where(
        tiny[..., None],
        previous / np.where(prev_norm > _SMALL_ANGLE, prev_norm, 1.0)[..., None],
        rotvec / np.where(tiny, 1.0, angle)[..., None],
    )
    along = np.sum(axis * previous, axis=-1)
    turns = np.round((along - angle) / (2.0 * np.pi))
    return axis * (angle + 2.0 * np.pi * turns)[..., None]

"""Rotation conversions used by BLADE's pose heads: 6D -> matrix -> quaternion -> axis-angle.

Shape legend: ``...`` any leading batch dimensions.

Conventions (verified against the reference fixture, see tests/test_blade_posenet.py):

* 6D -> matrix follows Zhou et al. as AiOS/detrsmpl implement it: the 6 numbers are read
  as a (3, 2) matrix, Gram-Schmidt makes two unit **columns** b1, b2, and b3 = b1 x b2.
  So the 6D vector is ``[R00, R01, R10, R11, R20, R21]`` (first two columns, row-major).
* matrix -> axis-angle goes through a quaternion exactly as pytorch3d 0.7.5 does it: the
  best-conditioned of four candidates is picked and **not** sign-standardised (pytorch3d
  0.7.6 started forcing a non-negative real part). The resulting rotation vector can
  therefore have a norm in (pi, 2*pi); it encodes the same rotation as the standardised
  one, and the SMPL-X layer accepts both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: below this rotation angle (radians) sin(a/2)/a uses its Taylor expansion
_SMALL_ANGLE_RAD = 1e-6


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """6D rotation representation to rotation matrices.

    Args:
        rot6d: (..., 6) first two columns of R, row-major: ``[R00, R01, R10, R11, R20, R21]``.

    Returns:
        (..., 3, 3) rotation matrices (columns b1, b2, b1 x b2).
    """
    pairs = rot6d.reshape(*rot6d.shape[:-1], 3, 2)
    a1, a2 = pairs[..., 0], pairs[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def _sqrt_non_negative(x: torch.Tensor) -> torch.Tensor:
    """sqrt(max(x, 0)) without NaNs for slightly negative round-off."""
    return torch.where(x > 0, torch.sqrt(x.clamp_min(0)), torch.zeros_like(x))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices to quaternions (real part first), pytorch3d 0.7.5 semantics.

    Args:
        matrix: (..., 3, 3).

    Returns:
        (..., 4) quaternions ``(w, x, y, z)``; the sign is whatever the best-conditioned
        candidate gives (no standardisation).
    """
    m = matrix.reshape(*matrix.shape[:-2], 9)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    q_abs = _sqrt_non_negative(torch.stack((
        1.0 + m00 + m11 + m22,
        1.0 + m00 - m11 - m22,
        1.0 - m00 + m11 - m22,
        1.0 - m00 - m11 + m22,
    ), dim=-1))
    # row k is the quaternion multiplied by 2 * q_abs[k]; each row is a valid candidate
    candidates = torch.stack((
        torch.stack((q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01), dim=-1),
        torch.stack((m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20), dim=-1),
        torch.stack((m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21), dim=-1),
        torch.stack((m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2), dim=-1),
    ), dim=-2)
    floor = torch.tensor(0.1, dtype=q_abs.dtype, device=q_abs.device)
    candidates = candidates / (2.0 * torch.maximum(q_abs[..., None], floor))
    best = q_abs.argmax(dim=-1)
    return torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """Quaternions (real part first) to rotation vectors, pytorch3d 0.7.5 semantics.

    Args:
        quaternion: (..., 4) ``(w, x, y, z)``, not necessarily with w >= 0.

    Returns:
        (..., 3) axis * angle in radians; the angle is ``2 * atan2(|xyz|, w)`` in [0, 2*pi].
    """
    xyz = quaternion[..., 1:]
    norm = torch.linalg.vector_norm(xyz, dim=-1, keepdim=True)
    half = torch.atan2(norm, quaternion[..., :1])
    angle = 2.0 * half
    small = angle.abs() < _SMALL_ANGLE_RAD
    safe_angle = torch.where(small, torch.ones_like(angle), angle)
    ratio = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe_angle)
    return xyz / ratio


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices to (..., 3) rotation vectors (via the quaternion)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rot6d_to_axis_angle(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) 6D rotations to (..., 3) rotation vectors, as AiOS's post-processing does."""
    return matrix_to_axis_angle(rot6d_to_matrix(rot6d))

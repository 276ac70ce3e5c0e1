"""Rotation conversions of the BLADE heads: 6D column convention and pytorch3d-0.7.5 axis-angle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from streamer.models.blade.rotation import (
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_axis_angle,
    rot6d_to_axis_angle,
    rot6d_to_matrix,
)


def _random_rotations(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(Rotation.random(n, random_state=seed).as_matrix()).float()


def test_rot6d_reads_the_first_two_columns_row_major():
    rotations = _random_rotations(64)
    rot6d = rotations[:, :, :2].reshape(64, 6)  # [R00, R01, R10, R11, R20, R21]
    torch.testing.assert_close(rot6d_to_matrix(rot6d), rotations, atol=1e-6, rtol=0)


def test_rot6d_orthonormalises_any_input():
    matrices = rot6d_to_matrix(torch.randn(100, 6, generator=torch.Generator().manual_seed(1)) * 3)
    eye = torch.eye(3).expand(100, 3, 3)
    torch.testing.assert_close(matrices.transpose(-1, -2) @ matrices, eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(matrices), torch.ones(100), atol=1e-5, rtol=0)


def test_axis_angle_encodes_the_same_rotation():
    rotations = _random_rotations(500, seed=2)
    rotvec = matrix_to_axis_angle(rotations).double().numpy()
    back = Rotation.from_rotvec(rotvec).as_matrix()
    np.testing.assert_allclose(back, rotations.double().numpy(), atol=2e-6)


def test_quaternion_is_not_sign_standardised_like_pytorch3d_075():
    # a -170 degree turn about z: 1 - m00 - m11 + m22 is the largest candidate, so the z component
    # is taken positive and the real part keeps the sign of m10 - m01 = 2 sin(-170 deg) < 0
    angle = math.radians(170)
    rotation = torch.tensor(Rotation.from_rotvec([0, 0, -angle]).as_matrix(), dtype=torch.float64)
    quaternion = matrix_to_quaternion(rotation)
    assert quaternion[0] < 0 < quaternion[3]
    rotvec = quaternion_to_axis_angle(quaternion)
    assert rotvec[2] > math.pi  # the (2 pi - angle) rotation about +z, same rotation as -angle about z
    np.testing.assert_allclose(Rotation.from_rotvec(rotvec.numpy()).as_matrix(), rotation.numpy(), atol=1e-12)


@pytest.mark.parametrize("angle", [0.0, 1e-8, 1e-3])
def test_small_angles_use_the_taylor_branch(angle):
    rotvec = torch.tensor([angle, 0.0, 0.0], dtype=torch.float64)
    matrix = torch.tensor(Rotation.from_rotvec(rotvec.numpy()).as_matrix())
    torch.testing.assert_close(matrix_to_axis_angle(matrix), rotvec, atol=1e-12, rtol=0)


def test_rot6d_to_axis_angle_keeps_leading_dimensions():
    assert rot6d_to_axis_angle(torch.randn(2, 5, 22, 6)).shape == (2, 5, 22, 3)

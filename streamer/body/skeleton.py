"""The SMPL-X skeleton: joint names, kinematic tree, and torch rotation/kinematics helpers.

Shape legend: ``*B`` any leading batch dims; ``J`` joints; ``V`` vertices.

SMPL-X's canonical body frame: x toward the body's left, y up, z forward (the way the
body faces). Rotations are axis-angle vectors (radians) or 3x3 matrices.

Every backend of :mod:`streamer.body` returns the 22 body joints (root + the 21 joints
``body_pose`` rotates) first and in SMPL-X order, named as here, so a consumer that
only needs the body can index ``joints[..., :NUM_BODY_JOINTS_WITH_ROOT, :]`` whatever
the backend.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from streamer.records import (
    BODY_JOINT_NAMES,
    NUM_BETAS,
    NUM_BODY_JOINTS,
    NUM_BODY_JOINTS_WITH_ROOT,
    NUM_HAND_JOINTS,
)

__all__ = [
    "BODY_JOINT_NAMES", "NUM_BETAS", "NUM_BODY_JOINTS", "NUM_BODY_JOINTS_WITH_ROOT", "NUM_HAND_JOINTS",
    "NUM_SMPLX_JOINTS", "SMPLX_JOINT_NAMES", "SMPLX_PARENTS", "SMPLX_VERTEX_JOINT_NAMES",
    "axis_angle_to_matrix", "body_ancestor", "forward_kinematics", "joint_depths",
]

_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
_HAND_JOINT_NAMES = tuple(
    f"{side}_{finger}{k}" for side in ("left", "right") for finger in _FINGERS for k in (1, 2, 3)
)

#: the 55 joints of the SMPL-X skeleton, in the model's order
SMPLX_JOINT_NAMES: tuple[str, ...] = (
    *BODY_JOINT_NAMES, "jaw", "left_eye_smplhf", "right_eye_smplhf", *_HAND_JOINT_NAMES,
)

#: the 21 surface points the ``smplx`` package appends after the skeleton (picked vertices)
SMPLX_VERTEX_JOINT_NAMES: tuple[str, ...] = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
    *(f"{side}_{tip}" for side in ("left", "right") for tip in ("thumb", "index", "middle", "ring", "pinky")),
)


def _smplx_parents() -> tuple[int, ...]:
    body = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
    face = (15, 15, 15)  # jaw, left eye, right eye hang off the head
    hands: list[int] = []
    for wrist in (20, 21):
        for _ in _FINGERS:
            first = NUM_BODY_JOINTS_WITH_ROOT + len(face) + len(hands)
            hands += [wrist, first, first + 1]  # each finger is a chain of three off the wrist
    return body + face + tuple(hands)


#: parent of each SMPL-X joint (-1 for the pelvis), the model's kinematic tree
SMPLX_PARENTS: tuple[int, ...] = _smplx_parents()

#: pelvis + 21 body joints + jaw and two eyes + two hands of 15
NUM_SMPLX_JOINTS = NUM_BODY_JOINTS_WITH_ROOT + 3 + 2 * NUM_HAND_JOINTS

if not len(SMPLX_PARENTS) == len(SMPLX_JOINT_NAMES) == NUM_SMPLX_JOINTS:  # pragma: no cover
    raise RuntimeError("SMPL-X joint tables disagree")


def joint_depths(parents: tuple[int, ...] | list[int]) -> np.ndarray:
    """(J,) int64 number of edges from each joint to the root (parents listed before children)."""
    depth = np.zeros(len(parents), np.int64)
    for j, p in enumerate(parents):
        depth[j] = 0 if p < 0 else depth[p] + 1
    return depth


def body_ancestor(joint: int, parents: tuple[int, ...] = SMPLX_PARENTS) -> int:
    """The nearest body joint (index < 22) at or above ``joint``: fingers → wrist, jaw/eyes → head."""
    while joint >= NUM_BODY_JOINTS_WITH_ROOT:
        joint = parents[joint]
    return joint


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (*B, 3) axis-angle (radians) → (*B, 3, 3) rotation matrices.

    Differentiable everywhere, including at zero rotation (the small-angle branch uses
    the Taylor series so the gradient there is exact rather than NaN).
    """
    angle_sq = (axis_angle * axis_angle).sum(-1, keepdim=True)[..., None]  # (*B, 1, 1)
    small = angle_sq < 1e-8
    safe_sq = torch.where(small, torch.ones_like(angle_sq), angle_sq)
    angle = safe_sq.sqrt()
    # sin(a)/a and (1 - cos(a))/a^2, with their series near 0
    sinc = torch.where(small, 1.0 - angle_sq / 6.0, torch.sin(angle) / angle)
    cosc = torch.where(small, 0.5 - angle_sq / 24.0, (1.0 - torch.cos(angle)) / safe_sq)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sinc * skew + cosc * (skew @ skew)


@lru_cache(maxsize=16)
def _levels(parents: tuple[int, ...]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Joints grouped by depth: ((joints, their parents), ...) from the root level down."""
    depth = joint_depths(parents)
    parent = np.asarray(parents)
    return tuple((np.flatnonzero(depth == d), parent[depth == d]) for d in range(int(depth.max()) + 1))


def forward_kinematics(
    local_rotmats: torch.Tensor, rest_joints: torch.Tensor, parents: tuple[int, ...] | list[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """World rotations and positions of a posed skeleton (the root stays at its rest position).

    Joints of one depth are processed together, so the Python loop runs once per tree level
    (12 for SMPL-X) rather than once per joint.

    Args:
        local_rotmats: (*B, J, 3, 3) each joint's rotation relative to its parent.
        rest_joints: (*B, J, 3) or (J, 3) joint positions in the rest pose.
        parents: (J,) parent index per joint, -1 for the root (one root).

    Returns:
        world_rotmats (*B, J, 3, 3) and joints (*B, J, 3):
        ``joint[j] = joint[p] + R_world[p] @ (rest[j] - rest[p])``, as in SMPL-X's LBS.
    """
    batch = local_rotmats.shape[:-3]
    rest = rest_joints.expand(*batch, *rest_joints.shape[-2:])
    levels = _levels(tuple(int(p) for p in parents))
    row = np.zeros(len(parents), np.int64)  # where each joint sits in the growing stacks
    root = levels[0][0]
    rot_all = local_rotmats[..., root, :, :]
    pos_all = rest[..., root, :]
    row[root] = np.arange(len(root))
    for joints, parent in levels[1:]:
        parent_rot = rot_all[..., row[parent], :, :]
        offset = rest[..., joints, :] - rest[..., parent, :]
        rot = parent_rot @ local_rotmats[..., joints, :, :]
        pos = pos_all[..., row[parent], :] + (parent_rot @ offset[..., None])[..., 0]
        row[joints] = rot_all.shape[-3] + np.arange(len(joints))
        rot_all = torch.cat([rot_all, rot], -3)
        pos_all = torch.cat([pos_all, pos], -2)
    back = torch.from_numpy(row)
    return rot_all[..., back, :, :], pos_all[..., back, :]

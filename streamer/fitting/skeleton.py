"""A fast, differentiable stand-in for a body model's joints: the fitter's forward model.

Shape legend: ``N`` player-frames; ``B`` = 22 SMPL-X body joints (root first); ``E`` extra
points (finger joints, vertex landmarks such as the nose or the heels); ``P = B + E``.

Every :class:`~streamer.body.BodyModel` poses its 22 body joints by forward kinematics of a
rest skeleton that is linear in the shape coefficients (SMPL-X regresses it from the shaped
template, ``mannequin-x`` is calibrated to do the same). :class:`FitSkeleton` probes that
rest skeleton once through the model's public API (one batched call at zero pose: the mean
shape and each unit beta) and then poses it itself, with one batched matrix product per tree
level (8 levels) instead of one per joint, and without skinning 10k vertices per iteration as
the ``smplx`` backend would. For the 22 body joints the result is exact (a test compares it
with the backend). Extra points are carried rigidly by one body joint — finger joints by
their wrist (hands stay at the model's rest hand pose, as the interface fixes them), face
points by the head, toes by the foot, heels by the ankle — exact for skeleton joints, a close
approximation for skinned surface points (the ``smplx`` package's vertex landmarks, or those
:mod:`streamer.fitting.landmarks` picks on a mesh without them; their offsets are probed the
same way and taken as linear in the shape). The fitter reports the body joints only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from streamer.body.model import BodyModel
from streamer.body.skeleton import (
    BODY_JOINT_NAMES,
    NUM_BETAS,
    NUM_BODY_JOINTS_WITH_ROOT,
    SMPLX_JOINT_NAMES,
    SMPLX_PARENTS,
    axis_angle_to_matrix,
    body_ancestor,
    joint_depths,
)

#: the body joint that carries each vertex landmark (the ``smplx`` package's surface points)
LANDMARK_OWNER: dict[str, str] = {
    "nose": "head", "left_eye": "head", "right_eye": "head", "left_ear": "head", "right_ear": "head",
    "left_big_toe": "left_foot", "left_small_toe": "left_foot", "left_heel": "left_ankle",
    "right_big_toe": "right_foot", "right_small_toe": "right_foot", "right_heel": "right_ankle",
    **{f"{s}_{tip}": f"{s}_wrist" for s in ("left", "right")
       for tip in ("thumb", "index", "middle", "ring", "pinky")},
}  # fmt: skip

_BODY_PARENTS = SMPLX_PARENTS[:NUM_BODY_JOINTS_WITH_ROOT]


def owner_joint(name: str) -> int | None:
    """Body-joint index (0..21) that rigidly carries the model point ``name``, or None if unknown."""
    if name in BODY_JOINT_NAMES:
        return BODY_JOINT_NAMES.index(name)
    if name in SMPLX_JOINT_NAMES:
        return body_ancestor(SMPLX_JOINT_NAMES.index(name))
    if name in LANDMARK_OWNER:
        return BODY_JOINT_NAMES.index(LANDMARK_OWNER[name])
    return None


def _tree_levels(parents: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per depth level: (joints of the level, position of each one's parent in the previous level)."""
    depth = joint_depths(parents)
    levels = [np.flatnonzero(depth == d) for d in range(int(depth.max()) + 1)]
    out = []
    for d, joints in enumerate(levels):
        if d == 0:
            out.append((joints, np.zeros(0, np.int64)))
            continue
        prev = {int(j): k for k, j in enumerate(levels[d - 1])}
        out.append((joints, np.array([prev[parents[j]] for j in joints], np.int64)))
    return out


@dataclass(frozen=True, slots=True)
class PosedSkeleton:
    """Output of :meth:`FitSkeleton.pose`.

    Attributes:
        points: (N, P) x 3 float32: the 22 body joints, then the extra points, camera frame.
        rotations: (N, B, 3, 3) world (camera-frame) rotation of each body joint.
    """

    points: torch.Tensor
    rotations: torch.Tensor


class FitSkeleton:
    """The 22 body joints (plus chosen extra points) of a body model, posed in torch.

    Args:
        body: the body model to mimic.
        extra_names: extra points to carry: names from ``body.joint_names`` or keys of
            ``landmark_vertex``; anything else raises ValueError.
        landmark_vertex: surface landmarks the model does not return as joints → the mesh
            vertex that stands for each (see :mod:`streamer.fitting.landmarks`).
    """

    def __init__(self, body: BodyModel, extra_names: tuple[str, ...] = (),
                 landmark_vertex: dict[str, int] | None = None) -> None:
        names = body.joint_names
        landmark_vertex = landmark_vertex or {}
        missing = [n for n in extra_names
                   if (n not in names and n not in landmark_vertex) or owner_joint(n) is None]
        if missing:
            raise ValueError(f"{body.name} body model cannot carry points {missing}")
        self.body_name = body.name
        self.extra_names = tuple(extra_names)
        self.point_names = BODY_JOINT_NAMES + self.extra_names
        probe_betas = torch.cat([torch.zeros(1, NUM_BETAS), torch.eye(NUM_BETAS)])
        from_mesh = [n for n in self.extra_names if n not in names]
        with torch.no_grad():  # zero pose: (11, J, 3) joints, and vertices where landmarks need them
            if from_mesh:
                out = body.forward(betas=probe_betas)
                joints, vertices = out.joints.to(torch.float64), out.vertices.to(torch.float64)
            else:
                joints, vertices = body.joints(betas=probe_betas).to(torch.float64), None
        rest = torch.stack([vertices[:, landmark_vertex[n]] if n in from_mesh and vertices is not None
                            else joints[:, names.index(n)] for n in self.point_names], 1)
        self.owner = torch.tensor([owner_joint(n) for n in self.extra_names], dtype=torch.long)
        body_rest, extra_rest = rest[:, :NUM_BODY_JOINTS_WITH_ROOT], rest[:, NUM_BODY_JOINTS_WITH_ROOT:]
        offsets = extra_rest - body_rest[:, self.owner]  # rigid offsets in the owner's rest frame
        #: (B, 3) mean-shape rest joints and (B, 3, 10) their change per unit beta
        self.rest_base = body_rest[0].float()
        self.rest_dirs = (body_rest[1:] - body_rest[:1]).permute(1, 2, 0).float()
        #: (E, 3) and (E, 3, 10): the same for the extra points' offsets from their owners
        self.offset_base = offsets[0].float()
        self.offset_dirs = (offsets[1:] - offsets[:1]).permute(1, 2, 0).float()
        levels = _tree_levels(_BODY_PARENTS)
        self._order = torch.from_numpy(np.concatenate([j for j, _ in levels]))  # joint order -> level-major
        self._unsort = torch.argsort(self._order)  # level-major order -> joint order
        self._parent = torch.tensor([max(p, 0) for p in _BODY_PARENTS])
        #: per level: (first position in level-major order, joints in it, how to reach their parents
        #: in the previous level: an index tensor, or an int k for a contiguous run from position k)
        self._plan: list[tuple[int, int, torch.Tensor | int]] = []
        start = 0
        for joints, parent_pos in levels:
            run = len(parent_pos) and bool((np.diff(parent_pos) == 1).all())
            self._plan.append((start, len(joints), int(parent_pos[0]) if run else torch.from_numpy(parent_pos)))
            start += len(joints)

    @property
    def num_points(self) -> int:
        return NUM_BODY_JOINTS_WITH_ROOT + len(self.extra_names)

    def index(self, name: str) -> int:
        """Position of the point ``name`` among :attr:`point_names`."""
        return self.point_names.index(name)

    def joints_np(self, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                  transl: np.ndarray) -> np.ndarray:
        """(N, 22, 3) float32 body joints for numpy parameters (N, 10), (N, 3), (N, 21, 3), (N, 3).

        The smoother's ``joints_fn``: the body model's body joints, exactly, without its mesh.
        """
        args = [torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (betas, global_orient, transl)]
        pose = torch.as_tensor(np.asarray(body_pose), dtype=torch.float32).reshape(len(args[0]), -1, 3)
        with torch.no_grad():
            points = self.pose(args[0], args[1], pose, args[2]).points
        return points[:, :NUM_BODY_JOINTS_WITH_ROOT].numpy()

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """(N, B, 3) rest joints for (N, 10) betas."""
        return self.rest_base + torch.einsum("jck,nk->njc", self.rest_dirs, betas)

    def pose(
        self, betas: torch.Tensor, global_orient: torch.Tensor, body_pose: torch.Tensor, transl: torch.Tensor
    ) -> PosedSkeleton:
        """Pose the skeleton (SMPL-X semantics: root rotates about the pelvis, then ``transl``).

        Args:
            betas: (N, 10). global_orient: (N, 3) axis-angle. body_pose: (N, 21, 3) axis-angle.
            transl: (N, 3) metres.
        """
        local = axis_angle_to_matrix(torch.cat([global_orient[:, None], body_pose], 1))  # (N, B, 3, 3)
        return self.pose_matrices(betas, local, transl)

    def pose_matrices(self, betas: torch.Tensor, local: torch.Tensor, transl: torch.Tensor) -> PosedSkeleton:
        """As :meth:`pose` with (N, B, 3, 3) local rotation matrices (root first)."""
        rest = self.rest_joints(betas)  # (N, B, 3)
        bone = rest - rest.index_select(1, self._parent)  # offset from the parent, rest frame (root: unused)
        # level-major order, so that each level is a slice; gathers are index_select or slices
        # (cheaper to differentiate than advanced indexing, which the optimiser runs ~40 times
        # per iteration otherwise)
        # (each level's part taken by one split, not a slice per level: a slice's backward writes
        # its gradient into a zero tensor of the whole, one per level and iteration; same values)
        sizes = [n for _, n, _ in self._plan]
        local_levels = local.index_select(1, self._order).split(sizes, 1)
        bone_levels = bone.index_select(1, self._order).split(sizes, 1)
        rot_levels: list[torch.Tensor] = []
        pos_levels: list[torch.Tensor] = []
        for d, ((_, n, parents), level_local, level_bone) in enumerate(
                zip(self._plan, local_levels, bone_levels, strict=True)):
            if d == 0:
                rot_levels.append(level_local)
                pos_levels.append(rest[:, :1])
                continue
            if isinstance(parents, int):
                parent_rot = rot_levels[-1][:, parents:parents + n]  # (N, L, 3, 3)
                parent_pos = pos_levels[-1][:, parents:parents + n]
            else:
                parent_rot = rot_levels[-1].index_select(1, parents)
                parent_pos = pos_levels[-1].index_select(1, parents)
            rot_levels.append(parent_rot @ level_local)
            pos_levels.append(parent_pos + (parent_rot @ level_bone[..., None])[..., 0])
        rotations = torch.cat(rot_levels, 1).index_select(1, self._unsort)
        joints = torch.cat(pos_levels, 1).index_select(1, self._unsort) + transl[:, None]
        if not self.extra_names:
            return PosedSkeleton(joints, rotations)
        offsets = self.offset_base + torch.einsum("eck,nk->nec", self.offset_dirs, betas)
        extra = (joints.index_select(1, self.owner)
                 + (rotations.index_select(1, self.owner) @ offsets[..., None])[..., 0])
        return PosedSkeleton(torch.cat([joints, extra], 1), rotations)


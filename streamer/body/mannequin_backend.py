"""Body-model backend on ``mannequin-x``: licence-free bodies driven by SMPL-X parameters.

Shape legend: ``N`` flattened batch; ``V`` vertices; ``Jm`` the mannequin's joints (54);
``J`` joints returned (52: the 22 SMPL-X body joints, then 30 finger joints).

``mannequin-x`` ships two designs: ``wooden`` (skinned, 24k vertices, detailed) and
``convex`` (rigid convex hulls; ``lod`` 0/1/2 = 5466/2404/704 vertices, fast). Its skeleton
is calibrated against SMPL-X: for the same betas/pose its body joints sit where SMPL-X's
do, and ``body_pose`` uses SMPL-X's joint order and axes, ``global_orient`` rotates about
the pelvis and ``transl`` shifts everything, exactly like SMPL-X.

Differences from the ``smplx`` backend (documented, tested):

* no jaw or eye joints and no face surface points (nose, eyes, ears) or toe/heel/fingertip
  points; the returned joints are the 22 body joints then the 30 finger joints, named as
  in SMPL-X (the mannequin's extra zero-length ``L_Hand``/``R_Hand`` skinning joints,
  which coincide with the wrists, are dropped);
* the surface is a mannequin, not the SMPL-X skin: vertices differ in count and place;
* joints are computed in torch and carry gradients to pose, translation and betas. Convex
  vertices are posed in torch too (each rides rigidly on one joint; exact, and
  differentiable in pose and translation; the per-shape rest geometry comes from the
  package); wooden vertices come from the package's numpy skinning and carry no gradient.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from streamer.body.model import BodyModel, FlatParams, flatten_params
from streamer.body.skeleton import (
    BODY_JOINT_NAMES,
    NUM_BETAS,
    NUM_BODY_JOINTS,
    axis_angle_to_matrix,
    forward_kinematics,
    joint_depths,
)
from streamer.errors import ConfigError, MissingDependencyError

#: mannequin's zero-length skinning joints at the wrists, not SMPL-X joints
_SKIN_ONLY_JOINTS = ("L_Hand", "R_Hand")
#: body shapes whose package models are kept ready (a match has 23 people)
_SHAPE_CACHE = 32
#: test rotation (radians) used to find which joint carries each vertex
_PROBE_ANGLE = 0.6


def smplx_joint_name(mannequin_name: str) -> str:
    """``L_Knee`` → ``left_knee``, ``Spine1`` → ``spine1`` (mannequin already uses SMPL-X's names)."""
    for prefix, side in (("L_", "left_"), ("R_", "right_")):
        if mannequin_name.startswith(prefix):
            return side + mannequin_name[len(prefix):].lower()
    return mannequin_name.lower()


def _import_mannequin() -> type:
    try:
        from mannequin import Mannequin
    except ImportError as exc:
        raise MissingDependencyError("the mannequin body model needs mannequin-x: pip install mannequin-x") from exc
    return Mannequin


class MannequinBody(BodyModel):
    """SMPL-X-driven mannequin (``mannequin-x``).

    Args:
        kind: ``"wooden"`` (detailed, skinned) or ``"convex"`` (rigid hulls, fast).
        lod: convex level of detail 0 (finest) .. 2 (coarsest); must be None for wooden.
        flat_hand_mean: False = zero hand rotations give SMPL-X's relaxed mean hand.
    """

    name = "mannequin"

    def __init__(self, kind: str = "wooden", *, lod: int | None = None, flat_hand_mean: bool = False) -> None:
        if kind not in ("wooden", "convex"):
            raise ConfigError(f"mannequin kind must be 'wooden' or 'convex', got {kind!r}")
        if kind == "wooden" and lod is not None:
            raise ConfigError("the wooden mannequin has one resolution: leave lod unset")
        if lod is not None and lod not in (0, 1, 2):
            raise ConfigError(f"mannequin lod must be 0, 1 or 2, got {lod!r}")
        mannequin_cls = _import_mannequin()
        self.kind, self.lod = kind, lod
        self._new_model = lambda: mannequin_cls(kind, lod=lod, flat_hand_mean=flat_hand_mean)
        self._model = self._new_model()
        #: one package model per body shape seen recently (reshaping costs more than posing)
        self._shaped: OrderedDict[bytes, Any] = OrderedDict()
        # the skeleton is probed with flat hands: rest joints must not include the hand mean
        self._flat = mannequin_cls(kind, lod=lod, flat_hand_mean=True)
        self._parents = tuple(self._model.parents)
        names = self._model.joint_names
        smplx_names = [smplx_joint_name(n) for n in names]
        missing = [n for n in BODY_JOINT_NAMES if n not in smplx_names]
        if missing:
            raise MissingDependencyError(f"unsupported mannequin-x version: no joints {missing}")
        body = [smplx_names.index(n) for n in BODY_JOINT_NAMES]
        rest_of = [j for j, n in enumerate(names) if j not in body and n not in _SKIN_ONLY_JOINTS]
        #: mannequin joint index of each returned joint (body joints first, SMPL-X order)
        self._out_index = torch.tensor(body + rest_of)
        self._body_index = torch.tensor(body)
        self._joint_names = tuple(smplx_names[j] for j in body + rest_of)
        self._rest_basis, self._rest_dirs = self._probe_rest_joints()
        self._rest_local = self._probe_rest_rotations()
        self._faces = np.asarray(self._model.faces, np.int64)
        self._vertex_body_joint: np.ndarray | None = None
        self._owner: torch.Tensor | None = None
        self._rest_cache: OrderedDict[bytes, np.ndarray] = OrderedDict()

    # -- probing the package through its public API ---------------------------------------

    def _rest_joints_np(self, betas: np.ndarray) -> np.ndarray:
        """(Jm, 3) rest joints of one shape (the mannequin's skeleton is linear in betas)."""
        self._flat.reshape(betas.astype(np.float32))
        return np.asarray(self._flat.joint_transforms(self._flat.rest_pose())[..., :3, 3], np.float64)

    def _probe_rest_joints(self) -> tuple[torch.Tensor, torch.Tensor]:
        base = self._rest_joints_np(np.zeros(NUM_BETAS))
        dirs = np.stack([self._rest_joints_np(np.eye(NUM_BETAS)[k]) - base for k in range(NUM_BETAS)], -1)
        return torch.tensor(base, dtype=torch.float32), torch.tensor(dirs, dtype=torch.float32)

    def _probe_rest_rotations(self) -> torch.Tensor:
        """(Jm, 3, 3) local rotations at zero pose: identity for the body, the hand mean for fingers."""
        world = np.asarray(self._model.joint_transforms(self._model.rest_pose())[..., :3, :3], np.float64)
        local = world.copy()
        for j, p in enumerate(self._parents):
            if p >= 0:
                local[j] = world[p].T @ world[j]
        return torch.tensor(local, dtype=torch.float32)

    # -- interface ---------------------------------------------------------------------------

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._joint_names

    @property
    def faces(self) -> np.ndarray:
        return self._faces

    @property
    def num_vertices(self) -> int:
        return int(self._model.num_vertices)

    def rest_skeleton(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean-shape rest joints (J, 3) with flat hands and local rest rotations (J, 3, 3).

        In the order of :attr:`joint_names`; the rotations are the identity for the body
        and the hand mean for the fingers (identity too with ``flat_hand_mean``).
        """
        index = self._out_index.numpy()
        return self._rest_basis.numpy()[index], self._rest_local.numpy()[index]

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """(N, Jm, 3) rest skeleton in the mannequin's joint order for (N, 10) betas (differentiable)."""
        dirs = self._rest_dirs.reshape(-1, NUM_BETAS)  # (Jm * 3, 10)
        return self._rest_basis + (betas @ dirs.T).reshape(len(betas), *self._rest_basis.shape)

    def _forward_flat(self, params: FlatParams, with_vertices: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
        n = params.betas.shape[0]
        local = self._rest_local.expand(n, -1, -1, -1).clone()
        local[:, self._body_index[0]] = axis_angle_to_matrix(params.global_orient)
        local[:, self._body_index[1:]] = axis_angle_to_matrix(params.body_pose)
        rest = self.rest_joints(params.betas)
        world_rot, world_pos = forward_kinematics(local, rest, self._parents)
        joints = world_pos[:, self._out_index] + params.transl[:, None, :]
        if not with_vertices:
            return None, joints
        if self.kind == "wooden":  # skinned: the package's numpy skinning
            return torch.from_numpy(self._vertices_np(params)), joints
        # convex: every vertex rides rigidly on one joint, so pose it here, in torch
        owner = self._vertex_owner()
        rest_v = torch.from_numpy(np.stack([self._rest_vertices(b) for b in params.betas.detach().cpu().numpy()]))
        arm = rest_v - rest[:, owner]
        vertices = torch.einsum("nvij,nvj->nvi", world_rot[:, owner], arm) + world_pos[:, owner]
        return vertices + params.transl[:, None, :], joints

    def _vertex_owner(self) -> torch.Tensor:
        """(V,) mannequin joint index carrying each vertex (rigid designs)."""
        if self._owner is None:
            self._owner = self._body_index[torch.from_numpy(self.vertex_body_joint)]
        return self._owner

    def _rest_vertices(self, shape: np.ndarray) -> np.ndarray:
        """(V, 3) float32 zero-pose vertices of one body shape (10,), from the package, cached."""
        key = shape.astype(np.float32).tobytes()
        cached = self._rest_cache.pop(key, None)
        if cached is None:
            model = self._shaped_model(shape)
            cached = np.asarray(model.vertices(model.rest_pose()), np.float32)
        self._rest_cache[key] = cached
        while len(self._rest_cache) > _SHAPE_CACHE:
            self._rest_cache.popitem(last=False)
        return cached

    def _vertices_np(self, params: FlatParams) -> np.ndarray:
        """(N, V, 3) float32 vertices from the package (one call per distinct shape)."""
        betas = params.betas.detach().cpu().numpy()
        go = params.global_orient.detach().cpu().numpy()
        pose = params.body_pose.detach().cpu().numpy()
        transl = params.transl.detach().cpu().numpy()
        out = np.empty((len(betas), self.num_vertices, 3), np.float32)
        shapes, group = np.unique(betas, axis=0, return_inverse=True)
        for k, shape in enumerate(shapes):
            rows = np.flatnonzero(group.reshape(-1) == k)
            model = self._shaped_model(shape)
            batch = model.rest_pose(batch_dims=(len(rows),))
            batch["body_pose"] = pose[rows]
            batch["pelvis_rotation"] = go[rows]
            batch["global_translation"] = transl[rows]
            out[rows] = model.vertices(batch)
        return out

    def _shaped_model(self, shape: np.ndarray) -> Any:
        """The package model reshaped to ``shape`` (10,), from a small LRU cache."""
        key = shape.astype(np.float32).tobytes()
        model = self._shaped.pop(key, None)
        if model is None:
            model = self._new_model() if len(self._shaped) < _SHAPE_CACHE else self._shaped.popitem(last=False)[1]
            model.reshape(shape)
        self._shaped[key] = model
        return model

    @property
    def vertex_body_joint(self) -> np.ndarray:
        if self._vertex_body_joint is None:
            self._vertex_body_joint = self._probe_vertex_joints()
        return self._vertex_body_joint

    def _probe_vertex_joints(self) -> np.ndarray:
        """Which body joint carries each vertex, found by turning one joint at a time.

        A vertex belongs to the deepest joint whose rotation moves it by more than half of
        what a rigid attachment to that joint would (skinned vertices near a joint blend two).
        """
        rest_v = self._vertices_np(flatten_params(global_orient=np.zeros(3)))[0].astype(np.float64)
        rest_j = self.joints(global_orient=np.zeros(3))[:NUM_BODY_JOINTS + 1].numpy().astype(np.float64)
        depth = joint_depths(self._parents)[self._body_index.numpy()]
        poses = np.zeros((2, NUM_BODY_JOINTS, NUM_BODY_JOINTS, 3), np.float32)
        for a, axis in enumerate((0, 2)):
            poses[a, np.arange(NUM_BODY_JOINTS), np.arange(NUM_BODY_JOINTS), axis] = _PROBE_ANGLE
        moved = self._vertices_np(flatten_params(body_pose=poses)).reshape(2, NUM_BODY_JOINTS, -1, 3)
        rot = axis_angle_to_matrix(torch.from_numpy(poses[:, np.arange(NUM_BODY_JOINTS),
                                                          np.arange(NUM_BODY_JOINTS)])).numpy()  # (2, 21, 3, 3)
        arm = rest_v[None, None] - rest_j[None, 1:, None, :]  # (1, 21, V, 3) vertex about the joint
        rigid = np.linalg.norm(np.einsum("ajxy,ajvy->ajvx", rot - np.eye(3), arm), axis=-1)
        actual = np.linalg.norm(moved - rest_v, axis=-1)
        carried = (actual > 0.5 * rigid) & (rigid > 1e-4)  # (2, 21, V)
        carried = carried.any(0)
        score = np.where(carried, depth[1:, None], -1)  # deeper joints win
        return np.where(score.max(0) >= 0, score.argmax(0) + 1, 0).astype(np.int64)

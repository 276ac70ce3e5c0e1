"""The body-model interface every backend implements.

Shape legend: ``*B`` leading batch dims (broadcast across the arguments); ``V`` vertices;
``F`` faces; ``J`` joints of the backend (its first 22 are always the SMPL-X body joints,
see :mod:`streamer.body.skeleton`).

Arguments are SMPL-X parameters (axis-angle radians, metres) and may be torch tensors or
numpy arrays; outputs are always float32 torch tensors. Torch because the CPU mesh
fitter backpropagates through :meth:`BodyModel.joints` to the pose, the translation and
(where the backend's skeleton depends on them) the shape coefficients; a numpy caller
pays one zero-copy conversion (:meth:`BodyOutput.numpy`).

Placement follows SMPL-X: ``global_orient`` rotates the body about its pelvis joint,
``transl`` is then added to every vertex and joint. With zeros the body stands in its
canonical frame (x left, y up, z forward, pelvis near the origin, feet about 1.2 m down).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from streamer.body.skeleton import NUM_BETAS, NUM_BODY_JOINTS

TensorLike = torch.Tensor | np.ndarray | Any


@dataclass(frozen=True, slots=True, eq=False)
class BodyOutput:
    """Posed body.

    Attributes:
        vertices: (*B, V, 3) float32 metres.
        joints: (*B, J, 3) float32 metres, named by the model's ``joint_names``.
    """

    vertices: torch.Tensor
    joints: torch.Tensor

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """(vertices, joints) as float32 numpy arrays (detached)."""
        return self.vertices.detach().cpu().numpy(), self.joints.detach().cpu().numpy()


@dataclass(frozen=True, slots=True)
class FlatParams:
    """Parameters broadcast to one batch dim ``N`` (float32 tensors), plus the batch shape."""

    betas: torch.Tensor  # (N, 10)
    global_orient: torch.Tensor  # (N, 3)
    body_pose: torch.Tensor  # (N, 21, 3)
    transl: torch.Tensor  # (N, 3)
    batch_shape: tuple[int, ...]


def _to_tensor(value: TensorLike) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(torch.float32)
    return torch.from_numpy(np.array(value, dtype=np.float32))  # a copy: inputs may be read-only views


def _checked(name: str, value: TensorLike | None, tail: tuple[int, ...]) -> torch.Tensor | None:
    if value is None:
        return None
    tensor = _to_tensor(value)
    if tensor.ndim < len(tail) or tuple(tensor.shape[tensor.ndim - len(tail):]) != tail:
        want = "(*B, " + ", ".join(map(str, tail)) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(tensor.shape)}")
    return tensor


def flatten_params(
    betas: TensorLike | None = None,
    global_orient: TensorLike | None = None,
    body_pose: TensorLike | None = None,
    transl: TensorLike | None = None,
) -> FlatParams:
    """Check shapes, fill missing parameters with zeros and broadcast all to one batch dim.

    Args:
        betas: (*B, 10) shape coefficients, or None for the mean shape.
        global_orient: (*B, 3) root rotation, or None.
        body_pose: (*B, 21, 3) or (*B, 63) joint rotations, or None for the rest pose.
        transl: (*B, 3) metres, or None.
    """
    if body_pose is not None:
        body_pose = _to_tensor(body_pose)
        if body_pose.shape[-1:] == (3 * NUM_BODY_JOINTS,):
            body_pose = body_pose.reshape(*body_pose.shape[:-1], NUM_BODY_JOINTS, 3)
    b = _checked("betas", betas, (NUM_BETAS,))
    g = _checked("global_orient", global_orient, (3,))
    p = _checked("body_pose", body_pose, (NUM_BODY_JOINTS, 3))
    t = _checked("transl", transl, (3,))
    leads = [x.shape[:-1] for x in (b, g, t) if x is not None] + ([p.shape[:-2]] if p is not None else [])
    try:
        # numpy's: torch.broadcast_shapes imports sympy (half a second of CPU) on first use
        batch = tuple(np.broadcast_shapes(*(tuple(s) for s in leads))) if leads else ()
    except ValueError as exc:
        raise ValueError(f"body parameters have incompatible batch dims: {[tuple(s) for s in leads]}") from exc
    n = int(np.prod(batch, dtype=np.int64))

    def full(x: torch.Tensor | None, tail: tuple[int, ...]) -> torch.Tensor:
        if x is None:
            return torch.zeros((n, *tail), dtype=torch.float32)
        return x.expand(*batch, *tail).reshape(n, *tail)

    return FlatParams(full(b, (NUM_BETAS,)), full(g, (3,)), full(p, (NUM_BODY_JOINTS, 3)),
                      full(t, (3,)), batch)


class BodyModel(ABC):
    """A parametric body: SMPL-X parameters in, vertices and joints out.

    Subclasses implement :meth:`_forward_flat`; batching, defaults and shape checks live here.
    """

    #: backend name, e.g. ``"smplx"`` or ``"mannequin"``
    name: str = ""

    @property
    @abstractmethod
    def joint_names(self) -> tuple[str, ...]:
        """(J,) names of the returned joints; the first 22 are ``BODY_JOINT_NAMES``."""

    @property
    @abstractmethod
    def faces(self) -> np.ndarray:
        """(F, 3) int64 triangle vertex indices, counter-clockwise seen from outside."""

    @property
    @abstractmethod
    def vertex_body_joint(self) -> np.ndarray:
        """(V,) int64 in [0, 22): the body joint whose rotation carries each vertex.

        Hands count as their wrist and the face as the head; used to colour body parts.
        """

    @abstractmethod
    def _forward_flat(self, params: FlatParams, with_vertices: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(N, V, 3) vertices (None unless ``with_vertices``) and (N, J, 3) joints."""

    @property
    def num_vertices(self) -> int:
        return int(self.vertex_body_joint.shape[0])

    def joint_index(self, name: str) -> int:
        """Index of a joint by its SMPL-X name (ValueError lists the known names)."""
        try:
            return self.joint_names.index(name)
        except ValueError as exc:
            raise ValueError(f"{self.name} body model has no joint {name!r}; known: "
                             f"{', '.join(self.joint_names)}") from exc

    def forward(
        self,
        betas: TensorLike | None = None,
        global_orient: TensorLike | None = None,
        body_pose: TensorLike | None = None,
        transl: TensorLike | None = None,
    ) -> BodyOutput:
        """Pose the body. Shapes as in :func:`flatten_params`; missing parameters are zero.

        Returns:
            :class:`BodyOutput` with vertices (*B, V, 3) and joints (*B, J, 3).
        """
        params = flatten_params(betas, global_orient, body_pose, transl)
        vertices, joints = self._forward_flat(params, with_vertices=True)
        assert vertices is not None
        return BodyOutput(vertices.reshape(*params.batch_shape, *vertices.shape[1:]),
                          joints.reshape(*params.batch_shape, *joints.shape[1:]))

    __call__ = forward

    def joints(
        self,
        betas: TensorLike | None = None,
        global_orient: TensorLike | None = None,
        body_pose: TensorLike | None = None,
        transl: TensorLike | None = None,
    ) -> torch.Tensor:
        """(*B, J, 3) joints only: cheaper than :meth:`forward`, differentiable in every backend."""
        params = flatten_params(betas, global_orient, body_pose, transl)
        _, joints = self._forward_flat(params, with_vertices=False)
        return joints.reshape(*params.batch_shape, *joints.shape[1:])

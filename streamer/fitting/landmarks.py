"""Surface landmarks (nose, eyes, ears, toes, heels) picked on a body model's own mesh.

Shape legend: ``V`` vertices of the model's mesh.

The ``smplx`` package returns these points from fixed SMPL-X vertex ids; the ``mannequin``
backend has no such table, yet keypoint models label exactly these surface points and
they are what fixes the head's and the feet's rotations. So for a model that lacks one,
it is picked once on the rest mesh (zero shape and pose; body frame x left, y up, z
forward), as the extreme vertex in a small window placed relative to the joint that
carries it (:data:`~streamer.fitting.skeleton.LANDMARK_OWNER`):

* nose: the front-most vertex on the head's mid-line near the head joint's height;
* eyes: the front-most vertices 3.2 cm either side of the mid-line, 3.5 cm higher;
* ears: the outermost head vertices at the head joint's height and depth;
* big / small toe: the front-most vertices near the foot joint, 1.5 cm to the inside /
  3 cm to the outside of it;
* heel: the back-most vertex below the ankle.

The windows widen (x2, x4) until they hold a vertex; a pick that does not reach out from
its joint as far as a face or foot does (a coarse hull's vertex on the wrong side) is dropped,
and the keypoint goes unused. On a featureless mannequin head the face points are only
approximately where a person's would be, which is why the fitter weighs face targets at half.
"""

from __future__ import annotations

import numpy as np
import torch

from streamer.body.model import BodyModel
from streamer.body.skeleton import BODY_JOINT_NAMES

_Window = tuple[float | None, float | None, float | None]
#: owner joint, window centre offset (m), window half-size (m; None = unbounded), axis, +1 = take
#: the maximum along it / -1 the minimum, least reach from the owner along that axis (m)
_RULES: dict[str, tuple[str, tuple[float, float, float], _Window, int, int, float]] = {
    "nose": ("head", (0.0, 0.0, 0.0), (0.015, 0.03, None), 2, 1, 0.06),
    "left_eye": ("head", (0.032, 0.035, 0.0), (0.012, 0.015, None), 2, 1, 0.05),
    "right_eye": ("head", (-0.032, 0.035, 0.0), (0.012, 0.015, None), 2, 1, 0.05),
    "left_ear": ("head", (0.0, 0.0, 0.0), (None, 0.02, 0.03), 0, 1, 0.05),
    "right_ear": ("head", (0.0, 0.0, 0.0), (None, 0.02, 0.03), 0, -1, 0.05),
    "left_big_toe": ("left_foot", (-0.015, 0.0, 0.0), (0.012, 0.03, None), 2, 1, 0.03),
    "left_small_toe": ("left_foot", (0.03, 0.0, 0.0), (0.012, 0.03, None), 2, 1, 0.03),
    "right_big_toe": ("right_foot", (0.015, 0.0, 0.0), (0.012, 0.03, None), 2, 1, 0.03),
    "right_small_toe": ("right_foot", (-0.03, 0.0, 0.0), (0.012, 0.03, None), 2, 1, 0.03),
    "left_heel": ("left_ankle", (0.0, -0.08, 0.0), (0.02, 0.04, None), 2, -1, 0.03),
    "right_heel": ("right_ankle", (0.0, -0.08, 0.0), (0.02, 0.04, None), 2, -1, 0.03),
}  # fmt: skip

#: names :func:`pick_landmarks` can find
SURFACE_LANDMARKS = tuple(_RULES)


def pick_landmarks(vertices: np.ndarray, joints: np.ndarray, names: tuple[str, ...] = SURFACE_LANDMARKS
                   ) -> dict[str, int]:
    """Vertex index of each landmark on a rest mesh.

    Args:
        vertices: (V, 3) rest-pose vertices, body frame. joints: (22, 3) rest body joints.
        names: landmarks wanted (from :data:`SURFACE_LANDMARKS`).

    Returns:
        name → vertex index for every landmark found (see the module docstring for the misses).
    """
    out: dict[str, int] = {}
    for name in names:
        owner, offset, half, axis, sign, reach = _RULES[name]
        owner_xyz = joints[BODY_JOINT_NAMES.index(owner)]
        centre = owner_xyz + np.asarray(offset)
        for grow in (1.0, 2.0, 4.0):
            inside = np.ones(len(vertices), bool)
            for k, h in enumerate(half):
                if h is not None:
                    inside &= np.abs(vertices[:, k] - centre[k]) <= h * grow
            if inside.any():
                candidates = np.flatnonzero(inside)
                best = int(candidates[np.argmax(sign * vertices[candidates, axis])])
                if sign * (vertices[best, axis] - owner_xyz[axis]) >= reach:
                    out[name] = best
                break
    return out


def model_landmarks(body: BodyModel) -> dict[str, int]:
    """Vertex index of each surface landmark ``body`` does not return as a joint."""
    wanted = tuple(n for n in SURFACE_LANDMARKS if n not in body.joint_names)
    if not wanted:
        return {}
    with torch.no_grad():
        rest = body.forward(betas=torch.zeros(1, 10))
    return pick_landmarks(rest.vertices[0].numpy().astype(np.float64),
                          rest.joints[0, : len(BODY_JOINT_NAMES)].numpy().astype(np.float64), wanted)

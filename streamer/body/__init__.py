"""Parametric human bodies: one interface (:class:`BodyModel`), two backends.

* ``smplx``: the real SMPL-X model via the ``smplx`` package, from the user's
  ``SMPLX_NEUTRAL.npz`` (:mod:`streamer.body.smplx_backend`).
* ``mannequin``: licence-free ``mannequin-x`` bodies driven by the same SMPL-X
  parameters, the default when no SMPL-X file is present (:mod:`streamer.body.mannequin_backend`).

``load_body_model("auto" | "smplx" | "mannequin")`` picks one. Both return float32 torch
tensors whose first 22 joints are the SMPL-X body joints in SMPL-X order.
"""

from streamer.body.loader import BODY_MODELS, load_body_model
from streamer.body.model import BodyModel, BodyOutput, flatten_params
from streamer.body.motion import BodyMotion, load_motion_npz, save_motion_npz
from streamer.body.skeleton import (
    BODY_JOINT_NAMES,
    NUM_BODY_JOINTS_WITH_ROOT,
    SMPLX_JOINT_NAMES,
    SMPLX_PARENTS,
    axis_angle_to_matrix,
)

__all__ = [
    "BODY_JOINT_NAMES", "BODY_MODELS", "NUM_BODY_JOINTS_WITH_ROOT", "SMPLX_JOINT_NAMES", "SMPLX_PARENTS",
    "BodyModel", "BodyMotion", "BodyOutput", "axis_angle_to_matrix", "flatten_params", "load_body_model",
    "load_motion_npz", "save_motion_npz",
]

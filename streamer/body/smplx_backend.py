"""Body-model backend on the ``smplx`` package and a user-supplied ``SMPLX_NEUTRAL.npz``.

Shape legend: ``N`` flattened batch; ``V`` = 10475 vertices; ``J`` = 76 joints returned:
the 55 SMPL-X skeleton joints (22 body, jaw, 2 eyes, 30 finger joints) then the 21 surface
points ``smplx`` picks from vertices (nose, eyes, ears, toes, heels, fingertips), named in
:data:`streamer.body.skeleton.SMPLX_JOINT_NAMES` and ``SMPLX_VERTEX_JOINT_NAMES``. The 51
face landmarks ``smplx`` also appends are dropped.

The SMPL-X licence does not allow redistributing the model, so the file is the user's:
registered at https://smpl-x.is.tue.mpg.de, download "SMPL-X v1.1 (NPZ)". The ``.pkl``
files are not supported: they unpickle into ``chumpy`` objects and chumpy does not import
on numpy 2. Everything here is torch and differentiable (vertices and joints).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from streamer.body.model import BodyModel, FlatParams
from streamer.body.skeleton import (
    NUM_HAND_JOINTS,
    NUM_SMPLX_JOINTS,
    SMPLX_JOINT_NAMES,
    SMPLX_PARENTS,
    SMPLX_VERTEX_JOINT_NAMES,
    axis_angle_to_matrix,
    body_ancestor,
)
from streamer.errors import InputError, MissingDependencyError
from streamer.model_files import SMPLX_ENV, default_smplx_path

#: keys of the npz the ``smplx`` package reads for an SMPL-X model
REQUIRED_KEYS = (
    "v_template", "f", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights",
    "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr", "lmk_faces_idx", "lmk_bary_coords",
)
_NUM_OUT_JOINTS = NUM_SMPLX_JOINTS + len(SMPLX_VERTEX_JOINT_NAMES)
_GET_IT = ("register at https://smpl-x.is.tue.mpg.de, download 'SMPL-X v1.1 (NPZ)' and put "
           "SMPLX_NEUTRAL.npz at {default} (or pass its path, or set STREAMER_SMPLX)")


def smplx_model_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The model file to use: ``path`` if given, else ``$STREAMER_SMPLX``, else the default.

    A directory stands for the ``SMPLX_NEUTRAL.npz`` inside it.
    """
    if path:
        chosen = Path(path).expanduser()
    elif os.environ.get(SMPLX_ENV):
        chosen = Path(os.environ[SMPLX_ENV]).expanduser()
    else:
        chosen = default_smplx_path()
    return chosen / "SMPLX_NEUTRAL.npz" if chosen.is_dir() else chosen


def check_smplx_file(path: Path) -> None:
    """Raise a clear project error unless ``path`` is a readable SMPL-X ``.npz``."""
    if path.suffix.lower() == ".pkl":
        raise InputError(
            f"{path}: the SMPL-X .pkl files are not supported (they need chumpy, which does not "
            "import on numpy 2); download 'SMPL-X v1.1 (NPZ)' and use SMPLX_NEUTRAL.npz")
    if not path.is_file():
        raise MissingDependencyError(f"SMPL-X model not found at {path}: "
                                     + _GET_IT.format(default=default_smplx_path()))
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            n_vertices = data["v_template"].shape[0] if "v_template" in keys else 0
            regressor = data["J_regressor"].shape if "J_regressor" in keys else ()
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path} is not a readable .npz file: {exc}") from exc
    missing = [k for k in REQUIRED_KEYS if k not in keys]
    if missing:
        raise InputError(f"{path} is not an SMPL-X model file: missing {', '.join(missing)}")
    if regressor != (NUM_SMPLX_JOINTS, n_vertices):
        raise InputError(f"{path}: J_regressor has shape {regressor}, expected "
                         f"({NUM_SMPLX_JOINTS}, {n_vertices}) for an SMPL-X model")


class SmplxBody(BodyModel):
    """SMPL-X through the ``smplx`` package (``SMPLXLayer``, axis-angle converted here).

    Args:
        path: the ``SMPLX_NEUTRAL.npz`` file or its folder; None = ``$STREAMER_SMPLX`` or
            the models folder.
        flat_hand_mean: False (SMPL-X's default) = zero hand rotations give the relaxed
            mean hand; the interface has no hand pose, so hands are always at that rest.
    """

    name = "smplx"

    def __init__(self, path: str | os.PathLike[str] | None = None, *, flat_hand_mean: bool = False) -> None:
        self.path = smplx_model_path(path)
        check_smplx_file(self.path)
        try:
            import smplx
        except ImportError as exc:
            raise MissingDependencyError("the smplx body model needs the smplx package: "
                                         "pip install 'smplx>=0.1.28'") from exc
        self._layer = smplx.SMPLXLayer(
            model_path=str(self.path), ext="npz", num_betas=10, num_expression_coeffs=10,
            use_pca=False, flat_hand_mean=flat_hand_mean,
        ).eval()
        for p in self._layer.parameters():
            p.requires_grad_(False)
        # SMPLXLayer takes rotation matrices and does not add the hand mean itself
        self._left_hand = axis_angle_to_matrix(self._layer.left_hand_mean.reshape(NUM_HAND_JOINTS, 3).float())
        self._right_hand = axis_angle_to_matrix(self._layer.right_hand_mean.reshape(NUM_HAND_JOINTS, 3).float())
        self._faces = np.asarray(self._layer.faces, np.int64)
        weights = self._layer.lbs_weights.numpy()
        self._vertex_body_joint = np.array([body_ancestor(j, SMPLX_PARENTS) for j in range(NUM_SMPLX_JOINTS)],
                                           np.int64)[weights.argmax(1)]

    @property
    def joint_names(self) -> tuple[str, ...]:
        return SMPLX_JOINT_NAMES + SMPLX_VERTEX_JOINT_NAMES

    @property
    def faces(self) -> np.ndarray:
        return self._faces

    @property
    def vertex_body_joint(self) -> np.ndarray:
        return self._vertex_body_joint

    def _forward_flat(self, params: FlatParams, with_vertices: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
        n = params.betas.shape[0]
        out = self._layer(
            betas=params.betas,
            global_orient=axis_angle_to_matrix(params.global_orient)[:, None],
            body_pose=axis_angle_to_matrix(params.body_pose),
            left_hand_pose=self._left_hand.expand(n, -1, -1, -1),
            right_hand_pose=self._right_hand.expand(n, -1, -1, -1),
            transl=params.transl,
        )
        joints = out.joints[:, :_NUM_OUT_JOINTS]
        return (out.vertices if with_vertices else None), joints

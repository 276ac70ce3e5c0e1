"""Pick and build a body model by name: ``auto``, ``smplx`` or ``mannequin``."""

from __future__ import annotations

import os

from streamer.body.model import BodyModel
from streamer.errors import ConfigError

#: names :func:`load_body_model` accepts
BODY_MODELS = ("auto", "smplx", "mannequin")


def load_body_model(
    name: str = "auto",
    *,
    smplx_path: str | os.PathLike[str] | None = None,
    mannequin_kind: str = "wooden",
    mannequin_lod: int | None = None,
    flat_hand_mean: bool = False,
) -> BodyModel:
    """Build a body model.

    Args:
        name: ``smplx`` (needs the user's SMPLX_NEUTRAL.npz), ``mannequin`` (licence-free,
            always available) or ``auto``: smplx when its file is found, else mannequin. A file
            that is found but broken is reported, not skipped.
        smplx_path: the npz (or its folder); None = ``$STREAMER_SMPLX``, else
            ``$STREAMER_MODELS/smplx/SMPLX_NEUTRAL.npz``.
        mannequin_kind: ``wooden`` (detailed) or ``convex`` (fast rigid hulls).
        mannequin_lod: convex level of detail 0 (finest) to 2 (coarsest).
        flat_hand_mean: zero hand rotations = flat hands instead of SMPL-X's relaxed mean.
    """
    if name not in BODY_MODELS:
        raise ConfigError(f"unknown body model {name!r}: choose one of {', '.join(BODY_MODELS)}")
    if name == "auto":
        from streamer.body.smplx_backend import smplx_model_path

        name = "smplx" if smplx_model_path(smplx_path).is_file() else "mannequin"
    if name == "smplx":
        from streamer.body.smplx_backend import SmplxBody

        return SmplxBody(smplx_path, flat_hand_mean=flat_hand_mean)
    from streamer.body.mannequin_backend import MannequinBody

    return MannequinBody(mannequin_kind, lod=mannequin_lod, flat_hand_mean=flat_hand_mean)

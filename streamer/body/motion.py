"""Per-frame SMPL-X parameters of one body (a motion), and their ``.npz`` file format.

Shape legend: ``T`` frames.

File keys: ``betas`` (10,) or (1, 10), ``global_orient`` (T, 3), ``body_pose`` (T, 63),
``transl`` (T, 3); axis-angle radians and metres, SMPL-X conventions. Other keys are ignored.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.body.skeleton import NUM_BETAS, NUM_BODY_JOINTS
from streamer.errors import InputError


@dataclass(frozen=True, slots=True, eq=False)
class BodyMotion:
    """SMPL-X parameters of one body over ``T`` frames.

    Attributes:
        betas: (10,) float32 shape, the same in every frame (or (T, 10) if it varies).
        global_orient: (T, 3) float32 root rotation.
        body_pose: (T, 21, 3) float32 joint rotations.
        transl: (T, 3) float32 metres.
    """

    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray

    def __post_init__(self) -> None:
        t = len(self.global_orient)
        want = {"global_orient": (t, 3), "body_pose": (t, NUM_BODY_JOINTS, 3), "transl": (t, 3)}
        for name, shape in want.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"BodyMotion.{name}: expected shape {shape}, got {getattr(self, name).shape}")
        if self.betas.shape not in ((NUM_BETAS,), (t, NUM_BETAS)):
            raise ValueError(f"BodyMotion.betas: expected shape ({NUM_BETAS},) or ({t}, {NUM_BETAS}), "
                             f"got {self.betas.shape}")

    def __len__(self) -> int:
        return len(self.global_orient)

    def betas_per_frame(self) -> np.ndarray:
        """(T, 10) betas."""
        return np.broadcast_to(self.betas, (len(self), NUM_BETAS))


def load_motion_npz(path: str | os.PathLike[str]) -> BodyMotion:
    """Read a motion file (format in the module docstring); bad files raise :class:`InputError`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("betas", "global_orient", "body_pose", "transl") if k not in data.files]
            if missing:
                raise InputError(f"{path}: motion file lacks {', '.join(missing)}")
            arrays = {k: np.asarray(data[k], np.float32) for k in ("betas", "global_orient", "body_pose", "transl")}
    except FileNotFoundError as exc:
        raise InputError(f"motion file not found: {path}") from exc
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path} is not a readable .npz file: {exc}") from exc
    pose = arrays["body_pose"]
    if pose.ndim != 2 or pose.shape[1] != 3 * NUM_BODY_JOINTS:
        raise InputError(f"{path}: body_pose must be (T, {3 * NUM_BODY_JOINTS}), got {pose.shape}")
    arrays["body_pose"] = pose.reshape(len(pose), NUM_BODY_JOINTS, 3)
    betas = arrays["betas"]
    if betas.shape == (1, NUM_BETAS):
        arrays["betas"] = betas[0]
    try:
        return BodyMotion(**arrays)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from exc


def save_motion_npz(path: str | os.PathLike[str], motion: BodyMotion) -> Path:
    """Write ``motion`` with ``body_pose`` flattened to (T, 63), the common interchange layout."""
    path = Path(path)
    np.savez_compressed(path, betas=motion.betas, global_orient=motion.global_orient,
                        body_pose=motion.body_pose.reshape(len(motion), -1), transl=motion.transl)
    return path

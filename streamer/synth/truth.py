"""Ground truth of a synthetic clip: per frame (:class:`FrameTruth`) and stacked (:class:`ClipTruth`).

Shape legend: ``T`` frames; ``N`` people (players then referee; the same rows every frame);
``J`` = 22 SMPL-X body joints (:data:`streamer.body.skeleton.BODY_JOINT_NAMES`); ``K``
overlay graphics; ``H, W`` frame size.

Frames: pitch (x along the touchlines, y toward the far side, z up, origin at the centre
spot, metres) and camera (OpenCV: x right, y down, z forward). ``X_cam = cam_R @ X_pitch +
cam_t``. Pixel boxes are on pixel edges, joints in continuous pixels (centre of pixel c at
c + 0.5). A person who is not visible has NaN visible box and visibility 0, but keeps its
row (ids are persistent).

SMPL-X parameters are given twice: in the pitch frame (what drove the renderer) and in
the camera frame (what a monocular fitter should recover): with ``global_orient_cam`` and
``transl_cam`` the same body model reproduces ``joints_cam_m``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class FrameTruth:
    """Everything known about one synthetic frame.

    Attributes:
        index / time_s: frame number and its time (index / fps).
        track_id: (N,) int64 persistent ids, 1..N.
        team: (N,) int64 0 / 1 for the teams, 2 for the referee.
        xyxy_visible_px: (N, 4) float32 extent of the visible pixels (NaN if none).
        xyxy_full_px: (N, 4) float32 extent of the whole projected body, occlusion and the
            image border ignored.
        visibility: (N,) float32 visible / unoccluded in-frame pixels (0..1).
        visible_px: (N,) int64 visible pixel count.
        joints_px: (N, J, 2) float32 projected body joints.
        joints_cam_m / joints_pitch_m: (N, J, 3) float32 body joints.
        betas: (N, 10); body_pose: (N, 21, 3); global_orient_pitch / transl_pitch /
            global_orient_cam / transl_cam: (N, 3), float32 SMPL-X parameters.
        cam_K / cam_R: (3, 3); cam_t: (3,) float64 camera.
        homography: (3, 3) float64 pitch (x, y, 1) on the grass → image pixels.
        overlay_xyxy_px: (K, 4) float32 boxes of drawn broadcast graphics.
        instance_id: (H, W) int32 mask of track ids (0 = no person), after overlays.
    """

    index: int
    time_s: float
    track_id: np.ndarray
    team: np.ndarray
    xyxy_visible_px: np.ndarray
    xyxy_full_px: np.ndarray
    visibility: np.ndarray
    visible_px: np.ndarray
    joints_px: np.ndarray
    joints_cam_m: np.ndarray
    joints_pitch_m: np.ndarray
    betas: np.ndarray
    body_pose: np.ndarray
    global_orient_pitch: np.ndarray
    transl_pitch: np.ndarray
    global_orient_cam: np.ndarray
    transl_cam: np.ndarray
    cam_K: np.ndarray
    cam_R: np.ndarray
    cam_t: np.ndarray
    homography: np.ndarray
    overlay_xyxy_px: np.ndarray
    instance_id: np.ndarray

    @property
    def visible(self) -> np.ndarray:
        """(N,) bool: at least one pixel of the person is visible."""
        return self.visible_px > 0


#: per-frame fields stacked along a leading T axis in a clip
STACKED_FIELDS = tuple(f.name for f in dataclasses.fields(FrameTruth)
                       if f.name not in ("index", "track_id", "team", "instance_id", "overlay_xyxy_px"))


@dataclass(frozen=True, slots=True, eq=False)
class ClipTruth:
    """Ground truth of a whole clip: each :class:`FrameTruth` field stacked over ``T`` frames.

    Attributes:
        arrays: field name → array with a leading T axis (``time_s`` (T,), ``betas`` (T, N, 10),
            ...), plus ``track_id`` (N,), ``team`` (N,), ``overlay_xyxy_px`` (T, K, 4) and, if
            kept, ``instance_id`` (T, H, W).
        meta: JSON-able description (config, joint names, kits, sizes, conventions).
    """

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    def __len__(self) -> int:
        return len(self.arrays["time_s"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @classmethod
    def from_frames(cls, frames: list[FrameTruth], meta: dict[str, Any], *, keep_masks: bool = False) -> ClipTruth:
        if not frames:
            raise ValueError("ClipTruth needs at least one frame")
        arrays = {name: np.stack([getattr(f, name) for f in frames]) for name in STACKED_FIELDS}
        arrays["track_id"], arrays["team"] = frames[0].track_id, frames[0].team
        k = max(len(f.overlay_xyxy_px) for f in frames)
        overlays = np.full((len(frames), k, 4), np.nan, np.float32)
        for i, f in enumerate(frames):
            overlays[i, : len(f.overlay_xyxy_px)] = f.overlay_xyxy_px
        arrays["overlay_xyxy_px"] = overlays
        if keep_masks:
            arrays["instance_id"] = np.stack([f.instance_id for f in frames])
        return cls(arrays, meta)

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<stem>.npz`` (arrays, compressed) and ``<stem>.json`` (meta); returns both paths.

        ``path`` is the stem or either file name (``clip.truth``, ``clip.truth.npz``).
        """
        npz, meta = _truth_paths(path)
        np.savez_compressed(npz, **self.arrays)
        meta.write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")
        return npz, meta


def load_truth(path: str | Path) -> ClipTruth:
    """Read a truth written by :meth:`ClipTruth.save` (give either file or their common stem)."""
    npz, meta = _truth_paths(path)
    with np.load(npz, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return ClipTruth(arrays, json.loads(meta.read_text()))


def _truth_paths(path: str | Path) -> tuple[Path, Path]:
    """(npz, json) paths of a truth stem or of either of its files."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    return stem.parent / (stem.name + ".npz"), stem.parent / (stem.name + ".json")

"""``streamer export bvh players/player_<id>.npz -o out.bvh``: motion files for animation tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamer.errors import InputError


def export_bvh(npz_path: str | Path, out_path: str | Path, *, body_model: str | None = None,
               smplx_path: str | None = None) -> Path:
    """Write the player's body motion as BVH (see :mod:`streamer.io.bvh` for the conventions).

    The skeleton's offsets come from the body model named in the npz (or ``body_model``)
    posed at rest with the player's ``betas``.
    """
    import torch

    from streamer.body import BODY_JOINT_NAMES, SMPLX_PARENTS, load_body_model
    from streamer.io.bvh import write_bvh

    path = Path(npz_path)
    if not path.is_file():
        raise InputError(f"player file not found: {path}")
    try:
        with np.load(path) as data:
            seq = {k: data[k] for k in ("betas", "global_orient", "body_pose", "transl", "time_s")}
            stored = str(data["body_model"]) if "body_model" in data.files else ""
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path} is not a streamer player file ({exc})") from exc
    t = len(seq["global_orient"])
    if seq["body_pose"].shape != (t, 63) or seq["transl"].shape != (t, 3) or seq["time_s"].shape != (t,):
        raise InputError(f"{path}: expected body_pose (T, 63), transl (T, 3), time_s (T,) with T = {t}; got "
                         f"{seq['body_pose'].shape}, {seq['transl'].shape}, {seq['time_s'].shape}")
    model = load_body_model(body_model or stored or "auto", smplx_path=smplx_path)
    n = len(BODY_JOINT_NAMES)
    with torch.no_grad():
        rest = model.joints(betas=torch.from_numpy(seq["betas"].astype(np.float32))[None])[0, :n].numpy()
    times = seq["time_s"].astype(np.float64)
    frame_time = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / 25.0
    slots = on_time_grid(times, frame_time)
    parents = tuple(int(p) for p in SMPLX_PARENTS[:n])
    return write_bvh(out_path, tuple(BODY_JOINT_NAMES), parents, rest, seq["global_orient"][slots],
                     seq["body_pose"][slots], seq["transl"][slots], frame_time)


def on_time_grid(times: np.ndarray, frame_time: float) -> np.ndarray:
    """For each BVH frame (one every ``frame_time`` seconds from ``times[0]``), the row to show.

    A BVH plays its frames at one rate, so a player's file with gaps (frames he was not
    tracked, or between the tracklets the identity pass joined) is laid on a regular grid:
    each slot shows the latest row at or before it (a gap holds the last pose), so the
    motion keeps real time instead of jumping across the gap.
    """
    if len(times) == 0:
        return np.zeros(0, np.int64)
    if not (np.isfinite(frame_time) and frame_time > 0):
        return np.arange(len(times))
    k = np.round((times - times[0]) / frame_time).astype(np.int64)
    grid = np.arange(int(k.max()) + 1)
    return np.clip(np.searchsorted(k, grid, side="right") - 1, 0, len(times) - 1)

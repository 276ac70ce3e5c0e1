"""``players/player_<id>.npz``: one SMPL-X motion sequence per tracked player.

Shape legend: ``T`` frames in which the player has body parameters, ``J`` body-model
joints, ``K`` keypoints of the layout.

Keys (all float32 unless noted), named so they pass straight to ``smplx.SMPLX``
(``betas`` needs a leading batch axis there: ``betas[None]``):

==================  ===========  ====================================================
key                 shape        meaning
==================  ===========  ====================================================
betas               (10,)        the track's shape (median over its frames)
betas_per_frame     (T, 10)      the shape each frame was posed with (``joints3d`` use it)
global_orient       (T, 3)       root rotation, axis-angle, camera frame (x right, y down)
body_pose           (T, 63)      21 body joints × axis-angle, SMPL-X order
transl              (T, 3)       root translation, metres, camera frame
left_hand_pose ...  (T, 45)      hands, jaw (T, 3), expression (T, 10): only when the
                                 mesh backend gives them (BLADE does, the fit does not)
frame_index         (T,) int64   source frame index
time_s              (T,) float64 presentation time
fps                 ()           nominal frame rate of the input
cam_K               (T, 3, 3)    intrinsics the parameters were fitted with (pixels)
joints3d            (T, J, 3)    body-model joints, camera frame, metres
joint_conf          (T, 22)      confidence of the root and 21 body joints
keypoints2d         (T, K, 3)    2D keypoints: u, v (pixels), confidence; NaN when absent
keypoint_layout     str          e.g. ``blazepose33``
raw_*               as above     global_orient, body_pose, transl, joints3d before smoothing
body_model          str          the body model the parameters drive (``smplx``, ``mannequin``)
player_id           () int64
==================  ===========  ====================================================

Frames are buffered per player and spilled to chunk files in ``players/.parts/``
every ``chunk_frames`` frames, so a long match never holds every player's whole
sequence in memory; ``close`` concatenates each player's chunks into its npz
(temp-then-rename) and removes the parts.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from streamer.io.atomic import commit, partial_path
from streamer.records import BodyParams, Packet

_OPTIONAL = ("left_hand_pose", "right_hand_pose", "jaw_pose", "expression")


def _row_of(body: BodyParams | None, track_id: int) -> int | None:
    if body is None:
        return None
    hits = np.flatnonzero(body.track_id == track_id)
    return int(hits[0]) if len(hits) else None


class PlayersNpzSink:
    """Collects :class:`BodyParams` per track and writes one npz per player on close."""

    name = "players"

    def __init__(self, out_dir: str | Path, *, fps: float, chunk_frames: int = 1000) -> None:
        self.dir = Path(out_dir) / "players"
        self.parts = self.dir / ".parts"
        self.fps, self.chunk_frames = float(fps), chunk_frames
        self.body_model = ""
        self._buffers: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self._chunks: dict[int, int] = defaultdict(int)
        self._layout = ""
        self.players_written = 0

    def write(self, packet: Packet) -> None:
        body = packet.body
        if body is None or len(body) == 0:
            return
        self.body_model = body.body_model or self.body_model
        raw = packet.body_raw
        keypoints = packet.keypoints
        if keypoints is not None:
            self._layout = keypoints.layout
        for i, track_id in enumerate(body.track_id.tolist()):
            entry: dict[str, Any] = {
                "frame_index": packet.frame.index,
                "time_s": packet.frame.time_s,
                "betas": body.betas[i],
                "global_orient": body.global_orient[i],
                "body_pose": body.body_pose[i].reshape(-1),
                "transl": body.transl[i],
                "cam_K": body.cam_K,
                "joint_conf": body.joint_conf[i],
            }
            if body.joints_cam_m is not None:
                entry["joints3d"] = body.joints_cam_m[i]
            for key in _OPTIONAL:
                value = getattr(body, key)
                if value is not None:
                    entry[key] = value[i].reshape(-1)
            r = _row_of(raw, track_id)
            if raw is not None and r is not None:
                entry["raw_global_orient"] = raw.global_orient[r]
                entry["raw_body_pose"] = raw.body_pose[r].reshape(-1)
                entry["raw_transl"] = raw.transl[r]
                if raw.joints_cam_m is not None:
                    entry["raw_joints3d"] = raw.joints_cam_m[r]
            k = None if keypoints is None else np.flatnonzero(keypoints.track_id == track_id)
            if keypoints is not None and k is not None and len(k):
                entry["keypoints2d"] = np.concatenate(
                    [keypoints.xy_px[k[0]], keypoints.conf[k[0]][:, None]], axis=1
                )
            buffer = self._buffers[track_id]
            buffer.append(entry)
            if len(buffer) >= self.chunk_frames:
                self._spill(track_id)

    def _spill(self, track_id: int) -> None:
        self.parts.mkdir(parents=True, exist_ok=True)
        stacked = _stack(self._buffers.pop(track_id))
        np.savez(self.parts / f"{track_id}_{self._chunks[track_id]:06d}.npz", **stacked)
        self._chunks[track_id] += 1

    def _load_parts(self, track_id: int) -> list[dict[str, np.ndarray]]:
        parts = []
        for k in range(self._chunks.get(track_id, 0)):
            with np.load(self.parts / f"{track_id}_{k:06d}.npz") as data:
                parts.append({key: data[key] for key in data.files})
        return parts

    def close(self) -> None:
        track_ids = sorted(set(self._buffers) | set(self._chunks))
        if track_ids:
            self.dir.mkdir(parents=True, exist_ok=True)
        for track_id in track_ids:
            parts = self._load_parts(track_id)
            if self._buffers.get(track_id):
                parts.append(_stack(self._buffers.pop(track_id)))
            self._write_player(track_id, _concat(parts))
        shutil.rmtree(self.parts, ignore_errors=True)

    def _write_player(self, track_id: int, seq: dict[str, np.ndarray]) -> None:
        out: dict[str, Any] = {
            key: value for key, value in seq.items() if key != "betas"
        }
        out["betas"] = np.median(seq["betas"], axis=0).astype(np.float32)
        # the shape each frame was posed with: joints3d come from it (the smoother lets a track's
        # shape drift slowly), so posing with betas_per_frame reproduces them exactly
        out["betas_per_frame"] = seq["betas"].astype(np.float32)
        out["fps"] = np.float32(self.fps)
        out["keypoint_layout"] = np.str_(self._layout)
        out["body_model"] = np.str_(self.body_model)
        out["player_id"] = np.int64(track_id)
        final = self.dir / f"player_{track_id}.npz"
        temp = partial_path(final)
        with open(temp, "wb") as fh:
            np.savez(fh, **out)
        commit(temp, final)
        self.players_written += 1

    def counts(self) -> dict[str, int]:
        return {"players_npz": self.players_written}


def _stack(entries: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-frame dicts → arrays; a key missing in some frames is NaN-filled there."""
    keys = {k for e in entries for k in e}
    out = {}
    for key in keys:
        sample = next(np.asarray(e[key]) for e in entries if key in e)
        dtype = np.int64 if key == "frame_index" else np.float64 if key == "time_s" else np.float32
        fill = np.full(sample.shape, -1 if dtype == np.int64 else np.nan, dtype)
        out[key] = np.stack([np.asarray(e[key], dtype) if key in e else fill for e in entries])
    return out


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = {k for p in parts for k in p}
    out = {}
    for key in keys:
        sample = next(p[key] for p in parts if key in p)
        out[key] = np.concatenate([
            p[key] if key in p else np.full((len(p["frame_index"]), *sample.shape[1:]), np.nan, sample.dtype)
            for p in parts
        ])
    return out

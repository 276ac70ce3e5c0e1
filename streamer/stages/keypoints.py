"""The ``keypoints`` stage: 2D keypoints of every tracked player, all crops of a window batched.

Shape legend: ``M`` player boxes across the window's frames, ``K`` keypoints of the
backend's layout.

Reads ``packet.tracks`` and fills ``packet.keypoints`` (one row per player whose box
is tall enough and whose crop the model believes holds a person, in the order of
the frame's tracks; frames without such players get an empty record). Frames with
no tracks cost nothing: no crop, no model call.

State: the body angle of each track's latest confident skeleton (hips → shoulders).
With ``rotate``, the next crops of that track are turned by it, so a sliding or
falling player reaches the model upright, as MediaPipe does from its own previous
landmarks. Within a window every frame uses the angle known before the window,
because all of the window's crops go through the model together.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from streamer.config import in_range
from streamer.errors import ConfigError
from streamer.pose.backend import PoseBackend, PoseBatch
from streamer.pose.crop import upright_angle_rad
from streamer.pose.layouts import get_layout
from streamer.records import Keypoints, Packet
from streamer.stages import StageContext

BACKENDS = ("blazepose", "onnx", "mmpose")
_TORSO = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")


def empty_keypoints(layout: str, with_world: bool) -> Keypoints:
    """A record with no rows for ``layout``."""
    k = get_layout(layout).num_keypoints
    world = np.zeros((0, k, 3), np.float32) if with_world else None
    return Keypoints(np.zeros((0,), np.int64), np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32),
                     layout, world)


class KeypointsStage:
    """Track boxes → backend (one batched call per window) → ``Keypoints`` records."""

    name = "keypoints"
    reads = ("tracks",)
    uses: tuple[str, ...] = ()
    fills = ("keypoints",)

    def __init__(
        self,
        backend: PoseBackend,
        *,
        min_box_height_px: float = 0.0,
        min_pose_score: float = 0.0,
        rotate: bool = True,
        rotate_min_conf: float = 0.5,
        rotate_max_age_s: float = 0.5,
    ) -> None:
        self.backend = backend
        self.layout = get_layout(backend.layout)
        self.min_box_height_px = float(min_box_height_px)
        self.min_pose_score = float(min_pose_score)
        self.rotate = bool(rotate)
        self.rotate_min_conf = float(rotate_min_conf)
        self.rotate_max_age_s = float(rotate_max_age_s)
        self.with_world = bool(backend.gives_world)
        self._torso = self.layout.indices(*_TORSO)
        self._angle: dict[int, tuple[float, float]] = {}  # track id -> (time_s, body angle)

    def _angles(self, track_id: np.ndarray, time_s: float) -> np.ndarray:
        out = np.zeros(len(track_id))
        if self.rotate:
            for i, tid in enumerate(track_id.tolist()):
                seen = self._angle.get(tid)
                if seen is not None and abs(time_s - seen[0]) <= self.rotate_max_age_s:
                    out[i] = seen[1]
        return out

    def _remember(self, keypoints: Keypoints, time_s: float) -> None:
        if not self.rotate:
            return
        conf = keypoints.conf[:, self._torso]
        confident = conf.min(axis=1) >= self.rotate_min_conf
        torso = keypoints.xy_px[confident][:, self._torso]
        angles = upright_angle_rad(torso[:, :2].mean(axis=1), torso[:, 2:].mean(axis=1))
        for tid, angle in zip(keypoints.track_id[confident].tolist(), angles.tolist(), strict=True):
            self._angle[tid] = (time_s, angle)
        stale = [t for t, (seen, _) in self._angle.items() if abs(time_s - seen) > self.rotate_max_age_s]
        for tid in stale:
            del self._angle[tid]

    def process(self, packets: list[Packet]) -> list[Packet]:
        images: list[np.ndarray] = []
        image_index, boxes, ids, angles = [], [], [], []
        chosen: list[np.ndarray] = []  # per packet: rows of its tracks sent to the model
        for packet in packets:
            tracks = packet.tracks
            if tracks is None:
                raise ConfigError("the keypoints stage needs tracks: put the tracking stage before "
                                  "'keypoints' in pipeline.stages")
            height = tracks.xyxy_px[:, 3] - tracks.xyxy_px[:, 1]
            rows = np.flatnonzero(height >= self.min_box_height_px)
            chosen.append(rows)
            if len(rows):
                image_index.append(np.full(len(rows), len(images)))
                images.append(packet.frame.image)
                boxes.append(tracks.xyxy_px[rows])
                ids.append(tracks.track_id[rows])
                angles.append(self._angles(tracks.track_id[rows], packet.frame.time_s))
        result = None
        if images:
            result = self.backend.estimate(images, np.concatenate(image_index), np.concatenate(boxes),
                                           np.concatenate(angles))
        return self._split(packets, chosen, ids, result)

    def _split(
        self, packets: list[Packet], chosen: list[np.ndarray], ids: list[np.ndarray], result: PoseBatch | None
    ) -> list[Packet]:
        with_world = self.with_world
        out, start, used = [], 0, 0
        for packet, rows in zip(packets, chosen, strict=True):
            if not len(rows) or result is None:
                out.append(packet.replace(keypoints=empty_keypoints(self.layout.name, with_world)))
                continue
            part = result.rows(start, start + len(rows))
            track_id = ids[used]
            start, used = start + len(rows), used + 1
            keep = part.pose_score >= self.min_pose_score
            world = part.world_m[keep] if part.world_m is not None and with_world else None
            keypoints = Keypoints(track_id[keep].astype(np.int64), part.xy_px[keep], part.conf[keep],
                                  self.layout.name, world)
            self._remember(keypoints, packet.frame.time_s)
            out.append(packet.replace(keypoints=keypoints))
        return out

    def flush(self) -> list[Packet]:
        return []

    def end_shot(self) -> list[Packet]:
        """A camera cut: body angles seen in the old view say nothing about the new one."""
        self._angle.clear()
        return []


_number = functools.partial(in_range, prefix="keypoints")  # range-checked config numbers


def build_backend(section: dict[str, Any], device: str) -> PoseBackend:
    """The backend the ``keypoints`` config section names."""
    name = section["backend"]
    threads = int(_number(section, "threads", 0, 1024))
    batch = int(_number(section, "batch_size", 1, 4096))
    if name == "blazepose":
        from streamer.models.blazepose import BlazePoseBackend

        return BlazePoseBackend(
            section["blazepose"]["model"], threads=threads, batch_size=batch,
            crop_scale=_number(section, "crop_scale", 0.5, 4.0),
            refine_heatmap=section["blazepose"]["refine_heatmap"],
        )
    if name == "onnx":
        from streamer.models.rtmpose_onnx import RtmPoseOnnxBackend

        return RtmPoseOnnxBackend(section["onnx"]["model"], device=device, threads=threads, batch_size=batch,
                                  padding=section["onnx"]["padding"])
    if name == "mmpose":
        from streamer.models.mmpose_backend import MmposeBackend

        return MmposeBackend(section["mmpose"]["config"], section["mmpose"]["checkpoint"], device=device)
    raise ConfigError(f"config key 'keypoints.backend' must be one of {', '.join(BACKENDS)}; got {name!r}")


def build(config: dict[str, Any], context: StageContext) -> KeypointsStage:
    """Stage factory (registered as ``keypoints``)."""
    section = config["keypoints"]
    backend = build_backend(section, context.device)
    return KeypointsStage(
        backend,
        min_box_height_px=_number(section, "min_box_height_px", 0.0),
        min_pose_score=_number(section, "min_pose_score", 0.0, 1.0),
        rotate=section["rotate"],
        rotate_min_conf=_number(section, "rotate_min_conf", 0.0, 1.0),
        rotate_max_age_s=_number(section, "rotate_max_age_s", 0.0),
    )

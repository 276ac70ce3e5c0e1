"""The ``smooth`` stage: per-track Kalman filter / fixed-lag RTS smoother of SMPL-X parameters.

Reads ``packet.body`` (the mesh stage's :class:`~streamer.records.BodyParams`)
and the box sizes in ``packet.tracks``; writes the smoothed parameters to
``packet.body`` and keeps the unsmoothed record in ``packet.body_raw``. Time
steps come from ``packet.frame.time_s``, so clips at any (or a variable) frame
rate are filtered alike.

Config section ``smooth:`` (see ``streamer/configs/default.yaml``); ``mode: rts``
(the default) holds each packet until ``lag_s`` seconds of later frames have
been seen — about ``lag_s × fps`` packets plus one window in memory, whatever the
clip length — and releases packets in order; the rest come out of :meth:`flush`.
``mode: forward`` is causal and returns every packet at once (live preview).
The filtering core lives in :mod:`streamer.smoothing`.

``joints_cam_m`` of the raw record described the raw pose; the smoothed record
gets it from ``joints_fn`` (forward kinematics of a body model, one batched call
per release) when the stage is given one, else None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from streamer.errors import ConfigError
from streamer.records import BodyParams, Packet
from streamer.smoothing.measurement import box_heights_px
from streamer.smoothing.params import SmoothingParams
from streamer.smoothing.smoother import Smoother
from streamer.stages import StageContext

#: forward kinematics: betas, global_orient, body_pose, transl -> (N, J, 3) joints, metres
JointsFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class SmoothStage:
    """Thin stage shell around :class:`~streamer.smoothing.smoother.Smoother`."""

    name = "smooth"
    reads: tuple[str, ...] = ()
    uses = ("body", "tracks")  # packets without a body pass through
    fills = ("body", "body_raw")

    def __init__(self, params: SmoothingParams, joints_fn: JointsFn | None = None) -> None:
        """
        Args:
            params: the filter settings.
            joints_fn: optional forward kinematics ``(betas (N, 10), global_orient (N, 3),
                body_pose (N, 21, 3), transl (N, 3)) -> (N, J, 3)`` joints in the camera
                frame, metres; fills the smoothed records' ``joints_cam_m``.
        """
        self.params = params
        self.joints_fn = joints_fn
        self.smoother: Smoother[Packet] = Smoother(params)

    def process(self, packets: list[Packet]) -> list[Packet]:
        """Filter the window; return the packets that are done (rts mode: fewer, later)."""
        for packet in packets:
            body = packet.body
            heights = None if body is None else box_heights_px(body.track_id, packet.tracks)
            self.smoother.push(packet, packet.frame.time_s, body, heights)
        return self._finish(self.smoother.release())

    def flush(self) -> list[Packet]:
        """Smooth and return every packet still held (end of stream)."""
        return self._finish(self.smoother.release(final=True))

    def end_shot(self) -> list[Packet]:
        """A camera cut: smooth and return the old shot's packets; the filters start afresh."""
        out = self.flush()
        self.smoother = Smoother(self.params)
        return out

    def _finish(self, done: list[tuple[Packet, BodyParams | None]]) -> list[Packet]:
        if self.joints_fn is not None:
            done = self._with_joints(done)
        return [packet if packet.body is None else packet.replace(body=body, body_raw=packet.body)
                for packet, body in done]

    def _with_joints(self, done: list[tuple[Packet, BodyParams | None]]) -> list[tuple[Packet, BodyParams | None]]:
        """Fill ``joints_cam_m`` of every released body with one batched ``joints_fn`` call."""
        bodies = [body for _, body in done if body is not None and len(body)]
        if not bodies or self.joints_fn is None:
            return done
        joints = np.asarray(self.joints_fn(
            np.concatenate([b.betas for b in bodies]),
            np.concatenate([b.global_orient for b in bodies]),
            np.concatenate([b.body_pose for b in bodies]),
            np.concatenate([b.transl for b in bodies]),
        ), dtype=np.float32)
        parts = iter(np.split(joints, np.cumsum([len(b) for b in bodies])[:-1]))
        return [(packet, dataclasses.replace(body, joints_cam_m=next(parts)) if body is not None and len(body)
                 else body) for packet, body in done]


def build(config: dict[str, Any], context: StageContext) -> SmoothStage:
    """Stage factory: reads the ``smooth:`` section of the resolved config."""
    section = config.get("smooth")
    if not isinstance(section, dict):
        raise ConfigError("the smooth stage needs a 'smooth:' config section")
    mesh = config.get("mesh") or {}
    joints = _BodyJoints(str(mesh.get("body_model", "auto")), str(mesh.get("smplx_path", "")) or None)
    params = SmoothingParams.from_config(section)
    if context.live:  # a live source: no fixed-lag smoothing, nothing held back
        params = dataclasses.replace(params, mode="forward")
    return SmoothStage(params, joints_fn=joints)


class _BodyJoints:
    """The smoothed parameters' body joints, from the body model the mesh stage uses.

    Loaded on first use, so a run whose packets carry no bodies never imports torch here.
    """

    def __init__(self, body_model: str, smplx_path: str | None) -> None:
        self.body_model, self.smplx_path = body_model, smplx_path
        self._skeleton: Any = None

    def __call__(self, betas: Any, global_orient: Any, body_pose: Any, transl: Any) -> Any:
        if self._skeleton is None:
            from streamer.body import load_body_model
            from streamer.fitting.skeleton import FitSkeleton

            self._skeleton = FitSkeleton(load_body_model(self.body_model, smplx_path=self.smplx_path))
        return self._skeleton.joints_np(betas, global_orient, body_pose, transl)

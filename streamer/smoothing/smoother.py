"""The smoother a stage drives: frames in, smoothed SMPL-X parameters out, in order.

Shape legend: ``N`` tracked players in a frame; ``J`` = 22 joints (root first).

Two modes (``SmoothingParams.mode``):

* ``forward`` — causal: each frame comes out of :meth:`Smoother.release` as soon
  as it was pushed, with the forward filter's estimate (live preview).
* ``rts`` — fixed-lag RTS: frames are held until they are ``lag_s`` older than
  the newest frame pushed; then one backward pass over everything held smooths
  them, and they come out (still in order). Memory is bounded by the lag — at
  most ``lag_s × fps`` frames plus one pipeline window are held, whatever the
  clip's length — and each frame is smoothed with at least ``lag_s`` of future.
  Past that horizon the RTS gains have decayed to nothing (see
  ``tools/bench_smooth.py`` for the fixed-lag vs whole-clip difference), so
  a 90-minute match costs the same per frame as a 10-second clip. At the end
  of the stream :meth:`Smoother.release` with ``final=True`` smooths and returns the rest.

Output rotation vectors are unwrapped per track and joint against the previous
output (``θn`` vs ``(θ−2π)n``), so a root turning through half a turn stays a
continuous vector rather than flipping sign at π.

Only ``global_orient``, ``body_pose``, ``transl`` and ``betas`` are filtered;
hands, jaw and expression pass through. ``joints_cam_m`` is set to None in the
smoothed record (it described the raw pose); the raw record keeps it.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from streamer.records import BodyParams
from streamer.smoothing.measurement import local_from_segment, measurements_from_body
from streamer.smoothing.params import SmoothingParams
from streamer.smoothing.rotations import rotvec_from_quat, unwrap_rotvec
from streamer.smoothing.rts import SmoothedFrame, smooth_backward
from streamer.smoothing.state import FrameRecord, TrackBank

Item = TypeVar("Item")


@dataclass(slots=True)
class _Held(Generic[Item]):
    item: Item
    time_s: float
    body: BodyParams | None
    record: FrameRecord | None


class Smoother(Generic[Item]):
    """Per-track SMPL-X filter/smoother over a stream of frames.

    ``Item`` is whatever the caller wants back with each frame (the stage uses the
    packet itself), so holding frames back keeps them paired with their results.
    """

    def __init__(self, params: SmoothingParams) -> None:
        self.params = params
        self.bank = TrackBank(params)
        self._held: deque[_Held[Item]] = deque()
        self._newest_s = -np.inf
        self._last_out: dict[int, tuple[float, np.ndarray]] = {}  # track id -> (time, (J, 3) rotvec)

    @property
    def held(self) -> int:
        """Frames pushed but not yet released."""
        return len(self._held)

    def push(self, item: Item, time_s: float, body: BodyParams | None,
             box_height_px: np.ndarray | None = None) -> None:
        """Run the forward filter on one frame and hold it until :meth:`release`.

        Args:
            item: returned with the frame's result.
            time_s: the frame's presentation time, seconds.
            body: the frame's SMPL-X estimates (N rows), or None when the frame has none.
            box_height_px: (N,) box height of each body row (NaN = unknown), or None.
        """
        record = None
        if body is not None and len(body):
            meas = measurements_from_body(body, box_height_px, self.params)
            record = self.bank.step(time_s, meas)
        self._held.append(_Held(item, float(time_s), body, record))
        self._newest_s = max(self._newest_s, float(time_s))

    def release(self, final: bool = False) -> list[tuple[Item, BodyParams | None]]:
        """Frames that are done, oldest first, each with its smoothed parameters.

        ``forward`` mode releases everything pushed. ``rts`` mode releases the frames
        at least ``lag_s`` older than the newest one, and any frames without bodies
        ahead of the first one with — or all of them when ``final``. Frames without a
        body come back with None.
        """
        if not self._held:
            return []
        if self.params.mode == "forward":
            count = len(self._held)
            smoothed: list[SmoothedFrame | None] = [
                None if h.record is None else SmoothedFrame(h.record.quat, h.record.pos, h.record.betas)
                for h in self._held
            ]
        else:
            horizon = self._newest_s - self.params.lag_s
            # the leading run of old-enough frames (order is kept even if timestamps go back),
            # or of frames without bodies, which have nothing to wait for
            old_enough = sum(1 for _ in itertools.takewhile(lambda h: h.time_s <= horizon + 1e-9, self._held))
            bodiless = sum(1 for _ in itertools.takewhile(lambda h: h.record is None, self._held))
            count = len(self._held) if final else max(old_enough, bodiless)
            if count == 0:
                return []
            smoothed = self._backward() if count > bodiless else [None] * count
        out: list[tuple[Item, BodyParams | None]] = []
        for result in smoothed[:count]:
            held = self._held.popleft()
            body = held.body
            if body is not None and result is not None:  # an empty body passes as it is
                body = self._output(body, held.time_s, result)
            out.append((held.item, body))
        self._forget_outputs(self._held[0].time_s if self._held else self._newest_s)
        return out

    def _backward(self) -> list[SmoothedFrame | None]:
        records = [h.record for h in self._held if h.record is not None]
        frames = iter(smooth_backward(records, self.bank.capacity))
        return [None if h.record is None else next(frames) for h in self._held]

    def _output(self, raw: BodyParams, time_s: float, result: SmoothedFrame) -> BodyParams:
        """The smoothed record of one frame: ``raw`` with its filtered fields replaced."""
        quat = local_from_segment(result.quat) if self.params.segment_rotations else result.quat
        rotvec = rotvec_from_quat(quat)  # (N, J, 3), angle ≤ π
        previous = np.zeros_like(rotvec)
        known = np.zeros(len(raw), bool)
        ids = raw.track_id.tolist()
        for row, tid in enumerate(ids):
            prev = self._last_out.get(tid)
            if prev is not None and time_s - prev[0] <= self.params.gap_reset_s:
                previous[row], known[row] = prev[1], True
        if known.any():
            rotvec[known] = unwrap_rotvec(rotvec[known], previous[known])
        for row, tid in enumerate(ids):
            self._last_out[tid] = (time_s, rotvec[row])
        return BodyParams(
            track_id=raw.track_id,
            betas=result.betas.astype(np.float32),
            global_orient=rotvec[:, 0].astype(np.float32),
            body_pose=rotvec[:, 1:].astype(np.float32),
            transl=result.pos.astype(np.float32),
            cam_K=raw.cam_K,
            joint_conf=raw.joint_conf,
            joints_cam_m=None,
            left_hand_pose=raw.left_hand_pose,
            right_hand_pose=raw.right_hand_pose,
            jaw_pose=raw.jaw_pose,
            expression=raw.expression,
            body_model=raw.body_model,
            joint_world_only=raw.joint_world_only,
        )

    def _forget_outputs(self, out_time_s: float) -> None:
        """Drop the unwrap memory of tracks not output for longer than ``gap_reset_s``."""
        limit = out_time_s - self.params.gap_reset_s
        for tid in [t for t, (time_s, _) in self._last_out.items() if time_s < limit]:
            del self._last_out[tid]

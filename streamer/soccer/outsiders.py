"""People beside the field of play: stewards, photographers, ball kids, substitutes warming up.

Shape legend: ``N`` tracks in a frame.

A broadcast's wide shot shows people standing a few metres past the touch and goal lines.
Their pitch positions are right, but they are not players: like SoccerNet's game-state
reconstruction, a person the calibration confidently places outside the field of play is
not tracked as a participant. The decision is made per track over time, never from one
frame: a track is an outsider in a frame when, of the frames of a window of ``window_s``
centred on it in which it is tracked, at least ``min_seen`` (and two) had a calibration that
passed the gate, and its median distance beyond the lines over those exceeds ``margin_m``.
(The share is of the track's own frames: a steward boxed on and off, or a fragment of a
group, is judged on the frames it has.) So

* a throw-in taker or an assistant referee on the touchline (a metre or two out) stays;
* a player whose box bottom projects far out in a single frame (a foot-point or calibration
  glitch) stays: one frame does not move the median;
* a player walking off the pitch becomes an outsider once most of the window lies beyond
  the margin, and a substitute walking on becomes a player the same way;
* frames without a calibration (uncalibrated shots, frames the gate refused) give no
  evidence: on an uncalibrated shot nobody is an outsider. A frame whose window holds too
  little evidence keeps the track's last verdict (a steward stays an outsider through a few
  refused frames instead of surfacing as a one-row player).

The samples come only from frames whose calibration passed the confidence gate; the caller
(:class:`streamer.stages.calibrate.CalibrateStage`) feeds frames in stream order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from streamer.errors import ConfigError
from streamer.soccer import pitch_model
from streamer.soccer.ground import box_ground_px, feet_cut
from streamer.soccer.homography import apply_homography


@dataclass(frozen=True, slots=True)
class OutsiderConfig:
    """The ``calibrate.outsiders`` config section (trade-offs: ``configs/default.yaml``)."""

    keep: bool = False
    margin_m: float = 4.0
    window_s: float = 1.0
    min_seen: float = 0.5

    def __post_init__(self) -> None:
        if not self.margin_m >= 0:
            raise ConfigError(f"calibrate.outsiders.margin_m must be >= 0, got {self.margin_m}")
        if not self.window_s > 0:
            raise ConfigError(f"calibrate.outsiders.window_s must be > 0, got {self.window_s}")
        if not 0 < self.min_seen <= 1:
            raise ConfigError(f"calibrate.outsiders.min_seen must be in (0, 1], got {self.min_seen}")


def beyond_lines_m(xy: np.ndarray) -> np.ndarray:
    """(K,) how far (m) each of (K, 2) pitch points lies outside the touch and goal lines (0 inside)."""
    dx = np.abs(xy[:, 0]) - pitch_model.HALF_LENGTH_M
    dy = np.abs(xy[:, 1]) - pitch_model.HALF_WIDTH_M
    return np.hypot(np.clip(dx, 0, None), np.clip(dy, 0, None))


class OutsiderJudge:
    """Per-track evidence over a sliding window (feed frames in stream order with :meth:`observe`)."""

    def __init__(self, cfg: OutsiderConfig) -> None:
        self.cfg = cfg
        # id -> (time_s, beyond_m) of each frame it is tracked in (NaN: no calibration there)
        self._samples: dict[int, deque[tuple[float, float]]] = {}
        self._verdict: dict[int, bool] = {}  # id -> its last verdict from enough evidence

    def observe(self, time_s: float, track_id: np.ndarray, xyxy_px: np.ndarray,
                image_to_pitch: np.ndarray | None, image_rows: int | None = None) -> None:  # fmt: skip
        """One frame: its tracks and, when its calibration passed the gate, their positions
        (with ``image_rows``, none for boxes cut by the frame's bottom edge: no ground point)."""
        if len(track_id) == 0:
            return
        beyond = np.full(len(track_id), np.nan)
        if image_to_pitch is not None:
            with np.errstate(all="ignore"):
                xy = apply_homography(image_to_pitch, box_ground_px(xyxy_px))
            ok = np.isfinite(xy).all(axis=1)
            if image_rows is not None:
                ok &= ~feet_cut(xyxy_px, image_rows)
            beyond[ok] = beyond_lines_m(xy[ok])
        for tid, b in zip(np.asarray(track_id).tolist(), beyond.tolist(), strict=True):
            self._samples.setdefault(int(tid), deque()).append((time_s, b))

    def outsiders(self, time_s: float, track_id: np.ndarray, causal: bool = False) -> np.ndarray:
        """(N,) bool: which of a frame's tracks are outsiders, from the window around ``time_s``
        (``causal``: its past half only); too little evidence there: the track's last verdict.
        Frames after it must have been observed already; call in stream order."""
        half = self.cfg.window_s / 2
        lo, hi = time_s - half, time_s if causal else time_s + half
        out = np.zeros(len(track_id), bool)
        for i, tid in enumerate(np.asarray(track_id).tolist()):
            tracked = [b for t, b in self._samples.get(int(tid), ()) if lo <= t <= hi]
            seen = [b for b in tracked if b == b]  # calibrated frames only
            if len(seen) >= max(2, self.cfg.min_seen * len(tracked)):
                self._verdict[int(tid)] = float(np.median(seen)) > self.cfg.margin_m
            out[i] = self._verdict.get(int(tid), False)
        return out

    def forget_before(self, time_s: float) -> None:
        """Drop evidence older than the window of a frame at ``time_s``."""
        lo = time_s - self.cfg.window_s / 2
        for tid in list(self._samples):
            q = self._samples[tid]
            while q and q[0][0] < lo:
                q.popleft()
            if not q:
                del self._samples[tid]
                self._verdict.pop(tid, None)

    def reset(self) -> None:
        """Forget everything (a camera cut: track ids do not continue across it)."""
        self._samples.clear()
        self._verdict.clear()

"""The ``calibrate`` stage: each frame's image → pitch homography (``packet.calibration``).

Runs right after ``track``: it reads ``packet.camera_motion`` to carry the calibration
from frame to frame and the detection (or track) boxes to keep players out of the line
search. The logic lives in :class:`streamer.soccer.calibrator.Calibrator`.

Frames before the manual frame are held back until it arrives and are then calibrated
backward from it (through the inverse camera motion), so the manual frame need not be
the first; pick an early one, since every held frame stays in memory. If the stream ends
first they are released as they are (calibrated automatically when ``auto`` finds lines).

**Gate.** A frame whose calibration scores below ``min_confidence``
(:attr:`Calibrator.confidence`) leaves the stage with ``calibration=None``: the soccer
stage then writes no pitch position, speed or pitch-metre joint for it and flags its rows
``no_calibration``, and the overlay draws no pitch lines. The carried state keeps the
ungated calibration, so a calibration still gaining agreement can become confident. In a
file run a fresh fit's frames that lack only agreement are held until a later line fit
confirms the fit (then released calibrated) or the fit is lost (released without); a live
stage holds nothing.
:meth:`CalibrateStage.report` gives run.json the share of frames calibrated and the RMS
line distance of the calibrated frames.

**Camera cuts.** At a cut (``end_shot``/``reset``, or a change of ``packet.shot``) the
carried calibration is dropped and the new view is searched from scratch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamer.config import section_to
from streamer.records import Packet, PitchCalibration
from streamer.soccer.calibrator import Calibrator, CalibratorConfig
from streamer.stages import StageContext


def _boxes(packet: Packet) -> np.ndarray | None:
    if packet.detections is not None:
        return packet.detections.xyxy_px
    return packet.tracks.xyxy_px if packet.tracks is not None else None


class CalibrateStage:
    name = "calibrate"
    reads: tuple[str, ...] = ()
    uses = ("detections", "tracks", "camera_motion")  # player boxes masked out; the camera's motion
    fills = ("calibration",)

    def __init__(self, calibrator: Calibrator, hold: bool = True) -> None:
        self.calibrator = calibrator
        self.hold = hold  # may hold a fresh fit's frames until later frames confirm it (not live)
        self._tentative: list[tuple[Packet, PitchCalibration]] = []
        self._prev: PitchCalibration | None = None
        self._last_confirmed_s: float | None = None
        self._held: list[Packet] = []
        self._shot: int | None = None
        self._frames = self._calibrated = 0
        self._sq_err_px = 0.0
        self._err_frames = 0
        self._width_px = 0
        manual = calibrator.manual
        self._manual_frame = manual.frame_index if manual is not None else None

    def _gate(self, packet: Packet, cal: PitchCalibration | None, ok: bool | None = None) -> Packet:
        """The packet with ``cal`` if the calibrator trusts it (or ``ok``), else with none."""
        if ok is None:
            ok = cal is not None and self.calibrator.confidence >= self.calibrator.cfg.min_confidence
        self._frames += 1
        self._width_px = packet.frame.image.shape[1]
        if ok and cal is not None:
            self._calibrated += 1
            if np.isfinite(cal.reprojection_error_px):
                self._sq_err_px += cal.reprojection_error_px**2
                self._err_frames += 1
        return packet.replace(calibration=cal if ok else None)

    def _release(self, confirmed: bool) -> list[Packet]:
        """The held tentative frames: with their calibrations once later fits confirmed them."""
        held, self._tentative = self._tentative, []
        return [self._gate(p, c, ok=confirmed) for p, c in held]

    def _forward(self, packet: Packet) -> list[Packet]:
        out: list[Packet] = []
        shot = getattr(packet, "shot", None)
        if shot is not None and self._shot is not None and shot != self._shot:
            out += self._release(False)
            self.reset()
        self._shot = shot
        prior = self.calibrator.carry(self._prev, packet.camera_motion)
        frame = packet.frame
        cal = self.calibrator.step(
            frame.image, _boxes(packet), prior, self._last_confirmed_s, frame.index, frame.time_s
        )
        self._remember(cal, frame.time_s)
        calibrator = self.calibrator
        if self.hold and cal is not None and calibrator.tentative:
            if calibrator.found_now:  # a new from-scratch fit: the older guess was not confirmed
                out += self._release(False)
            self._tentative.append((packet, cal))
            return out
        done = self._gate(packet, cal)
        # the fit that started the held frames' streak is still going: it confirms them
        out += self._release(done.calibration is not None and calibrator.streak > len(self._tentative))
        return out + [done]

    def _remember(self, cal: PitchCalibration | None, time_s: float) -> None:
        self._prev = cal
        if cal is not None and cal.source in ("auto", "manual"):
            self._last_confirmed_s = time_s

    def _backward(self, held: list[Packet], anchor: Packet) -> list[Packet]:
        """Calibrate ``held`` (frames before ``anchor``, oldest first) from ``anchor`` backward."""
        out: list[Packet] = []
        nxt, confirmed = anchor, anchor.frame.time_s if anchor.calibration is not None else None
        for packet in reversed(held):
            prior = self.calibrator.carry(nxt.calibration, nxt.camera_motion, backward=True)
            frame = packet.frame
            cal = self.calibrator.step(
                frame.image, _boxes(packet), prior, confirmed, frame.index, frame.time_s
            )
            if cal is not None and cal.source in ("auto", "manual"):
                confirmed = frame.time_s
            nxt = packet.replace(calibration=cal)
            out.append(self._gate(packet, cal))
        return out[::-1]

    def process(self, packets: list[Packet]) -> list[Packet]:
        out: list[Packet] = []
        for packet in packets:
            if self._manual_frame is not None and packet.frame.index < self._manual_frame:
                self._held.append(packet)
                continue
            done = self._forward(packet)
            if self._held and done:
                out.extend(self._backward(self._held, done[0]))
                self._held = []
            out.extend(done)
        return out

    def flush(self) -> list[Packet]:
        held, self._held = self._held, []
        self._manual_frame = None  # never came: calibrate the held frames as they are
        return self.process(held) + self._release(False)

    def reset(self) -> None:
        """Forget the current view (a camera cut); held frames stay held."""
        self._prev, self._last_confirmed_s = None, None
        self.calibrator.reset()

    def end_shot(self) -> list[Packet]:
        """A camera cut: release the held frames, then carry nothing into the new view. A manual
        frame still ahead stays ahead: the new shot's frames before it are held for it."""
        manual = self._manual_frame
        out = self.flush()
        self.reset()
        self._shot = None
        self._manual_frame = manual
        return out

    def report(self) -> dict[str, Any]:
        """run.json's ``calibration``: share of frames calibrated, RMS line distance (px, % width)."""
        rms = float(np.sqrt(self._sq_err_px / self._err_frames)) if self._err_frames else None
        return {
            "calibration": {
                "frames": self._frames,
                "frames_calibrated": self._calibrated,
                "share_calibrated": round(self._calibrated / self._frames, 4) if self._frames else None,
                "reprojection_rms_px": None if rms is None else round(rms, 3),
                "reprojection_rms_pct_width": None if rms is None else round(100 * rms / self._width_px, 4),
                "searches": self.calibrator.stats["searches"],
            }
        }


def build(config: dict[str, Any], context: StageContext) -> CalibrateStage:
    section = config["calibrate"]
    cfg = section_to(CalibratorConfig, section, "calibrate")
    return CalibrateStage(Calibrator(cfg), hold=not getattr(context, "live", False))

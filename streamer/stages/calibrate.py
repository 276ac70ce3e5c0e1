"""The ``calibrate`` stage: each frame's image → pitch homography (``packet.calibration``).

Runs right after ``track``: it reads ``packet.camera_motion`` to carry the calibration
from frame to frame and the detection (or track) boxes to keep players out of the line
search. The logic lives in :class:`streamer.soccer.calibrator.Calibrator`.

Frames before the manual frame are held back until it arrives and are then calibrated
backward from it (through the inverse camera motion), so the manual frame need not be
the first; pick an early one, since every held frame stays in memory. If the stream ends
first they are released as they are (calibrated automatically when ``auto`` finds lines).
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

    def __init__(self, calibrator: Calibrator) -> None:
        self.calibrator = calibrator
        self._prev: PitchCalibration | None = None
        self._last_confirmed_s: float | None = None
        self._held: list[Packet] = []
        manual = calibrator.manual
        self._manual_frame = manual.frame_index if manual is not None else None

    def _forward(self, packet: Packet) -> Packet:
        prior = self.calibrator.carry(self._prev, packet.camera_motion)
        frame = packet.frame
        cal = self.calibrator.step(
            frame.image, _boxes(packet), prior, self._last_confirmed_s, frame.index, frame.time_s
        )
        self._remember(cal, frame.time_s)
        return packet.replace(calibration=cal)

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
            out.append(nxt)
        return out[::-1]

    def process(self, packets: list[Packet]) -> list[Packet]:
        out: list[Packet] = []
        for packet in packets:
            if self._manual_frame is not None and packet.frame.index < self._manual_frame:
                self._held.append(packet)
                continue
            done = self._forward(packet)
            if self._held:
                out.extend(self._backward(self._held, done))
                self._held = []
            out.append(done)
        return out

    def flush(self) -> list[Packet]:
        held, self._held = self._held, []
        self._manual_frame = None  # never came: calibrate the held frames as they are
        return self.process(held)

    def end_shot(self) -> list[Packet]:
        """A camera cut: nothing of the old view's calibration is carried into the new one."""
        out = self.flush() if self._held else []
        self._prev, self._last_confirmed_s = None, None
        self.calibrator._last_search_s = None  # search the new view at once
        return out


def build(config: dict[str, Any], context: StageContext) -> CalibrateStage:
    section = config["calibrate"]
    cfg = section_to(CalibratorConfig, section, "calibrate")
    return CalibrateStage(Calibrator(cfg))

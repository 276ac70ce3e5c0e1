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

**People beside the pitch.** Tracks the gated calibration confidently places beyond the touch
or goal lines (stewards, photographers, ball kids: :mod:`streamer.soccer.outsiders`, decided
per track over ``calibrate.outsiders.window_s``) are taken out of ``packet.tracks``, so no
later stage treats them as players (no keypoints, body, speed, player file or report row);
``run.json``'s ``outsiders`` counts them. A file run holds half a window of frames for it;
a live stage decides from the past half alone. ``calibrate.outsiders.keep: true`` keeps them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamer.config import section_to
from streamer.records import Packet, PitchCalibration
from streamer.soccer.calibrator import Calibrator, CalibratorConfig
from streamer.soccer.outsiders import OutsiderConfig, OutsiderJudge
from streamer.stages import StageContext


def _boxes(packet: Packet) -> np.ndarray | None:
    if packet.detections is not None:
        return packet.detections.xyxy_px
    return packet.tracks.xyxy_px if packet.tracks is not None else None


class CalibrateStage:
    name = "calibrate"
    reads: tuple[str, ...] = ()
    uses = ("detections", "tracks", "camera_motion")  # player boxes masked out; the camera's motion
    fills = ("calibration",)  # and takes the people beside the pitch out of ``tracks``

    def __init__(self, calibrator: Calibrator, hold: bool = True, outsiders: OutsiderConfig | None = None) -> None:
        self.calibrator = calibrator
        self.hold = hold  # may hold a fresh fit's frames until later frames confirm it (not live)
        self.outsider_cfg = outsiders if outsiders is not None else OutsiderConfig()
        self._judge = OutsiderJudge(self.outsider_cfg)
        self._judging: list[Packet] = []  # gated frames waiting for the rest of their window
        self._outsider_ids: set[int] = set()
        self._outsider_rows = 0
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

    def _outsiders(self, packets: list[Packet], final: bool = False) -> list[Packet]:
        """Gated packets in, packets whose window is complete out, without the outsiders' tracks."""
        if self.outsider_cfg.keep:
            return packets
        judge = self._judge
        for p in packets:
            tracks = p.tracks
            ids = tracks.track_id if tracks is not None else np.zeros(0, np.int64)
            boxes = tracks.xyxy_px if tracks is not None else np.zeros((0, 4))
            cal = p.calibration.image_to_pitch if p.calibration is not None else None
            judge.observe(p.frame.time_s, ids, boxes, cal, p.frame.image.shape[0])
            self._judging.append(p)
        half = self.outsider_cfg.window_s / 2
        newest = self._judging[-1].frame.time_s if self._judging else 0.0
        out: list[Packet] = []
        while self._judging:
            p = self._judging[0]
            tracked = p.tracks is not None and len(p.tracks) > 0  # nobody to judge: no need to wait
            if not (final or not self.hold or not tracked or p.frame.time_s <= newest - half):
                break
            self._judging.pop(0)
            if p.tracks is not None and len(p.tracks):
                away = judge.outsiders(p.frame.time_s, p.tracks.track_id, causal=not self.hold)
                if away.any():
                    self._outsider_ids.update(int(t) for t in p.tracks.track_id[away])
                    self._outsider_rows += int(away.sum())
                    p = p.replace(tracks=p.tracks.select(~away))
            judge.forget_before(p.frame.time_s)
            out.append(p)
        return out

    def process(self, packets: list[Packet]) -> list[Packet]:
        return self._outsiders(self._process(packets))

    def _process(self, packets: list[Packet]) -> list[Packet]:
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
        out = self._outsiders(self._process(held) + self._release(False), final=True)
        self._judge.reset()
        return out

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
            },
            "outsiders": {  # people beside the pitch taken out of the tracks (calibrate.outsiders)
                "kept": self.outsider_cfg.keep,
                "tracks": len(self._outsider_ids),
                "rows": self._outsider_rows,
            },
        }


def build(config: dict[str, Any], context: StageContext) -> CalibrateStage:
    section = config["calibrate"]
    cfg = section_to(CalibratorConfig, section, "calibrate")
    outsiders = section_to(OutsiderConfig, section["outsiders"], "calibrate.outsiders")
    return CalibrateStage(Calibrator(cfg), hold=not getattr(context, "live", False), outsiders=outsiders)

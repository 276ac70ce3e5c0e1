"""Per-frame pitch calibration: manual points, propagation through camera motion, line fits.

Shape legend: ``N`` player boxes; ``M`` manual point pairs.

One frame's calibration, in order of preference:

1. on the manual frame, the homography of the user's point pairs;
2. otherwise the previous frame's calibration carried through the camera motion the
   tracker estimated (``propagate``);
3. with ``auto``, whichever of those exists is then refined on the frame's white lines
   (:func:`streamer.soccer.line_fit.refine`). On the manual frame a refinement is kept
   only while the manual points stay within ``manual_tolerance_px`` of where it puts
   them: the user's clicks win over a line fit that snapped to the wrong line;
4. with ``auto`` and nothing to refine (no manual points, or the calibration has not been
   confirmed by lines for ``lost_after_s``), a from-scratch search
   (:func:`streamer.soccer.line_search.search`), at most once per ``search_interval_s``.

A calibration confirmed by lines is ``source="auto"`` with its RMS line distance as the
error; an unrefined manual one is ``"manual"`` with the RMS of its point pairs; a carried
one is ``"propagated"`` with error NaN (unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.errors import ConfigError
from streamer.records import PitchCalibration
from streamer.soccer import line_fit, line_search
from streamer.soccer.homography import (
    CalibrationError,
    apply_homography,
    fit_homography,
    focal_from_homography,
    intrinsics,
    propagate,
    reprojection_rms_px,
)
from streamer.soccer.lines import LineMaskConfig, line_image


@dataclass(frozen=True, slots=True)
class CalibratorConfig:
    """The ``calibrate`` config section (units and trade-offs: ``configs/default.yaml``)."""

    manual_frame: int = 0
    manual_points: tuple = ()  # ((u_px, v_px, x_m, y_m), ...)
    manual_tolerance_px: float = 6.0
    auto: bool = True
    propagate: bool = True
    search_interval_s: float = 1.0
    lost_after_s: float = 1.0
    max_error_px: float = 3.0
    search_radius_px: float = 14.0
    min_contrast: float = 18.0
    tophat_px: float = 11.0


def manual_pairs(points: tuple | list) -> tuple[np.ndarray, np.ndarray]:
    """(M, 2) image pixels and (M, 2) pitch metres from ``[[u, v, x, y], ...]`` rows."""
    try:
        rows = np.asarray(points, np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError("calibrate.manual_points must be a list of [u_px, v_px, x_m, y_m] numbers") from exc
    if rows.ndim != 2 or rows.shape[1] != 4:
        raise ConfigError(
            f"calibrate.manual_points: each row must be [u_px, v_px, x_m, y_m]; got shape {rows.shape}"
        )
    if len(rows) < 4:
        raise ConfigError(f"calibrate.manual_points: need at least 4 point pairs, got {len(rows)}")
    return rows[:, :2], rows[:, 2:]


@dataclass(frozen=True, slots=True, eq=False)
class ManualCalibration:
    """The user's point pairs and the homography they define."""

    frame_index: int
    image_px: np.ndarray  # (M, 2)
    pitch_m: np.ndarray  # (M, 2)
    image_to_pitch: np.ndarray  # (3, 3)
    rms_px: float

    @classmethod
    def from_points(cls, frame_index: int, points: tuple | list) -> ManualCalibration:
        image_px, pitch_m = manual_pairs(points)
        try:
            h = fit_homography(image_px, pitch_m)
        except CalibrationError as exc:
            raise ConfigError(f"calibrate.manual_points: {exc}") from exc
        return cls(frame_index, image_px, pitch_m, h, reprojection_rms_px(h, image_px, pitch_m))


def with_camera(h: np.ndarray, error_px: float, source: str, image_size: tuple[int, int]) -> PitchCalibration:
    """A :class:`PitchCalibration` with the intrinsics the homography implies (when observable)."""
    w, hgt = image_size
    focal = focal_from_homography(np.linalg.inv(h), (w / 2, hgt / 2))
    cam_k = intrinsics(focal, (w / 2, hgt / 2)) if focal is not None and 0.3 * w <= focal <= 30 * w else None
    return PitchCalibration(np.asarray(h, np.float64), float(error_px), source, cam_k)


class Calibrator:
    """Frame-by-frame calibration state (call :meth:`step` in stream order, or backward)."""

    def __init__(self, cfg: CalibratorConfig) -> None:
        self.cfg = cfg
        self.manual = (
            ManualCalibration.from_points(cfg.manual_frame, cfg.manual_points) if cfg.manual_points else None
        )
        mask = LineMaskConfig(tophat_px=cfg.tophat_px, min_contrast=cfg.min_contrast)
        fit = line_fit.FitConfig(max_error_px=cfg.max_error_px, search_radius_px=cfg.search_radius_px)
        self._mask_cfg, self._fit_cfg = mask, fit
        self._samples = line_fit.ModelSamples.build(fit.sample_step_m) if cfg.auto else None
        self._last_search_s: float | None = None
        self.stats = {"manual": 0, "auto": 0, "propagated": 0, "searches": 0, "none": 0}

    def step(
        self,
        image: np.ndarray,
        boxes_xyxy: np.ndarray | None,
        prior: PitchCalibration | None,
        last_confirmed_s: float | None,
        frame_index: int,
        time_s: float,
    ) -> PitchCalibration | None:
        """This frame's calibration.

        Args:
            image: (H, W, 3) uint8 RGB.
            boxes_xyxy: (N, 4) player boxes (hidden from the line search), or None.
            prior: the neighbouring frame's calibration already carried into this frame, or None.
            last_confirmed_s: stream time of the last frame confirmed by lines or the manual
                points (None: never), for ``lost_after_s``.
        """
        cfg = self.cfg
        size = (image.shape[1], image.shape[0])
        unit = image.shape[0] / 720.0
        manual = self.manual if self.manual is not None and frame_index == self.manual.frame_index else None
        if manual is not None:
            start, source, error = manual.image_to_pitch, "manual", manual.rms_px
        elif prior is not None:
            start, source, error = prior.image_to_pitch, "propagated", float("nan")
        else:
            start, source, error = None, "", float("nan")
        if cfg.auto and self._samples is not None:
            lines = line_image(image, boxes_xyxy, self._mask_cfg)
            fit = line_fit.refine(start, lines, self._samples, self._fit_cfg) if start is not None else None
            if fit is not None and manual is not None:
                moved = apply_homography(np.linalg.inv(fit.image_to_pitch), manual.pitch_m) - manual.image_px
                if np.sqrt((moved**2).sum(axis=1)).max() > cfg.manual_tolerance_px * unit:
                    fit = None
            lost = last_confirmed_s is None or time_s - last_confirmed_s > cfg.lost_after_s
            due = self._last_search_s is None or abs(time_s - self._last_search_s) >= cfg.search_interval_s
            if fit is None and manual is None and lost and due:
                self._last_search_s = time_s
                self.stats["searches"] += 1
                found = line_search.search(lines, self._samples, self._fit_cfg)
                if found is not None:
                    fit = found
            if fit is not None:
                start, source, error = fit.image_to_pitch, "auto", fit.rms_px
        if start is None:
            self.stats["none"] += 1
            return None
        self.stats[source] += 1
        return with_camera(start, error, source, size)

    def carry(
        self, calibration: PitchCalibration | None, prev_to_cur: np.ndarray | None, backward: bool = False
    ) -> PitchCalibration | None:
        """A neighbouring frame's calibration carried into this frame through the camera motion.

        Forward, ``prev_to_cur`` (2, 3) maps the previous frame's pixels to this frame's;
        backward (carrying from the next frame), it is the next frame's motion and is inverted.
        """
        if calibration is None or not self.cfg.propagate:
            return None
        if prev_to_cur is None:
            return calibration
        motion = np.vstack([np.asarray(prev_to_cur, np.float64), [0.0, 0.0, 1.0]])
        h = propagate(calibration.image_to_pitch, np.linalg.inv(motion) if backward else motion)
        return PitchCalibration(h, float("nan"), "propagated", calibration.cam_K)

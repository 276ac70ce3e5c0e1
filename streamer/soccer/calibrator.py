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

**Confidence.** Every step also scores how far its calibration can be trusted
(:attr:`Calibrator.confidence`, 0..1, the smallest of):

* *agreement*: a from-scratch fit is one guess; line fits in a row, each refined from the
  previous frame's calibration carried through the camera motion, that agree with it raise
  the score by 1/``min_streak`` each (the fit itself counts one), so with ``min_confidence``
  0.5 and ``min_streak`` 3 it is trusted from the second agreeing fit;
* *age*: a calibration carried without a line fit loses trust over ``lost_after_s``;
* *players*: with enough player boxes, the share of their ground points that land on the
  pitch (grown by ``players_margin_m``, the run-off where people beside the pitch stand): a
  fit that puts the players in the stands is wrong however well its lines sit (score 0 at
  half of them off, 1 at ``min_players_on_pitch``);
* *heights*: with enough boxes, their median height against a ``person_height_m`` person
  standing at their ground point, seen by the camera the homography implies (a turned fit gets
  the scale wrong; score 1 within ``heights_ok_ratio`` x, 0 at ``heights_bad_ratio`` x);
* *pitch*: a frame whose grass covers less than ``min_pitch_share`` of the image (a crowd
  shot, a close-up of a face) is not calibrated;
* *lines*: the share of the model's visible line points a line fit puts on painted lines:
  a wrong fit that snapped some lines leaves many model lines on bare grass (score 0 at
  ``min_fit_inliers`` - 0.25, 1 at ``min_fit_inliers``);
* *grass*: the frame's grass must land on the pitch grown by ``grass_margin_m`` (the run-off
  behind the lines): a fit that maps part of the visible grass far beyond the pitch (a
  mirrored or turned fit of a view from behind a goal) is wrong (score 1 when a share
  ``min_grass_on_pitch`` of it lands there, 0 when 0.1 less does; right fits on the shared
  broadcast clips put >= 0.98 there, wrong ones 0.3-0.9);
* *paint*: the share of the frame's line pixels that lie within ``paint_tolerance_px`` of a
  model marking drawn through the fit (the residual of all visible markings, not only those
  the fit matched): a turned fit of a view from behind a goal explains 0.33 of the paint,
  right fits 0.54-0.75 on the shared broadcast clips (the rest: unmasked kit, board and
  crowd pixels) and 0.94 on generated views (score 0 at ``min_paint_explained`` - 0.15, 1
  at ``min_paint_explained``).

The stage (:mod:`streamer.stages.calibrate`) gates on it: below ``min_confidence`` a frame
gets no calibration, so no pitch position, speed or pitch-metre joint comes from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.errors import ConfigError
from streamer.records import PitchCalibration
from streamer.soccer import line_fit, line_search, pitch_model
from streamer.soccer.homography import (
    CalibrationError,
    apply_homography,
    camera_from_homography,
    fit_homography,
    focal_from_homography,
    intrinsics,
    propagate,
    reprojection_rms_px,
)
from streamer.soccer.lines import LineImage, LineMaskConfig, line_image, player_sized, shrink


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
    work_rows: int = 480
    min_confidence: float = 0.5
    min_streak: int = 3
    players_margin_m: float = 10.0
    min_players_on_pitch: float = 0.8
    min_players: int = 4
    max_box_height_ratio: float = 2.5
    person_height_m: float = 1.8
    heights_ok_ratio: float = 2.0
    heights_bad_ratio: float = 3.5
    min_pitch_share: float = 0.2
    grass_margin_m: float = 10.0
    min_fit_inliers: float = 0.45
    min_grass_on_pitch: float = 0.97
    paint_tolerance_px: float = 4.0
    min_paint_explained: float = 0.45
    refit_every: int = 2


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
        dense = [
            m.points_m if len(m.points_m) > 2 else np.linspace(m.points_m[0], m.points_m[1], 40)
            for m in pitch_model.markings()
        ]
        # every marking's dense points in one array, and which marking each belongs to
        self._dense = np.concatenate(dense)
        self._dense_marking = np.repeat(np.arange(len(dense)), [len(d) for d in dense])
        self.paint_share = float("nan")  # of the last step's calibration (see _paint_share)
        self._moved = False  # the last carry had the camera's motion
        self._since_fit = 0  # frames carried without a line fit since the last one (refit_every)
        self._last_search_s: float | None = None
        self._streak = 0  # line fits in a row that agreed since the last from-scratch fit
        self.found_now = False  # the last step's calibration came from a from-scratch search
        self.confidence = 0.0  # of the last step's calibration
        self.scores: dict[str, float] = {}  # its parts (the confidence is their minimum)
        self.stats = {"manual": 0, "auto": 0, "propagated": 0, "searches": 0, "none": 0}

    @property
    def streak(self) -> int:
        """Line fits in a row that agreed, the from-scratch one included."""
        return self._streak

    @property
    def tentative(self) -> bool:
        """The last calibration lacks only agreement: a fresh fit that later frames may confirm."""
        others = [v for k, v in self.scores.items() if k != "agree"]
        return (
            0 < self._streak < self.cfg.min_streak
            and self.scores.get("agree", 1.0) < self.cfg.min_confidence
            and min(others, default=1.0) >= self.cfg.min_confidence
        )

    def reset(self) -> None:
        """Forget the view (a camera cut): the next frame is searched from scratch at once."""
        self._last_search_s = None
        self._since_fit = 0
        self._moved = False
        self._streak = 0
        self.confidence = 0.0
        self.scores = {}

    def _grass_score(self, h: np.ndarray, pitch_mask: np.ndarray) -> float:
        """1 when the frame's grass lands on the (grown) pitch through ``h``, 0 when 0.1 less does."""
        rows, cols = pitch_mask.shape
        v, u = np.mgrid[0:rows : max(1, rows // 24), 0:cols : max(1, cols // 32)]
        on = pitch_mask[v, u] > 0
        if not on.any():
            return 0.0
        uv = np.column_stack([u[on], v[on]]).astype(np.float64) + 0.5
        with np.errstate(all="ignore"):
            xy = apply_homography(h, uv)
            # grass behind the camera's horizon maps to the far side with a flipped sign
            depth = uv @ h[2, :2] + h[2, 2]
        inside = np.isfinite(xy).all(axis=1) & pitch_model.inside_pitch(xy, self.cfg.grass_margin_m)
        inside &= np.sign(depth) == np.sign(np.median(depth))
        share = float(np.mean(inside))
        return float(np.clip((share - self.cfg.min_grass_on_pitch + 0.1) / 0.1, 0.0, 1.0))

    def _paint_share(self, h: np.ndarray, lines: LineImage, tol_px: float) -> float:
        """Share of the frame's line pixels that lie within ``tol_px`` of a model marking drawn
        through ``h`` (work pixels -> pitch): the residual of all visible paint. A wrong fit
        that snapped a few lines leaves the rest of the paint unexplained (a turned fit of a
        view from behind a goal: 0.33 of it explained; right fits on generated views: 0.94+)."""
        if lines.num_pixels == 0:
            return 1.0
        rows, cols = lines.mask.shape
        canvas = np.zeros((rows, cols), np.uint8)
        p2i = np.linalg.inv(h)
        front = np.sign(p2i[2, 2]) or 1.0
        thick = max(1, int(round(2 * tol_px + 1)))
        pts_m = self._dense
        depth = pts_m @ p2i[2, :2] + p2i[2, 2]
        with np.errstate(all="ignore"):
            uv = apply_homography(p2i, pts_m)
        ok = np.isfinite(uv).all(axis=1) & (depth * front > 0) & (np.abs(uv) < 4 * max(rows, cols)).all(axis=1)
        # runs of drawable points along one marking: drawn as one polyline each
        kept = np.flatnonzero(ok)
        cut = (np.diff(kept) != 1) | (np.diff(self._dense_marking[kept]) != 0)
        runs = [r for r in np.split(kept, np.flatnonzero(cut) + 1) if len(r) >= 2]
        if runs:
            polylines = [np.rint((uv[r] - 0.5) * 4).astype(np.int32) for r in runs]
            cv2.polylines(canvas, polylines, False, 255, thick, cv2.LINE_8, 2)
        p = lines.points_px.astype(np.int64)
        return float(np.mean(canvas[p[:, 1], p[:, 0]] > 0))

    def _heights_score(self, h: np.ndarray, boxes_xyxy: np.ndarray | None, size: tuple[int, int]) -> float:
        """1 when player boxes are as tall as a ``person_height_m`` person standing there through
        the camera behind ``h`` (median within ``heights_ok_ratio`` x), 0 at ``heights_bad_ratio``
        x off; 1 when it cannot be told. Right fits on the shared clips stay within 1.8x (the
        focal length a homography implies is rough)."""
        cfg = self.cfg
        b = self._player_boxes(boxes_xyxy)
        if b is None:
            return 1.0
        cal = with_camera(h, float("nan"), "auto", size)
        if cal.cam_K is None:
            return 1.0
        pose = camera_from_homography(np.linalg.inv(h), cal.cam_K)
        if pose is None:
            return 0.0
        rot, t = pose
        with np.errstate(all="ignore"):
            xy = apply_homography(h, np.column_stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]]))
            ends = [np.column_stack([xy, np.full(len(xy), z)]) @ rot.T + t for z in (0.0, cfg.person_height_m)]
            v = [cal.cam_K[1, 1] * e[:, 1] / e[:, 2] for e in ends]
            ratio = (b[:, 3] - b[:, 1]) / (v[0] - v[1])
        ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
        if len(ratio) < cfg.min_players:
            return 0.0
        off = abs(float(np.log(np.median(ratio))))
        bad, ok = np.log(cfg.heights_bad_ratio), np.log(cfg.heights_ok_ratio)
        return float(np.clip((bad - off) / max(bad - ok, 1e-6), 0.0, 1.0))

    def _player_boxes(self, boxes_xyxy: np.ndarray | None) -> np.ndarray | None:
        """(K, 4) the boxes the players and heights checks judge: those within
        ``max_box_height_ratio`` x a typical player's height either way (taller: a box around a
        goal or a board; shorter: fragments; :func:`streamer.soccer.lines.player_sized`);
        None when fewer than ``min_players`` are left (the checks cannot tell)."""
        cfg = self.cfg
        if boxes_xyxy is None or len(boxes_xyxy) < cfg.min_players:
            return None
        b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        b = b[player_sized(b, cfg.max_box_height_ratio)]
        return b if len(b) >= cfg.min_players else None

    def _players_score(self, h: np.ndarray, boxes_xyxy: np.ndarray | None) -> float:
        """1 when enough player boxes stand on the pitch through ``h``, falling to 0 at half."""
        cfg = self.cfg
        b = self._player_boxes(boxes_xyxy)
        if b is None:
            return 1.0
        feet = np.column_stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]])
        with np.errstate(all="ignore"):
            xy = apply_homography(h, feet)
        share = float(np.mean(np.isfinite(xy).all(axis=1) & pitch_model.inside_pitch(xy, cfg.players_margin_m)))
        return float(np.clip((share - 0.5) / max(1e-6, cfg.min_players_on_pitch - 0.5), 0.0, 1.0))

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
        if self._between_fits(prior, manual is not None):
            return self._carried(start, boxes_xyxy, last_confirmed_s, time_s, size)
        self._since_fit = 0
        found_now, lines_share, grass, inliers, work_h = False, 1.0, None, 1.0, None
        if cfg.auto and self._samples is not None:
            # the lines are found on a smaller copy (cost goes with the pixel count); homographies
            # move between the two through the scale (full px -> work px: diag(s, s, 1))
            scale = min(1.0, cfg.work_rows / image.shape[0]) if cfg.work_rows > 0 else 1.0
            to_work = np.diag([scale, scale, 1.0])
            to_full = np.diag([1.0 / scale, 1.0 / scale, 1.0])
            small = image
            if scale < 1.0:
                wh = (max(8, round(image.shape[1] * scale)), max(8, round(image.shape[0] * scale)))
                small = shrink(image, wh)
            small_boxes = None if boxes_xyxy is None else np.asarray(boxes_xyxy, np.float64) * scale
            lines = line_image(small, small_boxes, self._mask_cfg)
            lines_share = float(np.count_nonzero(lines.pitch)) / lines.pitch.size
            grass = lines.pitch
            work_start = None if start is None else start @ to_full
            fit = line_fit.refine(work_start, lines, self._samples, self._fit_cfg) if start is not None else None
            if fit is not None and manual is not None:
                moved = apply_homography(np.linalg.inv(fit.image_to_pitch @ to_work), manual.pitch_m)
                if np.sqrt(((moved - manual.image_px) ** 2).sum(axis=1)).max() > cfg.manual_tolerance_px * unit:
                    fit = None
            lost = last_confirmed_s is None or time_s - last_confirmed_s > cfg.lost_after_s
            due = self._last_search_s is None or abs(time_s - self._last_search_s) >= cfg.search_interval_s
            if fit is None and manual is None and lost and due:
                self._last_search_s = time_s
                self.stats["searches"] += 1
                pitch_px = lines.pitch
                found = line_search.search(
                    lines,
                    self._samples,
                    self._fit_cfg,
                    accept=lambda h: self._grass_score(h, pitch_px) >= cfg.min_confidence,
                )
                if found is not None:
                    fit, found_now = found, True
            if fit is not None:
                start, source, error = fit.image_to_pitch @ to_work, "auto", fit.rms_px / scale
                inliers = fit.inlier_fraction
            work_h = to_full
        self.found_now = found_now
        if start is None:
            self.stats["none"] += 1
            self._streak, self.confidence, self.scores = 0, 0.0, {}
            return None
        self.stats[source] += 1
        self.scores = self._confidence(
            source, start, manual is not None, found_now, boxes_xyxy, lines_share, last_confirmed_s, time_s, size
        )
        if grass is not None and work_h is not None:
            self.scores["grass"] = self._grass_score(start @ work_h, grass)
            self.paint_share = self._paint_share(start @ work_h, lines, cfg.paint_tolerance_px * unit * scale)
            lo = cfg.min_paint_explained - 0.15
            self.scores["paint"] = float(np.clip((self.paint_share - lo) / 0.15, 0.0, 1.0))
        self.scores["lines"] = float(np.clip((inliers - (cfg.min_fit_inliers - 0.25)) / 0.25, 0.0, 1.0))
        self.confidence = min(self.scores.values())
        return with_camera(start, error, source, size)

    def _between_fits(self, prior: PitchCalibration | None, anchored: bool) -> bool:
        """Whether this frame takes the carried calibration without looking at its lines: the
        camera's motion carried a trusted fit here, and the last line fit was fewer than
        ``refit_every`` frames ago."""
        cfg = self.cfg
        return (
            cfg.auto and cfg.refit_every > 1 and not anchored and prior is not None and self._moved
            and self._since_fit < cfg.refit_every - 1 and self.confidence >= cfg.min_confidence
        )  # fmt: skip

    def _carried(
        self,
        h: np.ndarray,
        boxes_xyxy: np.ndarray | None,
        last_confirmed_s: float | None,
        time_s: float,
        size: tuple[int, int],
    ) -> PitchCalibration:
        """The carried calibration of a frame between line fits: the checks that need the
        frame's lines and grass keep the last fit's scores, the rest are made afresh."""
        self._since_fit += 1
        self.found_now = False
        self.stats["propagated"] += 1
        kept = {k: v for k, v in self.scores.items() if k in ("grass", "paint", "lines", "pitch")}
        self.scores = self._confidence("propagated", h, False, False, boxes_xyxy, 1.0, last_confirmed_s, time_s, size)
        self.scores.update(kept)
        self.confidence = min(self.scores.values())
        return with_camera(h, float("nan"), "propagated", size)

    def _confidence(
        self,
        source: str,
        h: np.ndarray,
        anchored: bool,
        found_now: bool,
        boxes_xyxy: np.ndarray | None,
        pitch_share: float,
        last_confirmed_s: float | None,
        time_s: float,
        size: tuple[int, int],
    ) -> dict[str, float]:
        cfg = self.cfg
        if anchored:  # the user's points vouch for the manual frame (refined or not)
            self._streak = max(self._streak + 1, cfg.min_streak)
        elif source == "auto":
            self._streak = 1 if found_now else self._streak + 1
        scores = {"agree": min(1.0, self._streak / max(1, cfg.min_streak))}
        if source == "propagated" and cfg.auto:  # without line fits nothing could confirm it
            age = float("inf") if last_confirmed_s is None else abs(time_s - last_confirmed_s)
            scores["age"] = float(np.clip(1.0 - age / max(cfg.lost_after_s, 1e-6), 0.0, 1.0))
        scores["pitch"] = 1.0 if pitch_share >= cfg.min_pitch_share else 0.0
        scores["players"] = self._players_score(h, boxes_xyxy)
        scores["heights"] = self._heights_score(h, boxes_xyxy, size)
        return scores

    def carry(
        self, calibration: PitchCalibration | None, prev_to_cur: np.ndarray | None, backward: bool = False
    ) -> PitchCalibration | None:
        """A neighbouring frame's calibration carried into this frame through the camera motion.

        Forward, ``prev_to_cur`` (2, 3) maps the previous frame's pixels to this frame's;
        backward (carrying from the next frame), it is the next frame's motion and is inverted.
        """
        self._moved = calibration is not None and prev_to_cur is not None
        if calibration is None or not self.cfg.propagate:
            return None
        if prev_to_cur is None:
            return calibration
        motion = np.vstack([np.asarray(prev_to_cur, np.float64), [0.0, 0.0, 1.0]])
        h = propagate(calibration.image_to_pitch, np.linalg.inv(motion) if backward else motion)
        return PitchCalibration(h, float("nan"), "propagated", calibration.cam_K)

"""The soccer layer of ``overlay.mp4``: projected pitch lines, speeds, a minimap.

Shape legend: ``H, W`` frame size; ``N`` players.

Drawn on top of the boxes the overlay sink already colours by team: the pitch model
through the frame's calibration (its lines must sit on the painted ones: a calibration
check at a glance), each player's speed beside the box, and a top-down minimap with one
dot per player in the team colours of :data:`streamer.records.TEAM_RGB`.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamer.records import TEAM_RGB, Packet, PitchCalibration
from streamer.soccer import pitch_model
from streamer.soccer.homography import apply_homography

_LINE_RGB = (255, 0, 255)
_MAP_WIDTH_FRAC = 0.22  # minimap width as a fraction of the frame width


def _dense(points_m: np.ndarray, step_m: float = 1.0) -> np.ndarray:
    """Straight segments resampled every ``step_m`` (their images bend near the frame edges)."""
    if len(points_m) != 2:
        return points_m
    n = max(2, int(np.linalg.norm(points_m[1] - points_m[0]) / step_m) + 1)
    return np.linspace(points_m[0], points_m[1], n)


_DENSE_MARKINGS: list[np.ndarray] = []  # the pitch markings resampled by _dense, made once


def _dense_markings() -> list[np.ndarray]:
    if not _DENSE_MARKINGS:
        _DENSE_MARKINGS.extend(_dense(mark.points_m) for mark in pitch_model.markings())
    return _DENSE_MARKINGS


def draw_pitch_lines(
    canvas: np.ndarray, calibration: PitchCalibration, colour: tuple[int, int, int] = _LINE_RGB
) -> None:
    """Draw the pitch model's markings through ``calibration`` onto ``canvas`` (H, W, 3) in place."""
    h, w = canvas.shape[:2]
    pitch_to_image = np.linalg.inv(calibration.image_to_pitch)
    front = np.sign(pitch_to_image[2, 2]) or 1.0
    for pts_m in _dense_markings():
        # only points in front of the camera: the third homogeneous coordinate keeps its sign
        depth = pts_m @ pitch_to_image[2, :2] + pitch_to_image[2, 2]
        uv = apply_homography(pitch_to_image, pts_m)
        ok = np.isfinite(uv).all(axis=1) & (depth * front > 0) & (np.abs(uv) < 4 * max(h, w)).all(axis=1)
        for run in np.split(np.arange(len(uv)), np.flatnonzero(~ok)):
            run = run[ok[run]]
            if len(run) >= 2:
                # OpenCV draws at pixel indices (pixel i's centre is at i + 0.5 in our coordinates)
                pts = np.rint(uv[run] - 0.5).astype(np.int32)
                cv2.polylines(canvas, [pts], False, colour, 1, cv2.LINE_AA)


def draw_minimap(canvas: np.ndarray, pitch_xy_m: np.ndarray, team: np.ndarray) -> None:
    """A top-down pitch with one dot per (N, 2) position in the frame's top-left corner (in place)."""
    h, w = canvas.shape[:2]
    mw = max(60, int(w * _MAP_WIDTH_FRAC))
    scale = mw / (pitch_model.PITCH_LENGTH_M + 6)
    mh = int((pitch_model.PITCH_WIDTH_M + 6) * scale)
    x0, y0 = 6, 6
    if x0 + mw >= w or y0 + mh >= h:
        return
    roi = canvas[y0 : y0 + mh, x0 : x0 + mw]
    # half grass green: (pixel + green) / 2 rounded down, in integers
    roi[:] = (roi.astype(np.uint16) + np.array([30, 110, 40], np.uint16)) >> 1

    def to_map(p: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [
                (p[:, 0] + pitch_model.HALF_LENGTH_M + 3) * scale,
                (pitch_model.HALF_WIDTH_M + 3 - p[:, 1]) * scale,
            ]
        )

    for mark in pitch_model.markings():
        pts = np.rint(to_map(mark.points_m)).astype(np.int32)
        cv2.polylines(roi, [pts], False, (235, 235, 235), 1, cv2.LINE_AA)
    ok = np.isfinite(pitch_xy_m).all(axis=1)
    for (u, v), t in zip(to_map(pitch_xy_m[ok]), team[ok], strict=True):
        if 0 <= u < mw and 0 <= v < mh:
            colour = TEAM_RGB.get(int(t), TEAM_RGB[-1])
            cv2.circle(roi, (int(round(u)), int(round(v))), 3, colour, -1, cv2.LINE_AA)


def draw_soccer_layer(image: np.ndarray, packet: Packet, out: np.ndarray | None = None) -> np.ndarray:
    """``image`` (H, W, 3) RGB with pitch lines, speeds and a minimap (the input when there are none);
    drawn into ``out`` instead when given (``image`` itself or a copy of it; returned)."""
    calibration, tracks, metrics = packet.calibration, packet.tracks, packet.metrics
    if calibration is None and metrics is None:
        return image if out is None else out
    canvas = image.copy() if out is None else out
    if calibration is not None:
        draw_pitch_lines(canvas, calibration)
    if metrics is None or tracks is None or len(metrics) == 0:
        return canvas
    row = {int(t): i for i, t in enumerate(metrics.track_id)}
    for tid, box in zip(tracks.track_id, tracks.xyxy_px, strict=True):
        j = row.get(int(tid))
        if j is None or not np.isfinite(metrics.speed_mps[j]):
            continue
        colour = TEAM_RGB.get(int(metrics.team[j]), TEAM_RGB[-1])
        x2, y2 = int(round(float(box[2]))), int(round(float(box[3])))
        cv2.putText(canvas, f"{metrics.speed_mps[j]:.1f}", (x2 + 2, y2), cv2.FONT_HERSHEY_SIMPLEX, 0.32,
                    colour, 1, cv2.LINE_AA)  # fmt: skip
    if calibration is not None:  # uncalibrated: no position to show, no empty map over the picture
        draw_minimap(canvas, metrics.pitch_xy_m.astype(np.float64), metrics.team)
    return canvas

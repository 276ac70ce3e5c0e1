"""``streamer calibrate``: a frame with a pixel grid to pick manual calibration points from.

Writes, into an output folder:

* ``calibrate_frame<N>.png``: frame N with a labelled pixel grid; the manual points of
  the given config (if any) drawn and numbered, with the pitch model projected through
  their homography in magenta, and the automatic line fit (if one is found) in cyan;
* ``pitch_landmarks.png``: the 105 x 68 m pitch with every named landmark and its
  coordinates, to read the ``x_m, y_m`` half of each point pair from.

and returns a YAML snippet for the config: the manual points' fit error, or, when the
automatic fit found the pitch, the landmarks it sees in the frame as ready-made
``[u_px, v_px, x_m, y_m]`` rows to check against the grid and edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer.errors import InputError
from streamer.io.atomic import commit, partial_path
from streamer.records import PitchCalibration
from streamer.soccer import line_fit, line_search, pitch_model
from streamer.soccer.calibrator import ManualCalibration
from streamer.soccer.homography import apply_homography
from streamer.soccer.lines import LineMaskConfig, line_image
from streamer.soccer.overlay import draw_pitch_lines


def read_frame(input_uri: str, frame_index: int, source_cfg: dict[str, Any]) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame ``frame_index`` (0-based, as the pipeline numbers frames)."""
    from streamer.io.source import open_source

    source = open_source(input_uri, source_cfg)
    try:
        for frame in source:
            if frame.index == frame_index:
                return frame.image
    finally:
        source.close()
    raise InputError(f"{input_uri} has no frame {frame_index}")


def draw_grid(image: np.ndarray, step_px: int) -> np.ndarray:
    """A copy of ``image`` with grid lines every ``step_px`` pixels, labelled with their coordinate."""
    canvas = image.copy()
    h, w = canvas.shape[:2]
    major = (255, 255, 0)
    for x in range(0, w, step_px):
        cv2.line(canvas, (x, 0), (x, h - 1), major, 1)
        cv2.putText(canvas, str(x), (x + 2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.32, major, 1, cv2.LINE_AA)
    for y in range(0, h, step_px):
        cv2.line(canvas, (0, y), (w - 1, y), major, 1)
        cv2.putText(canvas, str(y), (2, y - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.32, major, 1, cv2.LINE_AA)
    return canvas


def _write_png(path: Path, rgb: np.ndarray) -> None:
    temp = partial_path(path)
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"cannot encode {path}")
    temp.write_bytes(data.tobytes())
    commit(temp, path)


def landmarks_png(path: Path) -> Path:
    """Draw the pitch with every landmark of :func:`pitch_model.landmarks` and its coordinates."""
    scale, margin_x, margin_y = 12, 300, 40
    w = int(pitch_model.PITCH_LENGTH_M * scale) + 2 * margin_x
    h = int(pitch_model.PITCH_WIDTH_M * scale) + 2 * margin_y
    canvas = np.full((h, w, 3), (40, 120, 50), np.uint8)

    def to_px(p: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [
                (p[:, 0] + pitch_model.HALF_LENGTH_M) * scale + margin_x,
                (pitch_model.HALF_WIDTH_M - p[:, 1]) * scale + margin_y,
            ]
        )

    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.36
    for mark in pitch_model.markings():
        pts = np.rint(to_px(mark.points_m)).astype(np.int32)
        cv2.polylines(canvas, [pts], False, (255, 255, 255), 2, cv2.LINE_AA)
    for name, (x, y) in pitch_model.landmarks().items():
        u, v = (int(c) for c in to_px(np.array([[x, y]]))[0])
        cv2.circle(canvas, (u, v), 4, (255, 60, 60), -1, cv2.LINE_AA)
        text = f"{name} ({x:.2f}, {y:.2f})".replace(".00", "")
        (tw, _), _ = cv2.getTextSize(text, font, size, 1)
        # goal-line points are labelled outside the pitch, the others toward the halfway line;
        # labels of points close to each other go one above, one below
        on_goal_line = abs(abs(x) - pitch_model.HALF_LENGTH_M) < 1e-6
        outward = on_goal_line == (x < 0)
        tx = u - tw - 6 if outward else u + 6
        ty = v + 14 if ("arc_far_end" in name or "goal_area_near" in name) else v - 5
        cv2.putText(canvas, text, (tx, ty), font, size, (255, 255, 190), 1, cv2.LINE_AA)
    legend = "x (m) ->   y (m) up;  the camera stands at y < -34 (bottom)"
    cv2.putText(canvas, legend, (margin_x, h - 12), font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    _write_png(path, canvas)
    return path


def visible_landmarks(
    image_to_pitch: np.ndarray, size: tuple[int, int], margin_px: float = 4.0
) -> list[list[float]]:
    """``[u_px, v_px, x_m, y_m]`` rows for the landmarks a homography puts inside the frame."""
    w, h = size
    names = pitch_model.landmarks()
    pts = np.array(list(names.values()))
    uv = apply_homography(np.linalg.inv(image_to_pitch), pts)
    inside = np.isfinite(uv).all(axis=1) & (uv[:, 0] >= margin_px) & (uv[:, 0] <= w - margin_px)
    inside &= (uv[:, 1] >= margin_px) & (uv[:, 1] <= h - margin_px)
    return [
        [round(float(u), 1), round(float(v), 1), float(x), float(y)]
        for (u, v), (x, y), ok in zip(uv, pts, inside, strict=True)
        if ok
    ]


def calibration_frame(
    input_uri: str,
    out_dir: Path,
    frame_index: int = 0,
    grid_px: int = 50,
    source_cfg: dict[str, Any] | None = None,
    manual_points: list | None = None,
) -> tuple[list[Path], str]:
    """Write the grid frame and the landmark chart; return the paths and a YAML snippet to paste."""
    from streamer.config import defaults

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    image = read_frame(input_uri, frame_index, source_cfg if source_cfg is not None else defaults()["source"])
    h, w = image.shape[:2]
    canvas = draw_grid(image, grid_px)
    lines = line_image(image, None, LineMaskConfig())
    auto = line_search.search(lines, line_fit.ModelSamples.build(0.5), line_fit.FitConfig())
    if auto is not None:
        draw_pitch_lines(canvas, PitchCalibration(auto.image_to_pitch, auto.rms_px, "auto"), (0, 255, 255))
    snippet = [f"calibrate:\n  manual_frame: {frame_index}"]
    if manual_points:
        manual = ManualCalibration.from_points(frame_index, manual_points)
        draw_pitch_lines(canvas, PitchCalibration(manual.image_to_pitch, manual.rms_px, "manual"))
        for k, (u, v) in enumerate(manual.image_px):
            cv2.circle(canvas, (int(round(u)), int(round(v))), 4, (255, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(
                canvas, str(k), (int(u) + 5, int(v) + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 0, 0), 1
            )
        snippet.append(f"  # your {len(manual.image_px)} manual points fit with RMS {manual.rms_px:.2f} px")
    elif auto is not None:
        snippet.append(
            f"  # automatic fit: RMS {auto.rms_px:.2f} px; landmarks it sees (check them on the grid):"
        )
        snippet.append("  manual_points:")
        snippet += [f"    - {row}" for row in visible_landmarks(auto.image_to_pitch, (w, h))]
    else:
        snippet.append("  manual_points: []   # >= 4 rows [u_px, v_px, x_m, y_m]; see pitch_landmarks.png")
    frame_png = out_dir / f"calibrate_frame{frame_index}.png"
    _write_png(frame_png, canvas)
    return [frame_png, landmarks_png(out_dir / "pitch_landmarks.png")], "\n".join(snippet)

"""A synthetic clip for ``streamer demo``: runs anywhere, needs no media of your own.

The scene is a striped green pitch with white lines seen by a camera that pans
slowly, and a dozen figures in two shirt colours running across it. Everything
is drawn with numpy, deterministically from a seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamer.io.video_writer import VideoWriter

TEAM_COLOURS = ((220, 30, 30), (240, 240, 240))
SKIN, SHORTS, GRASS_A, GRASS_B = (200, 150, 120), (20, 20, 60), (40, 120, 40), (50, 135, 50)


def _pitch(width: int, height: int, pan_px: float) -> np.ndarray:
    """Mowing stripes and a few white lines, shifted sideways by the camera pan."""
    x = np.arange(width) + pan_px
    stripe = ((x // 80).astype(np.int64) % 2).astype(bool)
    image = np.empty((height, width, 3), np.uint8)
    image[:] = np.where(stripe[None, :, None], GRASS_A, GRASS_B)
    horizon = height // 6
    image[:horizon] = (70, 70, 80)  # stands
    image[horizon : horizon + 3] = 255  # touchline
    for line_x in (400.0, 1400.0):  # halfway line and box edge, in pan coordinates
        col = int(round(line_x - pan_px))
        if 0 <= col < width - 2:
            image[horizon:, col : col + 2] = 255
    return image


def _figure(image: np.ndarray, cx: float, foot_y: float, height_px: float, colour, phase: float) -> None:
    """A simple runner: head, shirt, shorts and two swinging legs."""
    h, w = image.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    unit = height_px / 8.0
    head_y = foot_y - 7.4 * unit
    parts = [
        ((xx - cx) ** 2 + (yy - head_y) ** 2 <= (0.55 * unit) ** 2, SKIN),
        ((np.abs(xx - cx) <= 1.0 * unit) & (yy >= head_y + 0.6 * unit) & (yy <= foot_y - 3.6 * unit), colour),
        ((np.abs(xx - cx) <= 0.9 * unit) & (yy > foot_y - 3.6 * unit) & (yy <= foot_y - 2.6 * unit), SHORTS),
    ]
    swing = np.sin(phase) * 0.9 * unit
    for side in (-1, 1):
        leg_x = cx + side * 0.45 * unit + side * swing
        parts.append(
            ((np.abs(xx - leg_x) <= 0.3 * unit) & (yy > foot_y - 2.6 * unit) & (yy <= foot_y), SKIN)
        )
    for mask, col in parts:
        image[mask] = col


def render_frame(index: int, fps: float, width: int, height: int, seed: int = 0) -> np.ndarray:
    """Frame ``index`` of the demo scene as (height, width, 3) uint8 RGB."""
    rng = np.random.default_rng(seed)
    n_players = 12
    start = rng.uniform([0.05, 0.35], [0.95, 0.95], size=(n_players, 2)) * (width, height)
    velocity = rng.uniform(-60, 60, size=(n_players, 2)) * (1.0, 0.3)  # px/s
    t = index / fps
    pan = 40.0 * t
    image = _pitch(width, height, pan)
    pos = start + velocity * t
    pos[:, 0] = np.mod(pos[:, 0] - pan, width)
    pos[:, 1] = np.clip(pos[:, 1], height * 0.3, height * 0.98)
    order = np.argsort(pos[:, 1])  # far players first, near ones drawn over them
    for i in order:
        scale = 0.12 + 0.1 * (pos[i, 1] / height)  # perspective: lower = nearer = taller
        _figure(image, pos[i, 0], pos[i, 1], scale * height, TEAM_COLOURS[i % 2], 8.0 * t + i)
    return image


def make_demo_clip(path: str | Path, *, seconds: float = 4.0, fps: float = 25.0,
                   size: tuple[int, int] = (960, 540), seed: int = 0) -> Path:
    """Write the demo scene to ``path`` (an mp4) and return the path."""
    width, height = size
    writer = VideoWriter(path, fps=fps)
    for index in range(int(round(seconds * fps))):
        writer.write(render_frame(index, fps, width, height, seed), index / fps)
    writer.close()
    return Path(path)

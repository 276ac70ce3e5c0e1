"""Soccer pitch geometry (IFAB markings) and its top-down grass texture.

Pitch frame (metres): origin at the centre spot, x along the touchlines (length, -52.5..52.5),
y across toward the far touchline (-34 near, +34 far), z up. The broadcast camera stands
on the near (y < 0) side.

Texture coordinates are continuous texels with the corner convention of
:mod:`streamer.render.camera`: ``tx = (x - x_min) * px_per_m``, ``ty = (y_max - y) * px_per_m``
(the far side at the top, as seen from the camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# the markings' dimensions are the calibration's pitch model: one definition of the pitch
from streamer.soccer.pitch_model import (
    CIRCLE_RADIUS_M as CENTRE_CIRCLE_RADIUS_M,
)
from streamer.soccer.pitch_model import (
    GOAL_AREA_DEPTH_M,
    GOAL_AREA_HALF_WIDTH_M,
    PENALTY_AREA_DEPTH_M,
    PENALTY_AREA_HALF_WIDTH_M,
    PENALTY_SPOT_M,
    PITCH_LENGTH_M,
    PITCH_WIDTH_M,
)

LINE_WIDTH_M = 0.12
PENALTY_AREA_WIDTH_M = 2 * PENALTY_AREA_HALF_WIDTH_M
GOAL_AREA_WIDTH_M = 2 * GOAL_AREA_HALF_WIDTH_M
GOAL_WIDTH_M = 7.32
GOAL_HEIGHT_M = 2.44
#: mowing stripes across the pitch: 20 bands between the goal lines
STRIPE_WIDTH_M = PITCH_LENGTH_M / 20

_HALF_L, _HALF_W = PITCH_LENGTH_M / 2, PITCH_WIDTH_M / 2


def _arc(center: tuple[float, float], radius: float, start: float, stop: float, n: int = 64) -> np.ndarray:
    angle = np.linspace(start, stop, n)
    return np.stack([center[0] + radius * np.cos(angle), center[1] + radius * np.sin(angle)], 1)


def _rect(x0: float, x1: float, half_width: float) -> np.ndarray:
    return np.array([[x0, -half_width], [x1, -half_width], [x1, half_width], [x0, half_width]])


def pitch_markings() -> list[tuple[np.ndarray, bool]]:
    """The painted lines as (polyline (K, 2) in pitch metres, closed) pairs."""
    lines: list[tuple[np.ndarray, bool]] = [
        (_rect(-_HALF_L, _HALF_L, _HALF_W), True),  # touchlines and goal lines
        (np.array([[0.0, -_HALF_W], [0.0, _HALF_W]]), False),  # halfway line
        (_arc((0.0, 0.0), CENTRE_CIRCLE_RADIUS_M, 0, 2 * np.pi, 128), True),
    ]
    # the penalty arc is the part of the 9.15 m circle round the spot outside the area
    arc_half = np.arccos((PENALTY_AREA_DEPTH_M - PENALTY_SPOT_M) / CENTRE_CIRCLE_RADIUS_M)
    for side in (-1.0, 1.0):
        goal = side * _HALF_L
        lines.append((_rect(goal, goal - side * PENALTY_AREA_DEPTH_M, PENALTY_AREA_WIDTH_M / 2), False))
        lines.append((_rect(goal, goal - side * GOAL_AREA_DEPTH_M, GOAL_AREA_WIDTH_M / 2), False))
        spot = (goal - side * PENALTY_SPOT_M, 0.0)
        facing = np.pi if side > 0 else 0.0
        lines.append((_arc(spot, CENTRE_CIRCLE_RADIUS_M, facing - arc_half, facing + arc_half, 32), False))
        lines.append((_arc(spot, 0.11, 0, 2 * np.pi, 12), True))  # penalty spot
        for corner_y in (-_HALF_W, _HALF_W):  # 1 m corner arcs, the quarter facing the pitch
            inward = np.arctan2(-np.sign(corner_y), -side)
            lines.append((_arc((goal, corner_y), 1.0, inward - np.pi / 4, inward + np.pi / 4, 12), False))
    lines.append((_arc((0.0, 0.0), 0.11, 0, 2 * np.pi, 12), True))  # centre spot
    return lines


@dataclass(frozen=True, slots=True, eq=False)
class GroundTexture:
    """Top-down image of the grass around and on the pitch.

    Attributes:
        image: (Ht, Wt, 3) uint8 RGB.
        px_per_m: texels per metre.
        x_min_m / y_max_m: pitch coordinates of the texture's top-left corner.
    """

    image: np.ndarray
    px_per_m: float
    x_min_m: float
    y_max_m: float

    def pitch_to_texel(self) -> np.ndarray:
        """(3, 3) affine map from pitch (x, y, 1) to continuous texel (tx, ty, 1)."""
        s = self.px_per_m
        return np.array([[s, 0.0, -s * self.x_min_m], [0.0, -s, s * self.y_max_m], [0.0, 0.0, 1.0]])


def ground_texture(
    rng: np.random.Generator,
    *,
    px_per_m: float = 20.0,
    margin_x_m: float = 20.0,
    margin_far_m: float = 6.0,
    margin_near_m: float = 16.0,
    grass_rgb: tuple[int, int, int] = (82, 122, 60),
    stripe_contrast: float = 0.06,
) -> GroundTexture:
    """Striped, mottled grass with white markings and run-off around the lines.

    The margins are metres of grass beyond the goal lines (x), the far touchline (where the
    boards stand) and the near touchline (toward the camera).

    Args:
        rng: randomness for the mottling (the texture is deterministic given its state).
        px_per_m: resolution; 20 keeps the 12 cm lines about 2.4 texels wide.
        stripe_contrast: relative brightness difference between neighbouring mowing stripes.
    """
    x_min, y_max = -_HALF_L - margin_x_m, _HALF_W + margin_far_m
    width = int(round(2 * (_HALF_L + margin_x_m) * px_per_m))
    height = int(round((PITCH_WIDTH_M + margin_far_m + margin_near_m) * px_per_m))
    x = x_min + (np.arange(width) + 0.5) / px_per_m
    stripe = np.where(np.floor((x + _HALF_L) / STRIPE_WIDTH_M).astype(int) % 2 == 0, 1.0, -1.0)
    stripe = np.where(np.abs(x) <= _HALF_L + 2.0, stripe, 0.0)
    # low-frequency mottling: a coarse random field, smoothly upsampled
    coarse = rng.normal(0.0, 1.0, (max(height // 60, 2), max(width // 60, 2))).astype(np.float32)
    mottle = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0.0, 1.0, (height, width)).astype(np.float32)
    shade = 1.0 + stripe_contrast * stripe[None, :] + 0.035 * mottle + 0.02 * fine
    image = np.clip(np.asarray(grass_rgb, np.float32)[None, None, :] * shade[..., None], 0, 255).astype(np.uint8)
    texture = GroundTexture(image, px_per_m, x_min, y_max)
    draw_markings(texture)
    return texture


def draw_markings(texture: GroundTexture, rgb: tuple[int, int, int] = (232, 236, 228)) -> None:
    """Paint the pitch lines into ``texture.image`` in place (anti-aliased)."""
    shift = 4  # cv2 sub-pixel bits
    affine = texture.pitch_to_texel()
    thickness = max(1, int(round(LINE_WIDTH_M * texture.px_per_m)))
    for polyline, closed in pitch_markings():
        texel = np.c_[polyline, np.ones(len(polyline))] @ affine.T
        points = np.round((texel[:, :2] - 0.5) * (1 << shift)).astype(np.int32)  # cv2 texel centres are integers
        cv2.polylines(texture.image, [points], closed, rgb, thickness, cv2.LINE_AA, shift)

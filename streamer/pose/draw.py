"""Skeletons drawn on a frame: the player's left side orange, right side blue, the rest white.

Shape legend: ``N`` players, ``K`` keypoints.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamer.pose.layouts import get_layout
from streamer.records import Keypoints

LEFT_RGB = (255, 140, 0)
RIGHT_RGB = (0, 140, 255)
CENTRE_RGB = (255, 255, 255)


def _side_colour(name_a: str, name_b: str) -> tuple[int, int, int]:
    if name_a.startswith("left") and name_b.startswith("left"):
        return LEFT_RGB
    if name_a.startswith("right") and name_b.startswith("right"):
        return RIGHT_RGB
    return CENTRE_RGB


def draw_skeletons(
    image: np.ndarray, keypoints: Keypoints, *, min_conf: float = 0.0, thickness: int = 1,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with each row's skeleton drawn (into ``out`` when given:
    ``image`` itself or a copy of it, returned).

    Edges whose two ends both have ``conf >= min_conf`` are drawn; so are those ends.
    """
    canvas = image.copy() if out is None else out
    if len(keypoints) == 0:
        return canvas
    layout = get_layout(keypoints.layout)
    names = layout.keypoint_names
    edges = layout.edges
    colours = [_side_colour(names[a], names[b]) for a, b in edges]
    point_colours = [_side_colour(n, n) for n in names]
    used = np.unique(edges)
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    for xy, conf in zip(keypoints.xy_px, keypoints.conf, strict=True):
        # OpenCV puts pixel centres on integers
        pts = np.round((xy - 0.5) * (1 << shift)).astype(np.int64).tolist()
        for (a, b), colour in zip(edges, colours, strict=True):
            if conf[a] >= min_conf and conf[b] >= min_conf:
                cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), colour, thickness, cv2.LINE_AA, shift)
        for k in used[conf[used] >= min_conf]:
            cv2.circle(canvas, tuple(pts[k]), thickness << shift, point_colours[k], -1, cv2.LINE_AA, shift)
    return canvas

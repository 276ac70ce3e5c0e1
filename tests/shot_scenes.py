"""Synthetic camera work for the shot-boundary tests: pans, zooms, flashes and cuts.

A *world* is a large stadium picture (crowd, boards, striped grass, lines, players);
a *view* is what a camera aimed at world point (cx, cy) with magnification ``scale``
sees, with horizontal motion blur as long as the camera moved during the exposure.
A *close-up* is a different scene: one big shirt in front of a blurred background.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE = (640, 360)  # view width, height


def world(seed: int, width: int = 2400, height: int = 1000) -> np.ndarray:
    """(height, width, 3) uint8 RGB stadium."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = (60, 140, 60)
    for x in range(0, width, 120):  # mowing stripes
        img[:, x : x + 60] = (70, 155, 68)
    crowd = rng.integers(0, 255, (220, width, 3), dtype=np.uint8) // 2 + 60
    img[:220] = cv2.GaussianBlur(crowd, (0, 0), 2)
    img[220:240] = (30, 30, 160)  # advertising boards
    for x in range(0, width, 300):
        cv2.putText(img, "ADS", (x + 40, 238), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (250, 250, 250), 2)
    white = (235, 235, 235)
    cv2.line(img, (width // 2, 240), (width // 2, height), white, 3)
    cv2.circle(img, (width // 2, 620), 180, white, 3)
    cv2.rectangle(img, (100, 400), (500, 900), white, 3)
    cv2.line(img, (0, 950), (width, 950), white, 3)
    for _ in range(25):
        x, y = int(rng.integers(50, width - 50)), int(rng.integers(300, 950))
        kit = (200, 30, 30) if rng.random() < 0.5 else (240, 240, 240)
        cv2.rectangle(img, (x, y), (x + 14, y + 40), kit, -1)
        cv2.circle(img, (x + 7, y - 6), 6, (200, 160, 130), -1)
    return img


def closeup(seed: int) -> np.ndarray:
    """(720, 1280, 3) uint8 RGB: one player's shirt filling the picture."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(40, 140, (720, 1280, 3), dtype=np.uint8), (0, 0), 8)
    cv2.rectangle(img, (400, 150), (800, 720), (230, 230, 235), -1)
    cv2.putText(img, "9", (520, 500), cv2.FONT_HERSHEY_SIMPLEX, 6, (200, 20, 20), 12)
    cv2.circle(img, (600, 110), 90, (190, 150, 120), -1)
    return img


def view(scene: np.ndarray, cx: float, cy: float, scale: float, blur_px: float = 0.0) -> np.ndarray:
    """The (360, 640, 3) picture of ``scene`` centred on (cx, cy) at ``scale`` output px per
    scene px, smeared horizontally over ``blur_px`` output pixels (camera motion)."""
    w, h = SIZE
    affine = np.float32([[scale, 0, w / 2 - scale * cx], [0, scale, h / 2 - scale * cy]])
    out = cv2.warpAffine(scene, affine, SIZE, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
    n = int(round(blur_px))
    if n > 1:
        out = cv2.filter2D(out, -1, np.full((1, n), 1.0 / n, np.float32))
    return out


def pan(scene: np.ndarray, n: int, x0: float, cy: float, scale: float, top_speed_px: float) -> list[np.ndarray]:
    """``n`` frames of a pan from ``x0`` that speeds up to ``top_speed_px`` output px per frame and
    slows down again (to :func:`pan_end`); the blur is the distance covered while the shutter is
    open (half a frame)."""
    speed = top_speed_px * np.sin(np.linspace(0, np.pi, n)) ** 2
    x = x0 + np.cumsum(speed) / scale
    return [view(scene, xi, cy, scale, 0.5 * si) for xi, si in zip(x, speed, strict=True)]


def pan_end(n: int, x0: float, scale: float, top_speed_px: float) -> float:
    """Where :func:`pan` with these arguments leaves the camera."""
    return x0 + float((top_speed_px * np.sin(np.linspace(0, np.pi, n)) ** 2).sum()) / scale


def zoom(scene: np.ndarray, n: int, cx: float, cy: float, scale0: float, rate: float) -> list[np.ndarray]:
    """``n`` frames zooming by the factor ``rate`` per frame (> 1 in, < 1 out)."""
    return [view(scene, cx, cy, scale0 * rate**i) for i in range(n)]


def flashed(image: np.ndarray, amount: float = 0.75) -> np.ndarray:
    """A photographer's flash: the picture washed towards white."""
    return (image * (1 - amount) + 255 * amount).astype(np.uint8)

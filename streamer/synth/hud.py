"""Broadcast graphics drawn over the frame: the score box and the channel logo.

They are there to be ignored: a person detector must not fire on them, and players behind
them are occluded (the generator removes those pixels from the players' visible extent).
Drawing happens in place on the generator's own frame buffer.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamer.synth.kits import Kit


def _text_size(text: str, scale: float, thickness: int) -> tuple[int, int]:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
    return w, h


def draw_score_box(
    image: np.ndarray, home: Kit, away: Kit, score: tuple[int, int], clock_s: float,
) -> np.ndarray:
    """Draw a score box in the top-left corner of ``image`` (H, W, 3) in place.

    Returns:
        (4,) float32 xyxy pixel box it covers.
    """
    height, width = image.shape[:2]
    scale = height / 900.0
    thickness = max(1, round(height / 500))
    pad = max(2, round(6 * scale))
    minutes, seconds = divmod(int(clock_s), 60)
    parts = [home.name[:3].upper(), f"{score[0]}-{score[1]}", away.name[:3].upper(), f"{minutes:02d}:{seconds:02d}"]
    sizes = [_text_size(p, scale, thickness) for p in parts]
    bar = max(3, round(5 * scale))
    box_h = max(h for _, h in sizes) + 2 * pad + bar
    box_w = sum(w for w, _ in sizes) + (len(parts) + 1) * 2 * pad
    x0, y0 = round(0.03 * width), round(0.04 * height)
    x1, y1 = x0 + box_w, y0 + box_h
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (22, 24, 36), -1)
    x = x0 + 2 * pad
    for k, (part, (w, h)) in enumerate(zip(parts, sizes, strict=True)):
        cv2.putText(image, part, (x, y0 + pad + h), cv2.FONT_HERSHEY_DUPLEX, scale, (245, 245, 245), thickness,
                    cv2.LINE_AA)
        if k in (0, 2):  # team colour under the team name
            kit = home if k == 0 else away
            cv2.rectangle(image, (x, y1 - bar), (x + w, y1 - 1), kit.shirt, -1)
        x += w + 2 * pad
    return np.array([x0, y0, x1, y1], np.float32)


def draw_logo(image: np.ndarray, text: str = "SYNTH TV") -> np.ndarray:
    """Semi-transparent channel logo in the top-right corner, in place; returns its (4,) xyxy box."""
    height, width = image.shape[:2]
    scale = height / 700.0
    thickness = max(1, round(height / 360))
    w, h = _text_size(text, scale, thickness)
    x0, y1 = width - w - round(0.03 * width), round(0.04 * height) + h
    y0 = y1 - h - thickness
    region = image[y0:y1 + thickness + 1, x0:x0 + w + 1]
    layer = region.copy()
    cv2.putText(layer, text, (0, h), cv2.FONT_HERSHEY_DUPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    cv2.addWeighted(layer, 0.65, region, 0.35, 0.0, dst=region)
    return np.array([x0, y0, x0 + w + 1, y1 + thickness + 1], np.float32)

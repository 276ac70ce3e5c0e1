"""OpenCV's built-in HOG + linear-SVM people detector (Dalal–Triggs; no weights to download).

Its window is 64×128 pixels, so people smaller than about 100 px are found only
if the frame is upscaled first (``upscale``). Scores are the SVM margins
squashed to (0, 1) with a logistic, so the tracker's thresholds apply.
The same SVM also scores single crops (:func:`hog_people_score`), which the
pitch detector can use to verify its blobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.errors import MissingDependencyError
from streamer.records import Detections

_WIN_W, _WIN_H = 64, 128
#: where the person sits in a detection window (fractions x1, y1, x2, y2), measured on the
#: shared pedestrian clip: a 64x128 window around a ~90 px tall person
_PERSON_IN_WINDOW = (0.22, 0.11, 0.78, 0.92)


@dataclass(frozen=True, slots=True)
class HogConfig:
    upscale: float = 1.0  # resize the frame by this before detecting (small people need > 1)
    scale_step: float = 1.05  # image pyramid step; smaller = slower, finds more sizes
    win_stride_px: int = 8  # window stride; smaller = slower, better localised
    min_score: float = 0.3  # logistic(SVM margin) below this is dropped
    nms_iou: float = 0.4  # overlapping windows above this IoU are merged


def _descriptor() -> cv2.HOGDescriptor:
    if not hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):
        raise MissingDependencyError("this OpenCV has no HOG people detector (OpenCV >= 5 dropped it): "
                                     "pip install 'opencv-contrib-python<5'")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


class HogDetector:
    def __init__(self, config: HogConfig | None = None) -> None:
        self.config = config or HogConfig()
        self.hog = _descriptor()

    def __call__(self, image: np.ndarray) -> Detections:
        cfg = self.config
        work = image if cfg.upscale == 1.0 else cv2.resize(image, None, fx=cfg.upscale, fy=cfg.upscale,
                                                            interpolation=cv2.INTER_LINEAR)
        rects, weights = self.hog.detectMultiScale(
            cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), winStride=(cfg.win_stride_px, cfg.win_stride_px),
            padding=(8, 8), scale=cfg.scale_step,
        )
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, np.float32) / cfg.upscale
        score = (1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).ravel()))).astype(np.float32)
        keep_idx = cv2.dnn.NMSBoxes(rects.tolist(), score.tolist(), cfg.min_score, cfg.nms_iou)
        keep = np.asarray(keep_idx, int).ravel()
        if len(keep) == 0:
            return Detections.empty()
        xywh = rects[keep]
        # the training windows hold the person with a margin: shrink each window to the part
        # the person fills, so boxes (and the crops the keypoint stage takes from them) are tight
        x, y, w, h = xywh[:, 0], xywh[:, 1], xywh[:, 2], xywh[:, 3]
        x1, x2 = x + _PERSON_IN_WINDOW[0] * w, x + _PERSON_IN_WINDOW[2] * w
        y1, y2 = y + _PERSON_IN_WINDOW[1] * h, y + _PERSON_IN_WINDOW[3] * h
        return Detections(np.stack([x1, y1, x2, y2], axis=1).astype(np.float32), score[keep])


class HogVerifier:
    """SVM margin of the HOG people model on individual crops."""

    def __init__(self) -> None:
        self.hog = _descriptor()
        detector = np.asarray(cv2.HOGDescriptor_getDefaultPeopleDetector(), np.float32).ravel()
        self.weights, self.bias = detector[:-1], float(detector[-1])

    def __call__(self, image: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N,) logistic scores of the person crops (box padded to the 1:2 HOG window)."""
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        out = np.zeros(len(boxes_xyxy), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy, np.float64)):
            # the person fills ~ 96 of the 128 rows of the training windows
            h = (y2 - y1) * 128.0 / 96.0
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            src = np.float32([[cx - h / 4, cy - h / 2], [cx + h / 4, cy - h / 2], [cx - h / 4, cy + h / 2]])
            dst = np.float32([[0, 0], [_WIN_W, 0], [0, _WIN_H]])
            crop = cv2.warpAffine(grey, cv2.getAffineTransform(src, dst), (_WIN_W, _WIN_H),
                                  flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            desc = self.hog.compute(crop).ravel()
            out[i] = float(desc @ self.weights) + self.bias
        return (1.0 / (1.0 + np.exp(-out))).astype(np.float32)

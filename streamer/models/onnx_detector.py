"""User-supplied ONNX person detectors (YOLOX, YOLOv8, RTMDet) through onnxruntime.

Shape legend: ``B`` images in a batch, ``S`` the square network input side,
``N`` candidate boxes, ``C`` classes.

Pure pre/post-processing functions (letterbox, per-layout decoding, NMS) sit
under a thin session class, so they are testable without a model. Layouts and
the conventions of their usual exports:

=========  ==============================================  ==========================
layout     output                                          input
=========  ==============================================  ==========================
yolox      (B, N, 5+C) raw: grid offsets, log-size,        BGR 0..255, pad 114,
           objectness and class logits already sigmoided   top-left letterbox
           (official export, ``decode_in_inference`` off)
yolov8     (B, 4+C, N): cx cy w h in input pixels,         RGB /255, pad 114,
           class scores                                    centred letterbox
rtmdet     ``dets`` (B, N, 5) x1 y1 x2 y2 score and        BGR, mean/std normalised,
           ``labels`` (B, N) (mmdeploy end2end export)     pad 114, top-left
=========  ==============================================  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.errors import InputError, MissingDependencyError
from streamer.records import Detections

LAYOUTS = ("yolox", "yolov8", "rtmdet")
_RTMDET_MEAN_BGR = (103.53, 116.28, 123.675)
_RTMDET_STD_BGR = (57.375, 57.12, 58.395)


@dataclass(frozen=True, slots=True)
class OnnxDetectorConfig:
    model: str = ""  # path to the .onnx file
    layout: str = "yolox"  # yolox | yolov8 | rtmdet
    input_size: int = 640  # square network input side S
    person_class: int = 0  # class index of "person" (COCO: 0)
    min_score: float = 0.1  # boxes below are dropped before NMS
    nms_iou: float = 0.5
    batch_size: int = 8


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was placed in the network input: ``input = image * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float


def letterbox(image: np.ndarray, size: int, centred: bool, pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio into a ``size``² canvas. Returns (S, S, 3) uint8 and the mapping."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    canvas = np.full((size, size, 3), pad_value, np.uint8)
    px = (size - nw) // 2 if centred else 0
    py = (size - nh) // 2 if centred else 0
    canvas[py : py + nh, px : px + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, Letterbox(scale, float(px), float(py))


def preprocess(images: list[np.ndarray], layout: str, size: int) -> tuple[np.ndarray, list[Letterbox]]:
    """RGB uint8 frames → (B, 3, S, S) float32 network input in the layout's convention."""
    centred = layout == "yolov8"
    boxed = [letterbox(im, size, centred) for im in images]
    batch = np.stack([b[0] for b in boxed]).astype(np.float32)  # RGB
    if layout == "yolov8":
        batch /= 255.0
    else:  # yolox and rtmdet were trained on BGR
        batch = batch[..., ::-1]
        if layout == "rtmdet":
            batch = (batch - np.float32(_RTMDET_MEAN_BGR)) / np.float32(_RTMDET_STD_BGR)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)), [b[1] for b in boxed]


def yolox_grid_decode(raw: np.ndarray, size: int, strides: tuple[int, ...] = (8, 16, 32)) -> np.ndarray:
    """(B, N, 5+C) raw YOLOX head output → same shape with cx cy w h in input pixels."""
    grids, stride_col = [], []
    for s in strides:
        g = size // s
        yy, xx = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
        grids.append(np.stack([xx.ravel(), yy.ravel()], axis=1))
        stride_col.append(np.full((g * g, 1), s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(stride_col).astype(np.float32)
    if len(grid) != raw.shape[1]:
        raise InputError(f"YOLOX output has {raw.shape[1]} anchors; input {size} with strides "
                         f"{strides} gives {len(grid)}: check detect.onnx.input_size")
    out = raw.copy()
    out[..., :2] = (raw[..., :2] + grid) * stride
    out[..., 2:4] = np.exp(raw[..., 2:4]) * stride
    return out


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    return np.concatenate([b[:, :2] - b[:, 2:4] / 2, b[:, :2] + b[:, 2:4] / 2], axis=1)


def decode(outputs: list[np.ndarray], layout: str, size: int, person_class: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Network outputs → per image (xyxy in network-input pixels (N, 4), person score (N,))."""
    results = []
    if layout == "yolox":
        dec = yolox_grid_decode(outputs[0], size)
        for img in dec:
            results.append((_cxcywh_to_xyxy(img[:, :4]), img[:, 4] * img[:, 5 + person_class]))
    elif layout == "yolov8":
        for img in outputs[0]:
            img = img.T  # (N, 4+C)
            results.append((_cxcywh_to_xyxy(img[:, :4]), img[:, 4 + person_class]))
    elif layout == "rtmdet":
        dets, labels = outputs[0], outputs[1]
        for d, lab in zip(dets, labels, strict=True):
            person = lab.astype(int) == person_class
            results.append((d[person, :4], d[person, 4]))
    else:
        raise InputError(f"unknown ONNX detector layout {layout!r} (expected one of {', '.join(LAYOUTS)})")
    return results


def to_image(xyxy: np.ndarray, box: Letterbox, image_shape: tuple[int, ...]) -> np.ndarray:
    """Network-input pixels → original image pixels, clipped to the image."""
    out = (xyxy - np.array([box.pad_x, box.pad_y, box.pad_x, box.pad_y])) / box.scale
    h, w = image_shape[:2]
    return np.clip(out, 0, [w, h, w, h]).astype(np.float32)


def nms(xyxy: np.ndarray, score: np.ndarray, min_score: float, iou: float) -> np.ndarray:
    """Indices kept by class-agnostic non-maximum suppression."""
    if len(xyxy) == 0:
        return np.zeros(0, int)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), score.astype(float).tolist(), min_score, iou)
    return np.asarray(keep, int).ravel()


class OnnxDetector:
    """Batched onnxruntime session for one of :data:`LAYOUTS`."""

    def __init__(self, config: OnnxDetectorConfig, device: str = "cpu") -> None:
        if config.layout not in LAYOUTS:
            raise InputError(f"detect.onnx.layout must be one of {', '.join(LAYOUTS)}; got {config.layout!r}")
        path = Path(config.model)
        if not config.model or not path.is_file():
            raise InputError(f"ONNX detector model not found: {config.model!r} "
                             "(set detect.onnx.model to a YOLOX / YOLOv8 / RTMDet .onnx file)")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependencyError("the onnx detector needs onnxruntime: pip install onnxruntime") from exc
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise InputError(f"cannot load ONNX model {path}: {str(exc).splitlines()[0]}") from exc
        self.config = config
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        # a model exported with a fixed batch of 1 runs one image at a time
        self.batch_size = 1 if first.shape and first.shape[0] == 1 else config.batch_size

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        cfg = self.config
        out: list[Detections] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch, boxes = preprocess(chunk, cfg.layout, cfg.input_size)
            outputs = self.session.run(None, {self.input_name: batch})
            for image, box, (xyxy, score) in zip(chunk, boxes, decode(outputs, cfg.layout, cfg.input_size,
                                                                       cfg.person_class), strict=True):
                keep = nms(xyxy, score, cfg.min_score, cfg.nms_iou)
                out.append(Detections(to_image(xyxy[keep], box, image.shape), score[keep].astype(np.float32)))
        return out

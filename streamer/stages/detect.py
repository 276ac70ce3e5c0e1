"""Detection stage: person boxes for every frame, from the backend named in ``detect.backend``.

Backends:

* ``pitch`` (default, no weights): pitch-colour segmentation for broadcast
  soccer (``streamer.detection.pitch``), optionally verified by HOG;
* ``hog``: OpenCV's built-in HOG people detector, for footage without a pitch;
* ``onnx``: a user-supplied YOLOX / YOLOv8 / RTMDet person detector through
  onnxruntime, batched over the window.
"""

from __future__ import annotations

from typing import Any

from streamer.config import check_ranges, section_to
from streamer.errors import ConfigError
from streamer.records import Detections, Packet
from streamer.stages import StageContext

BACKENDS = ("pitch", "hog", "onnx")

# config numbers and the ranges they must lie in (pixel sizes are for 720 rows)
_INF = float("inf")
RANGES = {
    "pitch": {"bg_kernel_px": (3, 2000), "bg_scale": (0.02, 1.0), "fg_threshold": (1, 126),
              "grass_min_sat": (0, 255), "min_height_px": (1, _INF), "max_height_px": (1, _INF),
              "line_width_px": (0, 100), "max_line_width_px": (0, 200), "limb_regrow_px": (0, 100),
              "prior_min_samples": (1, _INF), "prior_forget": (0.5, 1.0), "split_width_ratio": (0.1, 10),
              "min_score": (0, 1), "cut_threshold": (0, 2)},
    "hog": {"upscale": (0.1, 8), "scale_step": (1.001, 2), "win_stride_px": (1, 64), "min_score": (0, 1),
            "nms_iou": (0, 1)},
    "onnx": {"input_size": (32, 4096), "person_class": (0, _INF), "min_score": (0, 1), "nms_iou": (0, 1),
             "batch_size": (1, 4096)},
}


class DetectStage:
    name = "detect"

    def __init__(self, backend: Any, batched: bool = False) -> None:
        self.backend = backend
        self.batched = batched

    def process(self, packets: list[Packet]) -> list[Packet]:
        images = [p.frame.image for p in packets]
        if self.batched:
            found: list[Detections] = self.backend.detect_batch(images)
        else:
            found = [self.backend(image) for image in images]
        return [p.replace(detections=d) for p, d in zip(packets, found, strict=True)]

    def flush(self) -> list[Packet]:
        return []


def build(config: dict[str, Any], context: StageContext) -> DetectStage:
    section = config["detect"]
    backend = section["backend"]
    if backend in RANGES:
        check_ranges(section[backend], RANGES[backend], f"detect.{backend}")
    if backend == "pitch":
        hue = section["pitch"]["grass_hue"]
        if len(hue) != 2 or not 0 <= hue[0] <= hue[1] <= 180:
            raise ConfigError(f"config key 'detect.pitch.grass_hue' must be [low, high] within 0..180 "
                              f"(OpenCV hue), got {hue}")
        from streamer.detection.pitch import PitchDetector, PitchDetectorConfig

        return DetectStage(PitchDetector(section_to(PitchDetectorConfig, section["pitch"], "detect.pitch")))
    if backend == "hog":
        from streamer.detection.hog import HogConfig, HogDetector

        return DetectStage(HogDetector(section_to(HogConfig, section["hog"], "detect.hog")))
    if backend == "onnx":
        from streamer.models.onnx_detector import OnnxDetector, OnnxDetectorConfig

        cfg = section_to(OnnxDetectorConfig, section["onnx"], "detect.onnx")
        return DetectStage(OnnxDetector(cfg, device=context.device), batched=True)
    raise ConfigError(f"config key 'detect.backend' must be one of {', '.join(BACKENDS)}; got {backend!r}")

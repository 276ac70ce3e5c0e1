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

from streamer.config import section_to
from streamer.errors import ConfigError
from streamer.records import Detections, Packet
from streamer.stages import StageContext

BACKENDS = ("pitch", "hog", "onnx")


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
    if backend == "pitch":
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

"""Detection stage: person boxes for every frame, from the backend named in ``detect.backend``.

Backends (a name → factory registry, :data:`BACKENDS`; each factory returns a
:class:`streamer.detection.backend.DetectorBackend`):

* ``auto`` (default): ``pitch`` for small players on grass and ``blazepose`` for larger
  people, fused (``streamer.detection.fuse``), so one config serves wide and close
  broadcast shots, photos, phone and pitch-side clips, halls and webcams;
* ``pitch`` (no weights): pitch-colour segmentation for broadcast soccer
  (``streamer.detection.pitch``), optionally verified by HOG;
* ``blazepose``: MediaPipe's BlazePose person detector (ships with the mediapipe wheel)
  over the whole frame and tiles (``streamer.models.blazepose_detector``);
* ``hog``: OpenCV's built-in HOG people detector, for footage without a pitch;
* ``onnx``: a user-supplied YOLOX / YOLOv8 / RTMDet person detector through
  onnxruntime, batched over the window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from streamer.config import check_ranges, section_to
from streamer.detection.backend import DetectorBackend, PerImage
from streamer.errors import ConfigError
from streamer.records import Packet
from streamer.stages import StageContext

# config numbers and the ranges they must lie in (pixel sizes are for 720 rows)
_INF = float("inf")
RANGES = {
    "pitch": {"bg_kernel_px": (3, 2000), "bg_scale": (0.02, 1.0), "fg_threshold": (1, 126),
              "grass_min_sat": (0, 255), "min_height_px": (1, _INF), "max_height_px": (1, _INF),
              "line_width_px": (0, 100), "max_line_width_px": (0, 200), "limb_regrow_px": (0, 100),
              "prior_min_samples": (1, _INF), "prior_forget": (0.5, 1.0), "split_width_ratio": (0.1, 10),
              "min_score": (0, 1)},
    "hog": {"upscale": (0.1, 8), "scale_step": (1.001, 2), "win_stride_px": (1, 64), "min_score": (0, 1),
            "nms_iou": (0, 1)},
    "onnx": {"input_size": (32, 4096), "person_class": (0, _INF), "min_score": (0, 1), "nms_iou": (0, 1),
             "batch_size": (1, 4096)},
    "blazepose": {"min_score": (0, 1), "check_score": (0, 1), "check_flag": (0, 1), "nms_iou": (0, 1),
                  "merge_iou": (0, 1), "min_height_px": (1, _INF), "view_height_frac": (0.05, 1),
                  "tile_overlap": (0, 0.9), "tile_max_frac": (0.1, 10), "length_scale": (0.1, 10),
                  "width_ratio": (0.05, 5), "up_shift": (-5, 5), "refine_people": (0, 1000),
                  "follow_frames": (0, 100000), "follow_flag": (0, 1),
                  "threads": (0, 1024), "batch_size": (1, 4096)},
    "auto": {"levels": (1, 6), "tiles_per_frame": (0, 1000), "learned_every": (1, 1000), "idle_every": (1, 1000),
             "inside_frac": (0, 1), "closeup_margin": (0, 10),
             "closeup_height_frac": (0, 10), "perspective_frac": (0, 1), "propose_views": (0, 100),
             "propose_side_px": (16, _INF), "propose_scale": (1, 20),
             "propose_lost_frames": (0, 100000), "beside_height_frac": (0, 10), "beside_max_inside": (0, 1),
             "beside_max_iou": (0, 1)},
}


class DetectStage:
    name = "detect"
    reads: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    fills = ("detections",)

    def __init__(self, backend: DetectorBackend, resets: Sequence[Callable[[], None]] = ()) -> None:
        self.backend = backend
        self.resets = tuple(resets)  # called at a camera cut: per-view state (the pitch size prior)

    def process(self, packets: list[Packet]) -> list[Packet]:
        found = self.backend.detect_batch([p.frame.image for p in packets])
        return [p.replace(detections=d) for p, d in zip(packets, found, strict=True)]

    def flush(self) -> list[Packet]:
        return []

    def end_shot(self) -> list[Packet]:
        """A camera cut: nothing is held; per-view state (the pitch detector's size prior) restarts."""
        for reset in self.resets:
            reset()
        return []


def _pitch(section: dict[str, Any], context: StageContext):
    hue = section["pitch"]["grass_hue"]
    if len(hue) != 2 or not 0 <= hue[0] <= hue[1] <= 180:
        raise ConfigError(f"config key 'detect.pitch.grass_hue' must be [low, high] within 0..180 "
                          f"(OpenCV hue), got {hue}")
    from streamer.detection.pitch import PitchDetector, PitchDetectorConfig

    return PitchDetector(section_to(PitchDetectorConfig, section["pitch"], "detect.pitch"))


def _blazepose(section: dict[str, Any], context: StageContext):
    from streamer.models.blazepose_detector import BlazePoseDetector, BlazePoseDetectorConfig

    cfg = section_to(BlazePoseDetectorConfig, section["blazepose"], "detect.blazepose")
    margin = cfg.refine_margin
    if len(margin) != 3 or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in margin):
        raise ConfigError("config key 'detect.blazepose.refine_margin' must be three numbers in [0, 1] "
                          f"(each side, top, bottom), got {list(margin)}")
    return BlazePoseDetector(cfg)


def build_pitch(section: dict[str, Any], context: StageContext) -> DetectorBackend:
    return PerImage(_pitch(section, context))


def build_hog(section: dict[str, Any], context: StageContext) -> DetectorBackend:
    from streamer.detection.hog import HogConfig, HogDetector

    return PerImage(HogDetector(section_to(HogConfig, section["hog"], "detect.hog")))


def build_onnx(section: dict[str, Any], context: StageContext) -> DetectorBackend:
    from streamer.models.onnx_detector import OnnxDetector, OnnxDetectorConfig

    return OnnxDetector(section_to(OnnxDetectorConfig, section["onnx"], "detect.onnx"), device=context.device)


def build_auto(section: dict[str, Any], context: StageContext) -> DetectorBackend:
    from streamer.detection.fuse import AutoDetector, FuseConfig

    auto = section["auto"]
    for name in ("pitch", "blazepose"):
        check_ranges(section[name], RANGES[name], f"detect.{name}")
    fuse_cfg = section_to(FuseConfig, auto, "detect.auto")
    return AutoDetector(_pitch(section, context), _blazepose(section, context), fuse_cfg,
                        levels=int(auto["levels"]), tiles_per_frame=int(auto["tiles_per_frame"]),
                        learned_every=int(auto["learned_every"]), idle_every=int(auto["idle_every"]))


def build_blazepose(section: dict[str, Any], context: StageContext) -> DetectorBackend:
    return _blazepose(section, context)


#: backend name → factory(detect config section, stage context)
BACKENDS: dict[str, Callable[[dict[str, Any], StageContext], DetectorBackend]] = {
    "auto": build_auto,
    "pitch": build_pitch,
    "blazepose": build_blazepose,
    "hog": build_hog,
    "onnx": build_onnx,
}


def build(config: dict[str, Any], context: StageContext) -> DetectStage:
    section = config["detect"]
    name = section["backend"]
    factory = BACKENDS.get(name)
    if factory is None:
        raise ConfigError(f"config key 'detect.backend' must be one of {', '.join(BACKENDS)}; got {name!r}")
    if name in RANGES:
        check_ranges(section[name], RANGES[name], f"detect.{name}")
    backend = factory(section, context)
    return DetectStage(backend, _resets(backend))


def _resets(backend: DetectorBackend) -> list[Callable[[], None]]:
    """What to call at a camera cut: the backend's own ``reset()``, else its parts' (the
    detector a :class:`PerImage` wraps, the ``auto`` backend's pitch segmenter)."""
    own = getattr(backend, "reset", None)
    if callable(own):
        return [own]
    parts = (getattr(backend, attr, None) for attr in ("detector", "pitch"))
    return [part.reset for part in parts if callable(getattr(part, "reset", None))]

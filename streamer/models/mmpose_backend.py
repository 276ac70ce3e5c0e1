"""Any mmpose 1.x top-down model (RTMPose, ViTPose, Sapiens...) from a config and a checkpoint.

Shape legend: ``M`` boxes across the window's frames, ``K`` keypoints.

mmpose is an optional extra (``pip install -e .[mmpose]`` plus the --no-deps and
from-source steps in the README: mmcv must be built with its compiled ops) and is
imported only when this backend is built.
The API used is mmpose 1.3's: ``mmpose.apis.init_model(config, checkpoint,
device=...)`` and ``inference_topdown(model, image, bboxes, bbox_format="xyxy")``,
which crops, batches and runs all boxes of one image in one forward pass and returns
one ``PoseDataSample`` per box, with ``pred_instances.keypoints`` (1, K, 2) in image
pixels and ``pred_instances.keypoint_scores`` (1, K). Images go in as BGR, as
mmpose's loaders read them (its data preprocessor turns them to RGB). mmpose puts
pixel centres on integers (its crops are ``cv2.warpAffine``s), the records at +0.5:
boxes go in shifted by -0.5 px, keypoints come back shifted by +0.5 px.

The ROI angle is ignored: ``inference_topdown`` has no rotation input.

mmpose imports torchvision (only for a visualisation transform; top-down inference
runs none of torchvision's compiled ops). PyPI's torchvision wheels are CUDA builds
whose compiled ops do not load with the CPU torch, and torchvision 0.28 then fails
at import on two unguarded fake-kernel registrations (pytorch/vision#9085).
:func:`import_torchvision` declares those two ops' schemas so that its Python part
imports; calling its ops then raises torchvision's own "Couldn't load custom C++ ops".
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamer.errors import ConfigError, MissingDependencyError
from streamer.models.pickle_globals import numpy_globals
from streamer.pose.backend import PoseBatch
from streamer.pose.layouts import layout_for_count

INSTALL_HINT = (
    "the mmpose keypoint backend needs mmpose 1.3.2, mmdet 3.2 and mmcv 2.1 with compiled ops: "
    "pip install -e .[mmpose], then mmengine, mmdet, mmpose and mmpretrain with --no-deps and xtcocotools "
    "and mmcv from source, as the README's 'mmpose backend' section says"
)


#: torchvision ops whose fake kernels torchvision 0.28 registers without checking that its compiled ops loaded
_UNGUARDED_TORCHVISION_OPS = ("nms", "qnms")
_torchvision_schemas: Any = None  # the torch.library.Library declaring them; kept alive while the process runs


def import_torchvision() -> None:
    """Import torchvision, declaring the schemas its import needs where its compiled ops did not load.

    Does nothing where torchvision is absent (mmpose's import then names it) or imports as it is.
    """
    global _torchvision_schemas
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return
    try:
        import torchvision  # noqa: F401

        return
    except RuntimeError as exc:
        if "torchvision::" not in str(exc) or "does not exist" not in str(exc):
            raise MissingDependencyError(f"torchvision does not import: {exc}") from exc
    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the failed import's half-built modules
    library = torch.library.Library("torchvision", "FRAGMENT")
    for op in _UNGUARDED_TORCHVISION_OPS:
        if not hasattr(torch.ops.torchvision, op):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _torchvision_schemas = library
    try:
        import torchvision  # noqa: F401, F811
    except RuntimeError as exc:
        raise MissingDependencyError(f"torchvision does not import: {exc}") from exc


def load_apis() -> tuple[Any, Any]:
    """``mmpose.apis``' ``(init_model, inference_topdown)``; :class:`MissingDependencyError` if they do not import."""
    if "mmpose.apis" not in sys.modules:
        import_torchvision()
    try:
        from mmpose.apis import inference_topdown, init_model
    except ImportError as exc:  # mmpose, or one of mmcv's compiled ops, mmdet, torchvision
        raise MissingDependencyError(f"{INSTALL_HINT} ({exc})") from exc
    return init_model, inference_topdown


class MmposeBackend:
    """mmpose's own top-down inference, one batched call per frame with players."""

    gives_world = False

    def __init__(self, config_path: str | Path, checkpoint: str | Path = "", *, device: str = "cpu") -> None:
        if not config_path:
            raise ConfigError("keypoints.mmpose.config: give an mmpose top-down config file (.py)")
        for key, value in (("config", config_path), ("checkpoint", checkpoint)):
            if value and not Path(value).expanduser().is_file():
                raise ConfigError(f"keypoints.mmpose.{key}: no such file {value}")
        init_model, self._inference_topdown = load_apis()
        import torch

        if device != "cuda":
            # denormal floats make CPU convolutions tens of times slower (seen with random weights)
            torch.set_flush_denormal(True)
        try:
            with torch.serialization.safe_globals(numpy_globals()):
                self.model = init_model(
                    str(Path(config_path).expanduser()),
                    str(Path(checkpoint).expanduser()) if checkpoint else None,
                    device="cuda:0" if device == "cuda" else "cpu",
                )
        except pickle.UnpicklingError as exc:
            reason = str(exc).split("WeightsUnpickler error: ")[-1].split(". ")[0]
            raise ConfigError(
                f"keypoints.mmpose.checkpoint: {checkpoint} holds more than tensors and numpy "
                f"arrays ({reason}); keep only its 'state_dict' and 'meta'"
            ) from exc
        except (KeyError, TypeError, ValueError, SyntaxError, FileNotFoundError) as exc:
            raise ConfigError(
                f"keypoints.mmpose: mmpose cannot build a model from {config_path} ({type(exc).__name__}: {exc})"
            ) from exc
        meta = getattr(self.model, "dataset_meta", None) or {}
        num_keypoints = meta.get("num_keypoints")
        if num_keypoints is None:
            raise ConfigError(f"{config_path}: the model has no dataset_meta['num_keypoints']")
        try:
            self.layout = layout_for_count(int(num_keypoints)).name
        except ValueError as exc:
            raise ConfigError(f"{config_path}: {exc}") from exc
        self.num_keypoints = int(num_keypoints)

    def estimate(
        self,
        images: Sequence[np.ndarray],
        image_index: np.ndarray,
        xyxy_px: np.ndarray,
        angle_rad: np.ndarray,
    ) -> PoseBatch:
        """See :class:`streamer.pose.backend.PoseBackend` (``angle_rad`` is ignored)."""
        m, k = len(image_index), self.num_keypoints
        xy = np.zeros((m, k, 2), np.float32)
        conf = np.zeros((m, k), np.float32)
        image_index = np.asarray(image_index)
        boxes = np.asarray(xyxy_px, np.float32).reshape(-1, 4) - 0.5  # mmpose's integer pixel centres
        for frame in np.unique(image_index):
            rows = np.flatnonzero(image_index == frame)
            bgr = np.ascontiguousarray(images[int(frame)][..., ::-1])
            samples = self._inference_topdown(self.model, bgr, bboxes=boxes[rows], bbox_format="xyxy")
            for row, sample in zip(rows, samples, strict=True):
                xy[row] = np.asarray(sample.pred_instances.keypoints, np.float32).reshape(k, 2) + 0.5
                conf[row] = np.asarray(sample.pred_instances.keypoint_scores, np.float32).reshape(k)
        conf = np.clip(conf, 0.0, 1.0)
        return PoseBatch(xy, conf, conf.mean(axis=1) if m else np.zeros((0,), np.float32))

"""Any mmpose 1.x top-down model (RTMPose, ViTPose, Sapiens...) from a config and a checkpoint.

Shape legend: ``M`` boxes across the window's frames, ``K`` keypoints.

mmpose is an optional extra (``pip install -e .[mmpose]``; it needs mmcv built with
its compiled ops, see the README) and is imported only when this backend is built.
The API used is mmpose 1.3's: ``mmpose.apis.init_model(config, checkpoint,
device=...)`` and ``inference_topdown(model, image, bboxes, bbox_format="xyxy")``,
which crops, batches and runs all boxes of one image in one forward pass and returns
one ``PoseDataSample`` per box, with ``pred_instances.keypoints`` (1, K, 2) in image
pixels and ``pred_instances.keypoint_scores`` (1, K). Images go in as BGR, as
mmpose's loaders read them (its data preprocessor turns them to RGB). mmpose puts
pixel centres on integers; the records put them at +0.5.

The ROI angle is ignored: ``inference_topdown`` has no rotation input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamer.errors import ConfigError, MissingDependencyError
from streamer.pose.backend import PoseBatch
from streamer.pose.layouts import layout_for_count

INSTALL_HINT = (
    "the mmpose keypoint backend needs mmpose 1.3.2, mmdet 3.2 and mmcv 2.1 with compiled ops: "
    "pip install -e .[mmpose], then build mmcv as the README's 'mmpose backend' section says"
)


def _load_apis() -> tuple[Any, Any]:
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
        init_model, self._inference_topdown = _load_apis()
        if device != "cuda":
            import torch

            # denormal floats make CPU convolutions tens of times slower (seen with random weights)
            torch.set_flush_denormal(True)
        self.model = init_model(
            str(Path(config_path).expanduser()),
            str(Path(checkpoint).expanduser()) if checkpoint else None,
            device="cuda:0" if device == "cuda" else "cpu",
        )
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
        boxes = np.asarray(xyxy_px, np.float32).reshape(-1, 4)
        for frame in np.unique(image_index):
            rows = np.flatnonzero(image_index == frame)
            bgr = np.ascontiguousarray(images[int(frame)][..., ::-1])
            samples = self._inference_topdown(self.model, bgr, bboxes=boxes[rows], bbox_format="xyxy")
            for row, sample in zip(rows, samples, strict=True):
                xy[row] = np.asarray(sample.pred_instances.keypoints, np.float32).reshape(k, 2) + 0.5
                conf[row] = np.asarray(sample.pred_instances.keypoint_scores, np.float32).reshape(k)
        conf = np.clip(conf, 0.0, 1.0)
        return PoseBatch(xy, conf, conf.mean(axis=1) if m else np.zeros((0,), np.float32))

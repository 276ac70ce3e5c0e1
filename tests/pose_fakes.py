"""Stand-ins for keypoint models: a tiny SimCC ONNX file and a fake ``mmpose.apis`` module.

The ONNX model has RTMPose's input/output layout and a transparent rule: every
keypoint's ``simcc_x`` / ``simcc_y`` is the column / row maximum of input channel 0
(the normalised red channel), upsampled by the split ratio. Feed it a crop holding
one bright red pixel and each keypoint decodes to that pixel, so pre-processing
(warp, channel order, normalisation) and post-processing (SimCC decoding, mapping
back) are checked end to end.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np


def make_simcc_onnx(
    path: Path,
    *,
    num_keypoints: int = 17,
    input_hw: tuple[int, int] = (256, 192),
    split_ratio: int = 2,
    fixed_batch: int | None = None,
    y_first: bool = False,
    names: tuple[str, str] = ("simcc_x", "simcc_y"),
) -> Path:
    """Write the model to ``path`` and return it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = input_hw
    batch = fixed_batch if fixed_batch is not None else "N"

    def upsample(n: int) -> np.ndarray:  # (n, n·r): bin j of pixel i for j in [i·r, (i+1)·r)
        return np.kron(np.eye(n, dtype=np.float32), np.ones((1, split_ratio), np.float32))

    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(upsample(w), "up_x"),
        numpy_helper.from_array(upsample(h), "up_y"),
        numpy_helper.from_array(np.array([1, num_keypoints, 1], np.int64), "reps"),
    ]
    nodes = [
        helper.make_node("Slice", ["input", "zero", "one", "one"], ["red"]),  # (N, 1, h, w)
        helper.make_node("ReduceMax", ["red"], ["col_max"], axes=[1, 2], keepdims=0),  # (N, w)
        helper.make_node("ReduceMax", ["red"], ["row_max"], axes=[1, 3], keepdims=0),  # (N, h)
        helper.make_node("MatMul", ["col_max", "up_x"], ["bins_x"]),
        helper.make_node("MatMul", ["row_max", "up_y"], ["bins_y"]),
        helper.make_node("Unsqueeze", ["bins_x", "one"], ["bins_x3"]),
        helper.make_node("Unsqueeze", ["bins_y", "one"], ["bins_y3"]),
        helper.make_node("Tile", ["bins_x3", "reps"], [names[0]]),
        helper.make_node("Tile", ["bins_y3", "reps"], [names[1]]),
    ]
    outputs = [
        helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [batch, num_keypoints, w * split_ratio]),
        helper.make_tensor_value_info(names[1], TensorProto.FLOAT, [batch, num_keypoints, h * split_ratio]),
    ]
    if y_first:
        outputs.reverse()
    graph = helper.make_graph(
        nodes, "tiny_simcc",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, h, w])], outputs, inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def red_dot_image(shape_hw: tuple[int, int], dots_xy: list[tuple[int, int]]) -> np.ndarray:
    """(H, W, 3) uint8 black RGB image with one pure-red pixel at each (col, row)."""
    image = np.zeros((*shape_hw, 3), np.uint8)
    for col, row in dots_xy:
        image[row, col] = (255, 0, 0)
    return image


class FakeMmposeApis:
    """``mmpose.apis`` with ``init_model`` and ``inference_topdown`` that record their calls.

    ``inference_topdown`` returns, for each box, keypoint k at (x1 + k, y1 + k) in mmpose's
    integer-centre pixels and score 0.1·k (so some exceed 1).
    """

    def __init__(self, num_keypoints: int = 17) -> None:
        self.num_keypoints = num_keypoints
        self.init_calls: list[tuple] = []
        self.calls: list[dict] = []

    def module(self) -> types.ModuleType:
        apis = types.ModuleType("mmpose.apis")
        apis.init_model = self.init_model
        apis.inference_topdown = self.inference_topdown
        return apis

    def init_model(self, config, checkpoint=None, device="cuda:0"):
        self.init_calls.append((config, checkpoint, device))
        return types.SimpleNamespace(dataset_meta={"num_keypoints": self.num_keypoints})

    def inference_topdown(self, model, img, bboxes=None, bbox_format="xyxy"):
        self.calls.append({"img": img.copy(), "bboxes": np.array(bboxes), "bbox_format": bbox_format})
        k = np.arange(self.num_keypoints, dtype=np.float32)
        samples = []
        for x1, y1, _, _ in np.asarray(bboxes, np.float32):
            kpts = np.stack([x1 + k, y1 + k], axis=1)[None]
            instances = types.SimpleNamespace(keypoints=kpts, keypoint_scores=(0.1 * k)[None])
            samples.append(types.SimpleNamespace(pred_instances=instances))
        return samples

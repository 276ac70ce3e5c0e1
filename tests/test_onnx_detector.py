"""ONNX detector backends end to end on tiny models the test builds.

Each model outputs fixed boxes (in network-input pixels) and a score computed from the input
tensor (the mean of its first channel), so the test checks the letterbox mapping, the
layout's decoding, and the preprocessing (channel order, scaling, padding) at once.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from streamer.errors import InputError  # noqa: E402
from streamer.models.onnx_detector import (  # noqa: E402
    OnnxDetector,
    OnnxDetectorConfig,
    letterbox,
    preprocess,
)

S = 64  # network input side
IMAGE = np.zeros((48, 96, 3), np.uint8)  # letterboxed at scale 64/96: 64x32 content
IMAGE[..., 0], IMAGE[..., 1], IMAGE[..., 2] = 200, 100, 50  # R, G, B


def _const(name: str, array: np.ndarray):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name + "_v"))


def _first_channel_mean(batch_dim: str | int):
    """Nodes computing m = mean(x[:, 0]) with shape (B, 1, 1)."""
    return [
        _const("starts", np.array([0], np.int64)), _const("ends", np.array([1], np.int64)),
        _const("axes", np.array([1], np.int64)),
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["ch0"]),
        _const("raxes", np.array([2, 3], np.int64)),
        helper.make_node("ReduceMean", ["ch0", "raxes"], ["m"], keepdims=1),  # (B,1,1,1)
        _const("sq", np.array([3], np.int64)),
        helper.make_node("Squeeze", ["m", "sq"], ["m3"]),  # (B,1,1)
    ]


def _save(path, nodes, outputs, batch: str | int = "B"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, S, S])
    graph = helper.make_graph(nodes, "tiny", [x], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yolov8_model(path):
    boxes = np.zeros((1, 4, 2), np.float32)
    boxes[0, :, 0] = [32, 32, 10, 20]  # cx cy w h in input pixels
    boxes[0, :, 1] = [10, 30, 4, 4]
    nodes = _first_channel_mean("B") + [
        _const("boxes", boxes), _const("zeros", np.zeros((1, 1, 2), np.float32)),
        _const("zero", np.zeros((1, 1, 1), np.float32)),
        helper.make_node("Mul", ["m3", "zero"], ["mz"]),
        helper.make_node("Add", ["boxes", "mz"], ["bb"]),  # (B,4,2)
        helper.make_node("Add", ["m3", "zeros"], ["score"]),  # (B,1,2)
        helper.make_node("Concat", ["bb", "score"], ["out"], axis=1),
    ]
    return _save(path, nodes, [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["B", 5, 2])])


def yolox_model(path):
    n = (S // 8) ** 2 + (S // 16) ** 2 + (S // 32) ** 2
    # the official export applies the sigmoid to objectness and classes: probabilities here
    raw = np.zeros((1, n, 6), np.float32)
    k = 3 * (S // 8) + 4  # stride-8 cell (x=4, y=3)
    raw[0, k] = [0.5, 0.5, np.log(2.0), np.log(3.0), 0.0, 1.0]  # box 16x24 centred at (36, 28)
    mask = np.zeros((1, n, 6), np.float32)
    mask[0, k, 4] = 1.0
    nodes = _first_channel_mean("B") + [
        _const("raw", raw), _const("mask", mask),
        helper.make_node("Mul", ["m3", "mask"], ["ms"]),
        helper.make_node("Add", ["raw", "ms"], ["out"]),
    ]
    return _save(path, nodes, [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["B", n, 6])])


def rtmdet_model(path):
    dets = np.array([[[22, 22, 42, 42, 1.0], [0, 0, 5, 5, 1.0]]], np.float32)  # score 1 + m
    mask = np.zeros((1, 2, 5), np.float32)
    mask[0, 0, 4] = 1.0
    nodes = _first_channel_mean(1) + [
        _const("d", dets), _const("mask", mask), _const("labels", np.array([[0, 3]], np.int64)),
        helper.make_node("Mul", ["m3", "mask"], ["ms"]),
        helper.make_node("Add", ["d", "ms"], ["dets"]),
        helper.make_node("Identity", ["labels"], ["labels_out"]),
    ]
    return _save(path, nodes, [helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, 2, 5]),
                               helper.make_tensor_value_info("labels_out", TensorProto.INT64, [1, 2])],
                 batch=1)


def expected_mean(layout: str) -> float:
    """Mean of the first network channel after letterboxing IMAGE (64x32 content, 114 padding)."""
    content, pad = 64 * 32, 64 * 64 - 64 * 32
    if layout == "yolov8":  # RGB / 255
        return (200 * content + 114 * pad) / (64 * 64) / 255.0
    blue = (50 * content + 114 * pad) / (64 * 64)  # BGR: first channel is blue
    return 1.0 + (blue - 103.53) / 57.375 if layout == "rtmdet" else blue


def to_image(xyxy_in):  # input pixels -> image pixels: scale 64/96, top-left or centred pad
    return np.asarray(xyxy_in, np.float64) * 96 / 64


@pytest.mark.parametrize(
    ("layout", "make", "box_in", "pad_y"),
    [
        ("yolov8", yolov8_model, [27, 22, 37, 42], 16.0),
        ("yolox", yolox_model, [28, 16, 44, 40], 0.0),
        ("rtmdet", rtmdet_model, [22, 22, 42, 42], 0.0),
    ],
)
def test_layouts_end_to_end(tmp_path, layout, make, box_in, pad_y):
    path = make(tmp_path / f"{layout}.onnx")
    mean = expected_mean(layout)
    cfg = OnnxDetectorConfig(model=str(path), layout=layout, input_size=S, min_score=1e-6)
    detector = OnnxDetector(cfg)
    out = detector.detect_batch([IMAGE, IMAGE])
    assert len(out) == 2
    d = out[0]
    best = int(np.argmax(d.score))
    want = to_image(np.array(box_in) - [0, pad_y, 0, pad_y])
    want = np.clip(want, 0, [96, 48, 96, 48])
    np.testing.assert_allclose(d.xyxy_px[best], want, atol=0.05)
    # yolox: objectness (here the mean itself) x class probability 1
    assert d.score[best] == pytest.approx(mean, rel=1e-4)


def test_letterbox_placement():
    canvas, box = letterbox(IMAGE, S, centred=True)
    assert (box.scale, box.pad_x, box.pad_y) == (pytest.approx(64 / 96), 0.0, 16.0)
    assert (canvas[0, 0] == 114).all() and (canvas[32, 10] == [200, 100, 50]).all()
    batch, _ = preprocess([IMAGE], "rtmdet", S)
    assert batch.shape == (1, 3, S, S) and batch.dtype == np.float32


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="ONNX detector model not found"):
        OnnxDetector(OnnxDetectorConfig(model=str(tmp_path / "none.onnx")))
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    with pytest.raises(InputError, match="cannot load ONNX model"):
        OnnxDetector(OnnxDetectorConfig(model=str(bad)))

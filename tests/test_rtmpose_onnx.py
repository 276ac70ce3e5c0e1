"""RTMPose ONNX backend: SimCC decoding, and a tiny ONNX model with RTMPose's layout end to end."""

from __future__ import annotations

import numpy as np
import pytest
from pose_fakes import make_simcc_onnx, red_dot_image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from streamer.errors import ConfigError
from streamer.models.rtmpose_onnx import RtmPoseOnnxBackend, decode_simcc, normalise


def test_decode_simcc_argmax_ratio_and_score():
    simcc_x = np.zeros((1, 2, 20), np.float32)
    simcc_y = np.zeros((1, 2, 30), np.float32)
    simcc_x[0, 0, 7], simcc_y[0, 0, 12] = 0.9, 0.6  # point 0 at bins (7, 12)
    simcc_x[0, 1, 3], simcc_y[0, 1, 4] = 1.7, 1.2  # point 1: scores above 1 are clipped
    xy, score = decode_simcc(simcc_x, simcc_y, 2.0)
    np.testing.assert_allclose(xy[0], [[4.0, 6.5], [2.0, 2.5]])  # bin / 2, + 0.5 to pixel centres
    np.testing.assert_allclose(score[0], [0.6, 1.0])


def test_normalise_is_rgb_imagenet_nchw():
    crop = np.zeros((1, 2, 3, 3), np.uint8)
    crop[0, 1, 2] = (255, 0, 0)
    out = normalise(crop)
    assert out.shape == (1, 3, 2, 3) and out.dtype == np.float32
    assert out[0, 0, 1, 2] == pytest.approx((255 - 123.675) / 58.395)
    assert out[0, 2, 0, 0] == pytest.approx(-103.53 / 57.375)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


def _backend(model_dir, name: str = "dyn.onnx", **kwargs) -> RtmPoseOnnxBackend:
    options = {k: kwargs.pop(k) for k in ("batch_size", "padding") if k in kwargs}
    return RtmPoseOnnxBackend(make_simcc_onnx(model_dir / name, **kwargs), threads=1, **options)


#: boxes whose padded, 3:4 ROI is exactly 192 x 256 image pixels centred on whole pixels:
#: crop pixels then coincide with image pixels, so a red pixel must decode to itself
def _unit_box(cx: float, cy: float) -> tuple[float, float, float, float]:
    return (cx - 76.8, cy - 102.4, cx + 76.8, cy + 102.4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"fixed_batch": 1},  # exports with a fixed batch of one run crop by crop
        {"y_first": True, "names": ("out_a", "out_b")},  # unnamed outputs, y first: told apart by size
        {"num_keypoints": 133},
        {"split_ratio": 3},
    ],
)
def test_tiny_model_end_to_end_recovers_each_red_pixel(model_dir, kwargs):
    name = "m_" + "_".join(f"{k}{v}" for k, v in kwargs.items()).replace(" ", "").replace("'", "") + ".onnx"
    backend = _backend(model_dir, name, batch_size=2, **kwargs)
    assert backend.input_hw == (256, 192)
    assert backend.layout == ("coco_wholebody133" if kwargs.get("num_keypoints") == 133 else "coco17")
    dots = [(300, 200), (120, 90), (400, 300)]
    frames = [red_dot_image((480, 640), dots[:2]), red_dot_image((480, 640), dots[2:])]
    boxes = np.array([_unit_box(290, 190), _unit_box(150, 120), _unit_box(420, 260)], np.float32)
    batch = backend.estimate(frames, np.array([0, 0, 1]), boxes, np.zeros(3))
    k = 133 if kwargs.get("num_keypoints") == 133 else 17
    assert batch.xy_px.shape == (3, k, 2) and batch.world_m is None
    for i, (col, row) in enumerate(dots):
        np.testing.assert_allclose(batch.xy_px[i], np.tile([col + 0.5, row + 0.5], (k, 1)), atol=1e-4)
    assert np.all(batch.conf == 1.0) and np.all(batch.pose_score == 1.0)  # peak 2.25 clipped to 1


def test_scaled_and_rotated_rois_map_back_to_the_frame(model_dir):
    backend = _backend(model_dir)
    frame = red_dot_image((480, 640), [(320, 240)])
    # a box half the unit size (crop = 2x zoom), and a quarter turn: the dot is recovered within
    # half an image pixel (one crop pixel at 2x zoom)
    cx, cy = 330.0, 250.0
    half = np.array([-38.4, -51.2, 38.4, 51.2], np.float32)
    boxes = np.array([np.r_[cx, cy, cx, cy] + half] * 2, np.float32)
    batch = backend.estimate([frame], np.array([0, 0]), boxes, np.array([0.0, np.pi / 2]))
    np.testing.assert_allclose(batch.xy_px[:, 0], [[320.5, 240.5]] * 2, atol=0.5)


def test_batches_are_cut_to_batch_size(model_dir):
    backend = _backend(model_dir, batch_size=2)
    runs = []
    real_run = backend.session.run

    def counting_run(names, feeds):
        runs.append(len(next(iter(feeds.values()))))
        return real_run(names, feeds)

    backend.session.run = counting_run
    frame = red_dot_image((100, 100), [(50, 50)])
    backend.estimate([frame], np.zeros(5, int), np.tile([[30, 20, 70, 80]], (5, 1)).astype(np.float32),
                     np.zeros(5))
    assert runs == [2, 2, 1]
    runs.clear()
    empty = backend.estimate([frame], np.zeros(0, int), np.zeros((0, 4), np.float32), np.zeros(0))
    assert runs == [] and empty.xy_px.shape == (0, 17, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_keypoints": 21}, "no keypoint layout has 21 keypoints"),
        ({"input_hw": (256, 256), "split_ratio": 2, "y_first": True, "names": ("a", "b")}, None),
    ],
)
def test_model_checks(model_dir, kwargs, message):
    name = f"check_{len(kwargs)}_{kwargs.get('num_keypoints', 0)}.onnx"
    if message is None:  # square input: x and y cannot be told apart by size; file order is taken
        assert _backend(model_dir, name, **kwargs).output_names == ["b", "a"]
        return
    with pytest.raises(ConfigError, match=message):
        _backend(model_dir, name, **kwargs)


def test_unreadable_model_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="cannot load"):
        RtmPoseOnnxBackend(bad)

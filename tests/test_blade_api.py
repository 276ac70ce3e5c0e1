"""BLADE crop preprocessing and the BladePredictor API (tiny random network, no fixtures needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from blade_helpers import randomize_, tiny_config

from streamer.errors import InputError
from streamer.models.blade import Blade, BladePredictor, prepare_crops
from streamer.models.blade.preprocess import (
    IMAGENET_MEAN_RGB,
    IMAGENET_STD_RGB,
    depthnet_input,
    imagenet_normalize,
    posenet_input,
    posenet_xy_to_crop_px,
)

BLACK = (-torch.tensor(IMAGENET_MEAN_RGB) / torch.tensor(IMAGENET_STD_RGB))[:, None, None]


def _crops(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_normalisation_uses_blade_constants():
    white = imagenet_normalize(torch.ones(1, 3, 1, 1))
    expected = (255 - torch.tensor([123.675, 116.28, 103.53])) / torch.tensor([58.395, 57.12, 57.375])
    torch.testing.assert_close(white.flatten(), expected)


@pytest.mark.parametrize(("h", "w", "content_hw"), [(200, 100, (400, 200)), (60, 90, (266, 400)),
                                                    (400, 400, (400, 400))])
def test_posenet_letterbox_geometry(h, w, content_hw):
    images = imagenet_normalize(torch.ones(1, 3, h, w))  # a white crop
    out = posenet_input(images, 400)
    is_white = (out[0] > 1.5).all(0)
    rows, cols = is_white.any(1).nonzero().flatten(), is_white.any(0).nonzero().flatten()
    assert (len(rows), len(cols)) == content_hw
    assert rows[0] == (400 - content_hw[0]) // 2 and cols[0] == (400 - content_hw[1]) // 2
    torch.testing.assert_close(out[0][:, ~is_white], BLACK.expand(3, 400, 400)[:, ~is_white])


@pytest.mark.parametrize("crop_hw", [(200, 100), (60, 90), (37, 37)])
def test_letterbox_coordinates_map_back_to_the_crop(crop_hw):
    h, w = crop_hw
    images = torch.zeros(1, 3, h, w)
    images[..., h // 3, w // 4] = 1.0  # one bright pixel
    out = posenet_input(images, 400)[0, 0] - BLACK[0]
    row, col = divmod(int(out.argmax()), 400)
    crop_xy = posenet_xy_to_crop_px(torch.tensor([(col + 0.5) / 400, (row + 0.5) / 400]), crop_hw, 400)
    assert abs(crop_xy[0] - (w // 4 + 0.5)) <= 1.0 and abs(crop_xy[1] - (h // 3 + 0.5)) <= 1.0
    corners = posenet_xy_to_crop_px(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), (400, 400), 400)
    torch.testing.assert_close(corners, torch.tensor([[0.0, 0.0], [400.0, 400.0]]))


def test_depthnet_input_of_a_square_crop_is_an_align_corners_resize():
    images = imagenet_normalize(_crops(2, 77, 77).permute(0, 3, 1, 2).float() / 255)
    expected = F.interpolate(images, size=(518, 518), mode="bilinear", align_corners=True)
    torch.testing.assert_close(depthnet_input(images, 518), expected)


def test_depthnet_pads_non_square_crops_with_the_mean_colour():
    out = depthnet_input(imagenet_normalize(torch.ones(1, 3, 10, 20)), 20)
    assert torch.all(out[0, :, 0] == 0) and torch.all(out[0, :, -1] == 0)  # padded rows are 0 after norm


def test_uint8_numpy_float_and_list_inputs_agree():
    crops = _crops(3, 50, 30)
    d_u8, p_u8 = prepare_crops(crops, depth_side=56, pose_side=64)
    d_np, p_np = prepare_crops(crops.numpy(), depth_side=56, pose_side=64)
    d_f, p_f = prepare_crops(crops.float() / 255, depth_side=56, pose_side=64)
    d_list, p_list = prepare_crops(list(crops.numpy()), depth_side=56, pose_side=64)
    for d, p in ((d_np, p_np), (d_f, p_f), (d_list, p_list)):
        torch.testing.assert_close(d, d_u8)
        torch.testing.assert_close(p, p_u8)
    assert d_u8.shape == (3, 3, 56, 56) and p_u8.shape == (3, 3, 64, 64)


@pytest.mark.parametrize(("crops", "message"), [
    (torch.zeros(2, 10, 10), r"expected shape \(N, H, W, 3\)"),
    (torch.full((1, 4, 4, 3), 255.0), r"float crops must be RGB in \[0, 1\]"),
    (torch.zeros(1, 4, 4, 3, dtype=torch.int32), "expected uint8 or float"),
    ([], "empty sequence"),
    ("image.png", "expected a tensor or array"),
    ([np.zeros((4, 4))], r"crops\[0\]: expected an \(H, W, 3\)"),
])
def test_bad_crops_raise_input_errors(crops, message):
    with pytest.raises(InputError, match=message):
        prepare_crops(crops)


@pytest.fixture(scope="module")
def model() -> Blade:
    return randomize_(Blade(tiny_config()), seed=5).eval()


def test_predictor_returns_one_row_of_smplx_parameters_per_crop(model):
    crops = [np.asarray(_crops(1, h, w, seed=h)[0]) for h, w in ((120, 60), (80, 80), (50, 90))]
    out = BladePredictor(model, batch_size=2, pose_side_px=64).predict(crops)
    shapes = {"global_orient": (3, 3), "body_pose": (3, 21, 3), "left_hand_pose": (3, 15, 3),
              "right_hand_pose": (3, 15, 3), "jaw_pose": (3, 3), "betas": (3, 10), "expression": (3, 10),
              "pelvis_depth_m": (3,), "score": (3,), "box_cxcywh": (3, 4), "keypoints_xy": (3, 17, 2)}
    for name, shape in shapes.items():
        value = getattr(out, name)
        assert value.shape == shape and value.device.type == "cpu", name
        assert torch.isfinite(value).all(), name
    assert ((out.pelvis_depth_m >= 0) & (out.pelvis_depth_m <= 10)).all()
    assert ((out.score > 0) & (out.score < 1)).all()
    # the chunked run equals running each crop through the network on its own
    depth_in, pose_in = prepare_crops(crops[2:], depth_side=56, pose_side=64)
    with torch.no_grad():
        alone = model(depth_in, pose_in)
    torch.testing.assert_close(out.body_pose[2:], alone.body_pose, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.pelvis_depth_m[2:], alone.pelvis_depth_m, atol=1e-6, rtol=0)


def test_predictor_rejects_a_zero_batch_size(model):
    with pytest.raises(ValueError, match="batch_size"):
        BladePredictor(model, batch_size=0)

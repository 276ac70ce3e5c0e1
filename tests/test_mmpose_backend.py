"""mmpose backend against a fake ``mmpose.apis`` (batching, BGR input, record conversion).

The real-mmpose tests at the end (a tiny RTMPose config, random weights) run only where the
``[mmpose]`` extra imports (mmpose 1.3 with mmcv's compiled ops); they are skipped everywhere else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest
from pose_fakes import FakeMmposeApis

from streamer.errors import ConfigError, MissingDependencyError
from streamer.models.mmpose_backend import MmposeBackend


@pytest.fixture
def fake_mmpose(monkeypatch) -> FakeMmposeApis:
    fake = FakeMmposeApis()
    package = types.ModuleType("mmpose")
    package.apis = fake.module()
    monkeypatch.setitem(sys.modules, "mmpose", package)
    monkeypatch.setitem(sys.modules, "mmpose.apis", package.apis)
    return fake


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "rtmpose-m_8xb256-420e_coco-256x192.py"
    path.write_text("# an mmpose config\n")
    return path


def test_importing_the_backend_does_not_import_mmpose():
    code = (
        "import sys, streamer.models.mmpose_backend, streamer.stages.keypoints; "
        "print('mmpose' in sys.modules, 'mmcv' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_one_batched_call_per_frame_and_record_conversion(fake_mmpose, config_file):
    backend = MmposeBackend(config_file, "", device="cpu")
    assert fake_mmpose.init_calls == [(str(config_file), None, "cpu")]
    assert backend.layout == "coco17" and backend.gives_world is False
    frames = [np.zeros((40, 60, 3), np.uint8), np.zeros((40, 60, 3), np.uint8)]
    frames[0][..., 0] = 200  # red in RGB
    boxes = np.array([[1, 2, 10, 20], [5, 6, 30, 35], [7, 8, 20, 30]], np.float32)
    batch = backend.estimate(frames, np.array([1, 0, 1]), boxes, np.zeros(3))
    assert len(fake_mmpose.calls) == 2  # one call per frame, all its boxes at once
    by_frame = {int(c["img"][..., 2].max() == 200): c for c in fake_mmpose.calls}
    # frame 0 went in as BGR; boxes in mmpose's integer-centre pixels
    np.testing.assert_array_equal(by_frame[1]["bboxes"], boxes[[1]] - 0.5)
    np.testing.assert_array_equal(by_frame[0]["bboxes"], boxes[[0, 2]] - 0.5)
    assert all(c["bbox_format"] == "xyxy" for c in fake_mmpose.calls)
    k = np.arange(17)
    for row, (x1, y1) in enumerate(boxes[:, :2]):  # rows keep the boxes' order, back at +0.5 centres
        np.testing.assert_allclose(batch.xy_px[row], np.stack([x1 + k, y1 + k], 1))
    np.testing.assert_allclose(batch.conf[0], np.clip(0.1 * k, 0, 1), rtol=1e-6)
    assert batch.world_m is None and batch.pose_score.shape == (3,)


def test_unsupported_keypoint_count_and_missing_files(fake_mmpose, config_file, tmp_path):
    fake_mmpose.num_keypoints = 308  # Sapiens' Goliath layout has no SMPL-X mapping here
    with pytest.raises(ConfigError, match="no keypoint layout has 308"):
        MmposeBackend(config_file)
    with pytest.raises(ConfigError, match="checkpoint: no such file"):
        MmposeBackend(config_file, tmp_path / "missing.pth")


def test_missing_mmpose_raises_the_install_hint(monkeypatch, config_file):
    monkeypatch.setitem(sys.modules, "mmpose", None)
    with pytest.raises(MissingDependencyError, match="mmcv 2.1 with compiled ops"):
        MmposeBackend(config_file)


#: a torchvision whose compiled ops did not load, as the PyPI (CUDA) wheel with the CPU torch
#: behaves: its import registers fake kernels for ops nothing declared
BROKEN_TORCHVISION = """
import torch

for _op in ("nms", "qnms"):
    torch.library.register_fake(f"torchvision::{_op}")(lambda dets, scores, iou_threshold: dets[:, 0].long())
"""


def test_torchvision_without_compiled_ops_still_imports(tmp_path):
    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "__init__.py").write_text(BROKEN_TORCHVISION)
    code = (
        "import torch\n"
        "try:\n    import torchvision\nexcept RuntimeError as exc:\n    print('bare import:', exc)\n"
        "from streamer.models.mmpose_backend import import_torchvision\n"
        "import_torchvision()\n"
        "import torchvision\n"
        "print('imported', hasattr(torch.ops.torchvision, 'nms'), hasattr(torch.ops.torchvision, 'qnms'))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.splitlines() == ["bare import: operator torchvision::nms does not exist", "imported True True"]


# ---------------------------------------------------------------------------------------------
# Real mmpose (skipped where the [mmpose] extra is not installed)

#: a tiny RTMPose: mmdet's CSPNeXt at 1/8 width, RTMCCHead (SimCC), 64x64 input, random weights
TINY_RTMPOSE = """
default_scope = 'mmpose'
codec = dict(type='SimCCLabel', input_size=(64, 64), sigma=(1.5, 1.5), simcc_split_ratio=2.0,
             normalize=False, use_dark=False)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(_scope_='mmdet', type='CSPNeXt', arch='P5', expand_ratio=0.5, deepen_factor=0.167,
                  widen_factor=0.125, out_indices=(4,), channel_attention=True,
                  norm_cfg=dict(type='BN'), act_cfg=dict(type='SiLU')),
    head=dict(type='RTMCCHead', in_channels=128, out_channels=17, input_size=codec['input_size'],
              in_featuremap_size=(2, 2), simcc_split_ratio=codec['simcc_split_ratio'],
              final_layer_kernel_size=1,
              gau_cfg=dict(hidden_dims=32, s=16, expansion_factor=2, dropout_rate=0., drop_path=0.,
                           act_fn='SiLU', use_rel_bias=False, pos_enc=False),
              loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True),
              decoder=codec),
    test_cfg=dict(flip_test=False))
test_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                 dict(type='TopdownAffine', input_size=codec['input_size']), dict(type='PackPoseInputs')]
train_dataloader = dict(dataset=dict(type='CocoDataset'))
test_dataloader = dict(dataset=dict(type='CocoDataset', pipeline=test_pipeline))
"""


@pytest.fixture
def tiny_rtmpose(tmp_path):
    """A tiny RTMPose config file, where real mmpose imports."""
    from streamer.models.mmpose_backend import load_apis

    try:
        load_apis()
    except MissingDependencyError:
        pytest.skip("mmpose is an optional extra (pip install -e .[mmpose], see the README)")
    path = tmp_path / "tiny_rtmpose.py"
    path.write_text(TINY_RTMPOSE)
    return path


def test_real_mmpose_random_weights_and_checkpoint(tiny_rtmpose, tmp_path):
    """Random weights: coco17, shapes, [0, 1] scores, cross-frame batching; its checkpoint reloads exactly."""
    from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu

    backend = MmposeBackend(tiny_rtmpose, "", device="cpu")
    assert backend.layout == "coco17" and backend.num_keypoints == 17
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120, 160, 3), np.uint8) for _ in range(2)]
    boxes = np.array([[10, 10, 60, 110], [80, 5, 150, 115], [30, 20, 90, 100]], np.float32)
    batch = backend.estimate(frames, np.array([0, 1, 0]), boxes, np.zeros(3))
    assert batch.xy_px.shape == (3, 17, 2) and batch.conf.shape == (3, 17) and batch.pose_score.shape == (3,)
    assert np.isfinite(batch.xy_px).all() and ((batch.conf >= 0) & (batch.conf <= 1)).all()
    single = backend.estimate(frames[1:], np.array([0]), boxes[1:2], np.zeros(1))
    np.testing.assert_allclose(single.xy_px[0], batch.xy_px[1], atol=1e-4)
    # saved as mmengine's Runner saves it: dataset_meta (numpy arrays) in meta
    path = tmp_path / "tiny.pth"
    meta = {"epoch": 1, "dataset_meta": backend.model.dataset_meta}
    save_checkpoint({"meta": meta, "state_dict": weights_to_cpu(get_state_dict(backend.model))}, str(path))
    reloaded = MmposeBackend(tiny_rtmpose, path, device="cpu").estimate(frames, np.array([0, 1, 0]), boxes, np.zeros(3))
    np.testing.assert_array_equal(reloaded.xy_px, batch.xy_px)
    np.testing.assert_array_equal(reloaded.conf, batch.conf)


def test_real_mmpose_pixel_centres_and_colour_order(tiny_rtmpose):
    """A head that points every keypoint at the crop's reddest pixel must land on that pixel's centre.

    The boxes are sized so that one crop pixel is one image pixel, and placed so that the red
    pixel falls exactly on a crop pixel: an error of half a pixel in either conversion, or red
    and blue swapped, moves the answer.
    """
    import torch

    backend = MmposeBackend(tiny_rtmpose, "", device="cpu")
    model, ratio = backend.model, 2.0

    def point_at_red(feats):
        red = feats[0][:, 0]  # (N, H, W): RGB after mmpose's data preprocessor
        n, h, w = red.shape
        flat = red.reshape(n, -1).argmax(dim=1)
        x_bins, y_bins = torch.zeros(n, 17, int(w * ratio)), torch.zeros(n, 17, int(h * ratio))
        x_bins[torch.arange(n), :, (flat % w * ratio).long()] = 0.9
        y_bins[torch.arange(n), :, (flat // w * ratio).long()] = 0.9
        return x_bins, y_bins

    model.extract_feat = lambda inputs: (inputs,)
    model.head.forward = point_at_red
    frame = np.zeros((100, 120, 3), np.uint8)
    frame[33, 45] = (255, 0, 0)  # red pixel, centre (45.5, 33.5) in the records' convention
    frame[60, 20] = (0, 0, 255)  # a blue one: wins if the channels are swapped
    side = 64 / 1.25  # GetBBoxCenterScale pads boxes by 1.25: crop of 64 image pixels
    centres = np.array([[40.5, 40.5], [50.5, 36.5]])
    boxes = np.concatenate([centres - side / 2, centres + side / 2], axis=1).astype(np.float32)
    batch = backend.estimate([frame], np.zeros(2, int), boxes, np.zeros(2))
    np.testing.assert_allclose(batch.xy_px, np.broadcast_to([45.5, 33.5], (2, 17, 2)), atol=1e-3)
    np.testing.assert_allclose(batch.conf, 0.9, rtol=1e-6)

"""mmpose backend against a fake ``mmpose.apis`` (batching, BGR input, record conversion).

The real-mmpose test at the end runs only where mmpose 1.3 (with mmcv's compiled ops)
is installed; it is skipped everywhere else.
"""

from __future__ import annotations

import importlib
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
    code = ("import sys, streamer.models.mmpose_backend, streamer.stages.keypoints; "
            "print('mmpose' in sys.modules, 'mmcv' in sys.modules)")
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
    np.testing.assert_array_equal(by_frame[1]["bboxes"], boxes[[1]])  # frame 0 went in as BGR
    np.testing.assert_array_equal(by_frame[0]["bboxes"], boxes[[0, 2]])
    assert all(c["bbox_format"] == "xyxy" for c in fake_mmpose.calls)
    k = np.arange(17)
    for row, (x1, y1) in enumerate(boxes[:, :2]):  # rows keep the boxes' order
        np.testing.assert_allclose(batch.xy_px[row], np.stack([x1 + k, y1 + k], 1) + 0.5)
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


def test_real_mmpose_random_weights():
    """With mmpose installed: a COCO RTMPose config from mmpose's own package, random weights."""
    pytest.importorskip("mmpose.apis", reason="mmpose is an optional extra")
    from pathlib import Path

    root = Path(importlib.import_module("mmpose").__file__).parent / ".mim" / "configs"
    configs = sorted(root.glob("body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py"))
    if not configs:
        pytest.skip("mmpose's packaged configs are absent")
    backend = MmposeBackend(configs[0], "", device="cpu")
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
    batch = backend.estimate([frame], np.array([0, 0]), np.array([[10, 10, 60, 110], [80, 5, 150, 115]],
                                                                  np.float32), np.zeros(2))
    assert backend.layout == "coco17" and batch.xy_px.shape == (2, 17, 2)
    assert np.isfinite(batch.xy_px).all() and (batch.conf >= 0).all() and (batch.conf <= 1).all()

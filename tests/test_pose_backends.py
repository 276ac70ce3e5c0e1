"""One contract for every keypoint backend: shapes, ranges, row order, layout, empty input."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from pose_fakes import FakeMmposeApis, make_simcc_onnx

from streamer.pose.backend import PoseBatch
from streamer.pose.layouts import get_layout


def _blazepose(tmp_path, monkeypatch):
    from streamer.models.blazepose import BlazePoseBackend

    return BlazePoseBackend(threads=1, batch_size=2)


def _onnx(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from streamer.models.rtmpose_onnx import RtmPoseOnnxBackend

    return RtmPoseOnnxBackend(make_simcc_onnx(tmp_path / "m.onnx"), threads=1, batch_size=2)


def _mmpose(tmp_path, monkeypatch):
    from streamer.models.mmpose_backend import MmposeBackend

    package = types.ModuleType("mmpose")
    package.apis = FakeMmposeApis().module()
    monkeypatch.setitem(sys.modules, "mmpose", package)
    monkeypatch.setitem(sys.modules, "mmpose.apis", package.apis)
    (tmp_path / "cfg.py").write_text("")
    return MmposeBackend(tmp_path / "cfg.py")


@pytest.mark.parametrize("make", [_blazepose, _onnx, _mmpose], ids=["blazepose", "onnx", "mmpose"])
def test_backend_contract(make, tmp_path, monkeypatch):
    backend = make(tmp_path, monkeypatch)
    k = get_layout(backend.layout).num_keypoints
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (90, 120, 3), np.uint8) for _ in range(2)]
    boxes = np.array([[10, 5, 40, 85], [60, 10, 90, 80], [0, 0, 120, 90]], np.float32)
    batch = backend.estimate(frames, np.array([1, 0, 1]), boxes, np.zeros(3))
    assert isinstance(batch, PoseBatch) and len(batch) == 3
    assert batch.xy_px.shape == (3, k, 2) and batch.xy_px.dtype == np.float32
    assert batch.conf.dtype == np.float32 and ((batch.conf >= 0) & (batch.conf <= 1)).all()
    assert ((batch.pose_score >= 0) & (batch.pose_score <= 1)).all()
    assert np.isfinite(batch.xy_px).all()
    assert (batch.world_m is not None) == backend.gives_world
    one = backend.estimate(frames[1:], np.array([0]), boxes[2:], np.zeros(1))  # row order = box order
    np.testing.assert_allclose(one.xy_px[0], batch.xy_px[2], atol=1e-2)
    empty = backend.estimate(frames, np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0))
    assert len(empty) == 0 and empty.xy_px.shape == (0, k, 2)

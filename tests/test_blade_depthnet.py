"""DepthNet (DINOv2 -> DPT path_1 -> depth_interface -> DiNOZNet) against the BLADE reference fixture."""

from __future__ import annotations

import pytest
import torch
from blade_helpers import load_fixture

from streamer.models.blade import load_blade_weights
from streamer.models.blade.depthnet import DepthNet, depthnet_config_from_fixture

FIXTURE = "blade_depth_fixture.pt"
#: README tolerances for an fp32 CPU re-implementation (features / Tz), and for fp64
FEATURE_TOL = {"rtol": 1e-4, "atol": 1e-4}
TZ_TOL = {"rtol": 0.0, "atol": 1e-5}
FP64_TOL = {"rtol": 0.0, "atol": 1e-9}


def _run(dtype: torch.dtype) -> tuple[dict, dict[str, torch.Tensor]]:
    fixture = load_fixture(FIXTURE)
    with torch.device("meta"):  # exercises the assign-on-load path (the PoseNet test copies)
        model = DepthNet(depthnet_config_from_fixture(fixture["config"])).eval()
    check = load_blade_weights(model, fixture["state_dict"])
    assert check.ok and check.matched == len(fixture["state_dict"])
    with torch.no_grad():
        out = model.to(dtype)(fixture["inputs"]["x"].to(dtype), return_intermediates=True)
    return fixture, out.intermediates


@pytest.fixture(scope="module")
def fp32_run() -> tuple[dict, dict[str, torch.Tensor]]:
    return _run(torch.float32)


FP32_KEYS = [f"dinov2_layer{i}_{part}" for i in range(4) for part in ("patch_tokens", "cls_token")] + [
    "path_4", "path_3", "path_1", "path_1_resized_224", "depth_interface_out"]


@pytest.mark.parametrize("key", FP32_KEYS)
def test_fp32_features_match_reference(fp32_run, key):
    fixture, trace = fp32_run
    torch.testing.assert_close(trace[key], fixture["outputs"][key], **FEATURE_TOL)


def test_fp32_pelvis_depth_matches_reference(fp32_run):
    fixture, trace = fp32_run
    torch.testing.assert_close(trace["pred_z"], fixture["outputs"]["pred_z"], **TZ_TOL)
    assert trace["pred_z"].shape == (2, 1)


def test_fp64_matches_reference_fp64():
    fixture, trace = _run(torch.float64)
    for key, expected in fixture["outputs_float64"].items():
        torch.testing.assert_close(trace[key], expected, **FP64_TOL, msg=key)

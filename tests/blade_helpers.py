"""Helpers for the BLADE tests: reference fixtures in ../shared/blade and a tiny random network."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

from streamer.models.blade.depthnet import DepthNetConfig
from streamer.models.blade.model import BladeConfig
from streamer.models.blade.posenet import PoseNetConfig

BLADE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "blade"


def blade_file(name: str) -> Path:
    path = BLADE_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@functools.cache
def _load(name: str) -> dict:
    return torch.load(blade_file(name), weights_only=True)


def load_fixture(name: str) -> dict:
    """A reference fixture (read once per test session; skips when ../shared is absent)."""
    blade_file(name)
    return _load(name)


def read_manifest() -> dict[str, torch.Tensor]:
    """Full-size checkpoint keys as meta tensors of the manifest's shape and dtype."""
    out = {}
    for line in blade_file("blade_state_dict_manifest.tsv").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        dims = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
        out[key] = torch.empty(dims, dtype=getattr(torch, dtype), device="meta")
    return out


def read_alias_groups() -> list[list[str]]:
    return [line.split("\t") for line in blade_file("blade_state_dict_aliases.tsv").read_text().splitlines()]


def read_body_model_keys() -> list[str]:
    return [line.split("\t")[0] for line in blade_file("blade_body_model_keys.tsv").read_text().splitlines()]


def tiny_config() -> BladeConfig:
    """A BLADE network small enough to build, save and run in well under a second."""
    depth = DepthNetConfig(img_size=56, embed_dim=32, depth=4, num_heads=2, intermediate_layers=(0, 1, 2, 3),
                           dpt_features=8, dpt_out_channels=(8, 8, 16, 16), dpt_head_features_2=8,
                           path1_resize=32, interface_channels=8, znet_nhead=2, znet_dim_feedforward=16,
                           znet_num_layers=1)
    pose = PoseNetConfig(resnet_layers=(1, 1, 1, 1), resnet_width_per_group=8, hidden_dim=64, nheads=4,
                         dim_feedforward=32, enc_layers=1, num_queries=12, num_group=3, num_select=4)
    return BladeConfig(depthnet=depth, posenet=pose)


def randomize_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Overwrite every float parameter/buffer with well-scaled random values (in place)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if not tensor.dtype.is_floating_point:
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.ndim >= 2:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) / fan_in**0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1 + (1.0 if "norm" in name else 0.0))
    return module

"""ResNet-50 trunk with frozen batch norm (torchvision v1.5 layout), as AiOS's backbone uses it.

Shape legend: ``B`` batch, ``H, W`` input pixels; C3/C4/C5 are the outputs of ``layer2``,
``layer3`` and ``layer4`` at strides 8, 16 and 32 (each spatial size is ``ceil(prev / 2)``).

Parameter names are torchvision's (``conv1``, ``bn1``, ``layerN.M.conv1`` ... ``downsample.0/1``)
without ``fc``, which AiOS drops. ``FrozenBatchNorm2d`` holds weight, bias, running mean and
variance as buffers (no ``num_batches_tracked``) and applies ``x * w / sqrt(var + eps) + (b - mean *
w / sqrt(var + eps))`` with eps 1e-5, as AiOS does. torchvision is not needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: output channels of layer1..layer4 for Bottleneck blocks (expansion 4)
RESNET_STAGE_CHANNELS = (256, 512, 1024, 2048)
_EXPANSION = 4


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine parameters (all buffers)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (carries the stride, v1.5) -> 1x1 (x4 channels), residual, ReLU."""

    def __init__(self, in_channels: int, planes: int, stride: int, width: int) -> None:
        super().__init__()
        out_channels = planes * _EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = FrozenBatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = FrozenBatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                FrozenBatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNetTrunk(nn.Module):
    """Stem + four Bottleneck stages; returns the last three stage outputs (C3, C4, C5).

    Args:
        layers: blocks per stage (ResNet-50: 3, 4, 6, 3).
        width_per_group: bottleneck width factor (64 for ResNet-50; width = planes * wpg / 64).
    """

    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3), width_per_group: int = 64) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNetTrunk needs 4 stages, got {len(layers)}")
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        in_channels = 64
        for index, (blocks, planes) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
            width = planes * width_per_group // 64
            stride = 1 if index == 0 else 2
            stage = []
            for block in range(blocks):
                stage.append(Bottleneck(in_channels, planes, stride if block == 0 else 1, width))
                in_channels = planes * _EXPANSION
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> [C3 (B, 512, H/8, W/8), C4 (B, 1024, H/16, W/16), C5 (B, 2048, H/32, W/32)]."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(image))), kernel_size=3, stride=2, padding=1)
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c3, c4, c5]

"""DPT decoder of Depth-Anything-V2, as BLADE uses it: it returns the fused feature pyramid.

Shape legend: ``B`` batch, ``h, w`` ViT patch grid (37 x 37 for a 518 input), ``D`` ViT width,
``F`` fused feature channels (``features``; 256 for ViT-L).

BLADE replaces the head's ``forward`` so that it returns ``(depth, [path_4, path_3, path_2,
path_1])`` and only uses ``path_1`` (B, F, 8h, 8w). The relative-depth branch (``output_conv1``,
``output_conv2``) is kept for a strict state-dict load but is computed only on request.

Resolutions: the four token maps are projected to ``out_channels`` and resampled to 4h, 2h, h
and h/2 (stride-2 conv, ceil); fusion blocks then upsample bilinearly (align_corners=True) to
the next finer map, and the last one doubles the size: path_4 h, path_3 2h, path_2 4h, path_1 8h.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))) with 3x3 convs (no batch norm, as ``use_bn=False``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FeatureFusionBlock(nn.Module):
    """Adds a refined skip map, refines, upsamples (bilinear, align_corners) and projects 1x1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.resConfUnit1 = ResidualConvUnit(channels)  # camelCase: checkpoint name
        self.resConfUnit2 = ResidualConvUnit(channels)  # camelCase: checkpoint name

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None,
                size: tuple[int, int] | None = None) -> torch.Tensor:
        """(B, F, h, w) [+ skip (B, F, h, w)] -> (B, F, *size) or (B, F, 2h, 2w) when size is None."""
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class Scratch(nn.Module):
    """Container named as in the original (``scratch.layerN_rn``, ``scratch.refinenetN`` ...)."""

    def __init__(self, in_channels: Sequence[int], features: int, head_features_2: int) -> None:
        super().__init__()
        self.layer1_rn = nn.Conv2d(in_channels[0], features, kernel_size=3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(in_channels[1], features, kernel_size=3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(in_channels[2], features, kernel_size=3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(in_channels[3], features, kernel_size=3, padding=1, bias=False)
        self.refinenet1 = FeatureFusionBlock(features)
        self.refinenet2 = FeatureFusionBlock(features)
        self.refinenet3 = FeatureFusionBlock(features)
        self.refinenet4 = FeatureFusionBlock(features)
        # relative-depth output branch (unused by BLADE's Tz path)
        self.output_conv1 = nn.Conv2d(features, features // 2, kernel_size=3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, head_features_2, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(head_features_2, 1, kernel_size=1),
            nn.Sigmoid(),
        )


@dataclass(frozen=True)
class DPTFeatures:
    """Fused pyramid, finest last. ``depth`` is None unless requested."""

    path_4: torch.Tensor  # (B, F, h, w)
    path_3: torch.Tensor  # (B, F, 2h, 2w)
    path_2: torch.Tensor  # (B, F, 4h, 4w)
    path_1: torch.Tensor  # (B, F, 8h, 8w)
    depth: torch.Tensor | None  # (B, 1, patch*h, patch*w) sigmoid relative depth


class DPTHead(nn.Module):
    """Depth-Anything-V2 DPT head without class-token readout (``use_clstoken=False``).

    Args:
        in_channels: ViT width D.
        features: fused channels F.
        out_channels: per-level projection widths (ViT-L: 256, 512, 1024, 1024).
        head_features_2: hidden width of the relative-depth output branch (32).
    """

    def __init__(self, in_channels: int = 1024, features: int = 256,
                 out_channels: Sequence[int] = (256, 512, 1024, 1024), head_features_2: int = 32) -> None:
        super().__init__()
        if len(out_channels) != 4:
            raise ValueError(f"DPTHead needs 4 out_channels, got {len(out_channels)}")
        self.projects = nn.ModuleList(nn.Conv2d(in_channels, c, kernel_size=1) for c in out_channels)
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
            nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
            nn.Identity(),
            nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
        ])
        self.scratch = Scratch(out_channels, features, head_features_2)

    def forward(self, layers: Sequence[torch.Tensor], patch_h: int, patch_w: int, patch_size: int = 14,
                with_depth: bool = False) -> DPTFeatures:
        """Fuse four ViT token maps.

        Args:
            layers: four (B, h * w, D) normed patch-token tensors, shallow to deep.
            patch_h, patch_w: the patch grid h, w.
            patch_size: ViT patch side, only for the size of the optional depth map.
            with_depth: also run the relative-depth branch.
        """
        maps = []
        for index, tokens in enumerate(layers):
            grid = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[-1], patch_h, patch_w)
            maps.append(self.resize_layers[index](self.projects[index](grid)))
        s = self.scratch
        l1, l2, l3, l4 = s.layer1_rn(maps[0]), s.layer2_rn(maps[1]), s.layer3_rn(maps[2]), s.layer4_rn(maps[3])
        path_4 = s.refinenet4(l4, size=tuple(l3.shape[2:]))
        path_3 = s.refinenet3(path_4, l3, size=tuple(l2.shape[2:]))
        path_2 = s.refinenet2(path_3, l2, size=tuple(l1.shape[2:]))
        path_1 = s.refinenet1(path_2, l1)
        depth = None
        if with_depth:
            depth = s.output_conv1(path_1)
            depth = F.interpolate(depth, (patch_h * patch_size, patch_w * patch_size), mode="bilinear",
                                  align_corners=True)
            depth = s.output_conv2(depth)
        return DPTFeatures(path_4, path_3, path_2, path_1, depth)

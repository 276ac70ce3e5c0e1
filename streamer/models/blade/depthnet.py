"""BLADE's DepthNet: pelvis depth Tz (metres) from a square person crop.

Shape legend: ``B`` crops, ``S`` input side (518), ``h = S / 14`` patch grid, ``F`` DPT features
(256), ``R`` resize side of ``path_1`` (224), ``M = (R / 4)^2`` memory tokens of the Z decoder.

Pipeline (``DepthNet.forward``): DINOv2 intermediate layers (final norm, class token returned
but unused) -> DPT ``path_1`` (B, F, 8h, 8h) -> bilinear resize to R x R (align_corners=True)
-> ``depth_interface`` (two stride-2 conv + BN + ReLU) -> (B, F, R/4, R/4) -> DiNOZNet: one
learned query cross-attends to the M feature tokens through a post-norm transformer decoder,
``Tz = sigmoid(Linear(out)) * max_depth``, then times ``depth_scale``.

Module names (``depth_backbone.pretrained``, ``depth_backbone.depth_head``, ``depth_interface``,
``depth_head.dec_z``) are those of the BLADE checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamer.models.blade.dinov2 import DinoVisionTransformer
from streamer.models.blade.dpt import DPTFeatures, DPTHead


@dataclass(frozen=True)
class DepthNetConfig:
    """Hyper-parameters of the DepthNet; defaults are BLADE's full-size model (DAv2 ViT-L)."""

    img_size: int = 518
    patch_size: int = 14
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    layer_scale_init: float | None = 1.0
    intermediate_layers: tuple[int, ...] = (4, 11, 17, 23)
    dpt_features: int = 256
    dpt_out_channels: tuple[int, ...] = (256, 512, 1024, 1024)
    dpt_head_features_2: int = 32
    path1_resize: int = 224
    interface_channels: int = 256
    interface_bn_eps: float = 1e-5
    znet_num_queries: int = 1
    znet_nhead: int = 4
    znet_dim_feedforward: int = 1024
    znet_num_layers: int = 2
    znet_layer_norm_eps: float = 1e-5
    max_depth_m: float = 10.0
    depth_scale: float = 1.0


class DepthAnythingBackbone(nn.Module):
    """``pretrained`` (DINOv2) + ``depth_head`` (DPT) under the names Depth-Anything-V2 uses."""

    def __init__(self, cfg: DepthNetConfig) -> None:
        super().__init__()
        self.intermediate_layers = tuple(cfg.intermediate_layers)
        self.pretrained = DinoVisionTransformer(
            img_size=cfg.img_size, patch_size=cfg.patch_size, embed_dim=cfg.embed_dim, depth=cfg.depth,
            num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, layer_scale_init=cfg.layer_scale_init,
        )
        self.depth_head = DPTHead(cfg.embed_dim, cfg.dpt_features, cfg.dpt_out_channels, cfg.dpt_head_features_2)

    def forward(self, image: torch.Tensor, with_depth: bool = False) -> DPTFeatures:
        """(B, 3, S, S) normalised image -> DPT feature pyramid."""
        patch = self.pretrained.patch_size
        layers = self.pretrained.get_intermediate_layers(image, self.intermediate_layers, norm=True)
        return self.depth_head([tokens for tokens, _cls in layers], image.shape[-2] // patch,
                               image.shape[-1] // patch, patch_size=patch, with_depth=with_depth)


def make_depth_interface(channels: int, bn_eps: float) -> nn.Sequential:
    """BLADE's 'regular' interface: (B, C, R, R) -> (B, C, R/4, R/4), indices 0,1,3,4 carry weights."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(channels, eps=bn_eps),
        nn.ReLU(),
        nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(channels, eps=bn_eps),
        nn.ReLU(),
    )


class DiNOZNet(nn.Module):
    """Learned query(ies) -> post-norm transformer decoder over feature tokens -> sigmoid depth.

    ``conv`` (1 -> C, 1x1) exists in the checkpoint but is not used by the forward pass.
    """

    def __init__(self, num_queries: int, embed_dim: int, nhead: int, dim_feedforward: int, num_layers: int,
                 max_depth_m: float, layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        if num_queries != 1:
            # the original flattens the decoded queries into a Linear(embed_dim, 1)
            raise ValueError(f"DiNOZNet supports exactly one query, got {num_queries}")
        self.embed_dim = embed_dim
        self.max_depth_m = max_depth_m
        self.query = nn.Embedding(num_queries, embed_dim)
        self.conv = nn.Conv2d(1, embed_dim, kernel_size=1)
        layer = nn.TransformerDecoderLayer(embed_dim, nhead, dim_feedforward=dim_feedforward, dropout=0.1,
                                           activation="relu", layer_norm_eps=layer_norm_eps, batch_first=True,
                                           norm_first=False)
        self.decoder = nn.TransformerDecoder(layer, num_layers=num_layers)
        self.z_out = nn.Linear(embed_dim, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) features -> (B, 1) depth in [0, max_depth_m]."""
        b = features.shape[0]
        memory = features.reshape(b, self.embed_dim, -1).transpose(1, 2)
        queries = self.query.weight.unsqueeze(0).expand(b, -1, -1)
        decoded = self.decoder(queries, memory)
        return torch.sigmoid(self.z_out(decoded.reshape(b, -1))) * self.max_depth_m


class DepthOnlyHead(nn.Module):
    """Holds ``dec_z`` so that checkpoint keys read ``depth_head.dec_z.*``."""

    def __init__(self, cfg: DepthNetConfig) -> None:
        super().__init__()
        self.dec_z = DiNOZNet(cfg.znet_num_queries, cfg.interface_channels, cfg.znet_nhead,
                              cfg.znet_dim_feedforward, cfg.znet_num_layers, cfg.max_depth_m,
                              cfg.znet_layer_norm_eps)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dec_z(features)


@dataclass(frozen=True)
class DepthNetOutput:
    """Tz and, on request, the intermediate tensors (for equivalence tests and debugging)."""

    pelvis_depth_m: torch.Tensor  # (B, 1)
    intermediates: dict[str, torch.Tensor] | None = None


class DepthNet(nn.Module):
    """Pelvis depth from a (B, 3, S, S) ImageNet-normalised RGB crop (see module docstring)."""

    def __init__(self, cfg: DepthNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DepthNetConfig()
        if cfg.dpt_features != cfg.interface_channels:
            raise ValueError(f"depth_interface expects {cfg.interface_channels} channels, "
                             f"DPT gives {cfg.dpt_features}")
        self.depth_backbone = DepthAnythingBackbone(cfg)
        self.depth_interface = make_depth_interface(cfg.interface_channels, cfg.interface_bn_eps)
        self.depth_head = DepthOnlyHead(cfg)

    def forward(self, image: torch.Tensor, return_intermediates: bool = False) -> DepthNetOutput:
        """(B, 3, S, S) -> Tz (B, 1) metres."""
        side = self.cfg.path1_resize
        if return_intermediates:
            return self._forward_traced(image)
        path_1 = self.depth_backbone(image).path_1
        resized = F.interpolate(path_1, size=(side, side), mode="bilinear", align_corners=True)
        depth = self.depth_head(self.depth_interface(resized)) * self.cfg.depth_scale
        return DepthNetOutput(depth)

    def _forward_traced(self, image: torch.Tensor) -> DepthNetOutput:
        cfg = self.cfg
        backbone = self.depth_backbone
        layers = backbone.pretrained.get_intermediate_layers(image, backbone.intermediate_layers, norm=True)
        trace: dict[str, torch.Tensor] = {}
        for index, (tokens, cls) in enumerate(layers):
            trace[f"dinov2_layer{index}_patch_tokens"] = tokens
            trace[f"dinov2_layer{index}_cls_token"] = cls
        grid = image.shape[-1] // cfg.patch_size
        pyramid = backbone.depth_head([t for t, _ in layers], grid, grid, patch_size=cfg.patch_size)
        trace.update(path_4=pyramid.path_4, path_3=pyramid.path_3, path_2=pyramid.path_2, path_1=pyramid.path_1)
        resized = F.interpolate(pyramid.path_1, size=(cfg.path1_resize,) * 2, mode="bilinear",
                                align_corners=True)
        interface = self.depth_interface(resized)
        trace.update(path_1_resized_224=resized, depth_interface_out=interface)
        depth = self.depth_head(interface) * cfg.depth_scale
        trace["pred_z"] = depth
        return DepthNetOutput(depth, trace)


def depthnet_config_from_fixture(config: dict) -> DepthNetConfig:
    """DepthNetConfig from the ``config`` dict of the BLADE reference fixture (reduced sizes)."""
    vit, dpt, znet = config["dinov2"], config["dpt"], config["depth_head"]["znet_config"]
    return DepthNetConfig(
        img_size=int(vit["img_size"]), patch_size=int(vit["patch_size"]), embed_dim=int(vit["embed_dim"]),
        depth=int(vit["depth"]), num_heads=int(vit["num_heads"]), mlp_ratio=float(vit["mlp_ratio"]),
        layer_scale_init=vit["init_values"], intermediate_layers=tuple(config["intermediate_layer_idx"]),
        dpt_features=int(dpt["features"]), dpt_out_channels=tuple(dpt["out_channels"]),
        dpt_head_features_2=int(dpt.get("head_features_2", 32)),
        path1_resize=int(config["path1_resize"]["size"][0]),
        interface_channels=int(config["depth_interface"]["channels"]),
        interface_bn_eps=float(config["depth_interface"]["bn_eps"]),
        znet_num_queries=int(znet["number_of_embed"]), znet_nhead=int(znet["nhead"]),
        znet_dim_feedforward=int(znet["dim_feedforward"]), znet_num_layers=int(znet["numlayers"]),
        max_depth_m=float(znet["max_depth"]), depth_scale=float(config.get("depth_scale", 1.0)),
    )

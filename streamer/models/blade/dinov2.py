"""DINOv2 vision transformer (the encoder of Depth-Anything-V2), inference only.

Shape legend: ``B`` batch, ``H, W`` input pixels (multiples of ``patch_size``), ``h = H / patch``,
``w = W / patch``, ``T = 1 + h * w`` tokens (class token first, no register tokens), ``D``
embedding width.

Parameter names follow the original module tree (``patch_embed.proj``, ``blocks.N.attn.qkv``,
``blocks.N.ls1.gamma`` ...), so a Depth-Anything-V2 / BLADE state dict loads unchanged.
Attention uses :func:`torch.nn.functional.scaled_dot_product_attention` with the original scale
``head_dim ** -0.5``; it equals the original ``softmax(q * scale @ k^T) @ v`` up to float
round-off and needs far less memory (no (T, T) matrix per head on GPU).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: LayerNorm epsilon of every DINOv2 norm
DINOV2_LN_EPS = 1e-6


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch x patch`` convolution: (B, 3, H, W) -> (B, h * w, D)."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.proj(image).flatten(2).transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, proj_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, D)."""
        b, t, d = tokens.shape
        qkv = self.qkv(tokens).reshape(b, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], scale=self.scale)
        return self.proj(attended.transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2."""

    def __init__(self, dim: int, hidden: int, bias: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim, bias=bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(tokens)))


class LayerScale(nn.Module):
    """Per-channel learned residual scale ``gamma``."""

    def __init__(self, dim: int, init_value: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block: x + ls1(attn(norm1 x)); x + ls2(mlp(norm2 x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, proj_bias: bool,
                 ffn_bias: bool, layer_scale_init: float | None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=DINOV2_LN_EPS)
        self.attn = SelfAttention(dim, num_heads, qkv_bias, proj_bias)
        self.ls1 = LayerScale(dim, layer_scale_init) if layer_scale_init else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=DINOV2_LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), ffn_bias)
        self.ls2 = LayerScale(dim, layer_scale_init) if layer_scale_init else nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens + self.ls1(self.attn(self.norm1(tokens)))
        return tokens + self.ls2(self.mlp(self.norm2(tokens)))


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT with a learned position embedding for ``img_size`` and a class token.

    Args:
        img_size: side the position embedding was trained for (518 -> 37 x 37 patches).
        patch_size: patch side in pixels (14).
        embed_dim, depth, num_heads, mlp_ratio: transformer size (ViT-L/14: 1024, 24, 16, 4).
        layer_scale_init: LayerScale initial value; None or 0 builds no LayerScale.
        qkv_bias, proj_bias, ffn_bias: whether those linear layers have biases.
        interpolate_offset: DINOv2's offset added to the target grid when the position
            embedding is resized for another input size (0.1).
        interpolate_antialias: antialias flag of that bicubic resize (False).
    """

    def __init__(self, img_size: int = 518, patch_size: int = 14, in_chans: int = 3, embed_dim: int = 1024,
                 depth: int = 24, num_heads: int = 16, mlp_ratio: float = 4.0,
                 layer_scale_init: float | None = 1.0, qkv_bias: bool = True, proj_bias: bool = True,
                 ffn_bias: bool = True, interpolate_offset: float = 0.1,
                 interpolate_antialias: bool = False) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.interpolate_offset = interpolate_offset
        self.interpolate_antialias = interpolate_antialias
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        # only used for masked-image training; kept so the checkpoint loads strictly
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, proj_bias, ffn_bias, layer_scale_init)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=DINOV2_LN_EPS)

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """(1, 1 + h * w, D) position embedding for an h x w patch grid (bicubic resize if needed)."""
        n_trained = self.pos_embed.shape[1] - 1
        if h * w == n_trained and h == w:
            return self.pos_embed
        side = int(math.sqrt(n_trained))
        patch_pos = self.pos_embed[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
        # DINOv2 resizes by a scale factor computed with a small offset, which rounds to (h, w)
        scale = ((h + self.interpolate_offset) / side, (w + self.interpolate_offset) / side)
        patch_pos = F.interpolate(patch_pos, scale_factor=scale, mode="bicubic",
                                  antialias=self.interpolate_antialias)
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, h * w, -1)
        return torch.cat((self.pos_embed[:, :1], patch_pos.to(self.pos_embed.dtype)), dim=1)

    def tokens(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, T, D) class + patch tokens with position embedding added."""
        b, _, height, width = image.shape
        h, w = height // self.patch_size, width // self.patch_size
        patches = self.patch_embed(image)
        tokens = torch.cat((self.cls_token.expand(b, -1, -1), patches), dim=1)
        return tokens + self.position_embedding(h, w)

    def get_intermediate_layers(self, image: torch.Tensor, layer_indices: Sequence[int],
                                norm: bool = True) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Outputs of the given blocks.

        Args:
            image: (B, 3, H, W) normalised image, H and W multiples of ``patch_size``.
            layer_indices: 0-based block indices to return, ascending.
            norm: apply the final LayerNorm to each returned output (as Depth-Anything does).

        Returns:
            One ``(patch_tokens (B, h * w, D), class_token (B, D))`` pair per index.
        """
        wanted = set(layer_indices)
        if max(wanted) >= len(self.blocks):
            raise ValueError(f"layer index {max(wanted)} out of range for {len(self.blocks)} blocks")
        tokens = self.tokens(image)
        out = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in wanted:
                normed = self.norm(tokens) if norm else tokens
                out.append((normed[:, 1:], normed[:, 0]))
            if index == max(wanted):
                break  # later blocks do not contribute to the requested outputs
        return out

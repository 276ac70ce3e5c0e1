"""Multi-scale deformable attention (Deformable DETR), pure-PyTorch sampling path.

Shape legend: ``B`` batch, ``Q`` queries, ``S`` flattened value tokens over all levels,
``L`` levels with sizes ``(H_l, W_l)``, ``M`` heads, ``Dh`` channels per head, ``P`` sampling
points per head and level.

Each query predicts, per head, ``L * P`` sampling offsets and attention weights (softmax over
the ``L * P`` samples). Values are sampled bilinearly with ``grid_sample(align_corners=False,
padding_mode='zeros')`` - the reference path of the CUDA kernel, which AiOS's CPU path uses -
and summed with the weights. Locations are in [0, 1] image-normalised (x, y):

* 2D reference points (encoder): ``ref + offset / (W_l, H_l)``;
* 4D reference boxes (decoder): ``ref_xy + offset / P * ref_wh * 0.5``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def deformable_sampling(value: torch.Tensor, spatial_shapes: list[tuple[int, int]], locations: torch.Tensor,
                        weights: torch.Tensor) -> torch.Tensor:
    """Weighted bilinear sampling of multi-level value maps.

    Args:
        value: (B, S, M, Dh) value tokens, levels concatenated in ``spatial_shapes`` order.
        spatial_shapes: L pairs (H_l, W_l), summing to S tokens.
        locations: (B, Q, M, L, P, 2) sampling points, normalised (x, y) in [0, 1].
        weights: (B, Q, M, L, P) attention weights.

    Returns:
        (B, Q, M * Dh).
    """
    b, _, m, dh = value.shape
    _, q, _, n_levels, n_points, _ = locations.shape
    grids = (2.0 * locations - 1.0).transpose(1, 2).reshape(b * m, q, n_levels, n_points, 2)
    weights = weights.transpose(1, 2).reshape(b * m, 1, q, n_levels, n_points)
    per_level = value.split([h * w for h, w in spatial_shapes], dim=1)
    out = None
    for level, (h, w) in enumerate(spatial_shapes):
        value_l = per_level[level].permute(0, 2, 3, 1).reshape(b * m, dh, h, w)
        # (B*M, Dh, Q, P) samples, weighted and summed over the points of this level
        sampled = F.grid_sample(value_l, grids[:, :, level], mode="bilinear", padding_mode="zeros",
                                align_corners=False)
        contribution = (sampled * weights[..., level, :]).sum(-1)
        out = contribution if out is None else out + contribution
    return out.view(b, m * dh, q).transpose(1, 2)


class MSDeformAttn(nn.Module):
    """Deformable attention module with the original parameter names.

    Args:
        d_model: channels (256). n_levels: feature levels (4). n_heads: heads (8).
        n_points: sampling points per head and level (4).
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)

    def forward(self, query: torch.Tensor, reference: torch.Tensor, value_tokens: torch.Tensor,
                spatial_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """Attend from queries to the flattened multi-level map.

        Args:
            query: (B, Q, d_model) queries (content + position).
            reference: (B, Q, L, 2) points or (B, Q, L, 4) boxes ``cx, cy, w, h``, normalised.
            value_tokens: (B, S, d_model) flattened feature maps (no padding).
            spatial_shapes: L pairs (H_l, W_l).

        Returns:
            (B, Q, d_model).
        """
        b, q, _ = query.shape
        m, n_levels, n_points = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(value_tokens).view(b, value_tokens.shape[1], m, self.d_model // m)
        offsets = self.sampling_offsets(query).view(b, q, m, n_levels, n_points, 2)
        weights = self.attention_weights(query).view(b, q, m, n_levels * n_points).softmax(-1)
        weights = weights.view(b, q, m, n_levels, n_points)
        if reference.shape[-1] == 2:
            normaliser = torch.tensor([[w, h] for h, w in spatial_shapes], dtype=query.dtype, device=query.device)
            locations = reference[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None, :]
        elif reference.shape[-1] == 4:
            locations = (reference[:, :, None, :, None, :2]
                         + offsets / n_points * reference[:, :, None, :, None, 2:] * 0.5)
        else:
            raise ValueError(f"reference must end in 2 or 4 coordinates, got {reference.shape[-1]}")
        return self.output_proj(deformable_sampling(value, spatial_shapes, locations, weights))

"""Sine position encodings of AiOS (DINO-style): feature-map positions and box queries.

Shape legend: ``B`` batch, ``h, w`` feature-map size, ``Q`` queries, ``P`` features per
coordinate (``num_pos_feats``; 128, so a 2D map gets 2P = 256 channels).

Both encodings interleave sin and cos: feature ``2i`` is ``sin(v / T^(2i/P))`` and ``2i+1`` is
``cos(v / T^(2i/P))``. Maps are encoded (y, x), boxes (y, x, w, h).
"""

from __future__ import annotations

import math

import torch


def _frequencies(num_pos_feats: int, temperature: float, device: torch.device) -> torch.Tensor:
    """(P,) divisors ``T^(2 * floor(i / 2) / P)``."""
    index = torch.arange(num_pos_feats, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(index, 2, rounding_mode="floor") / num_pos_feats)


def _interleave_sin_cos(values: torch.Tensor) -> torch.Tensor:
    """(..., P) angles -> (..., P) with sin on even and cos on odd features."""
    return torch.stack((values[..., 0::2].sin(), values[..., 1::2].cos()), dim=-1).flatten(-2)


def sine_position_map(batch: int, h: int, w: int, num_pos_feats: int = 128, temperature_h: float = 20.0,
                      temperature_w: float = 20.0, device: torch.device | None = None) -> torch.Tensor:
    """Normalised sine encoding of an unpadded h x w map.

    Positions are the 1-based row/column index divided by the last one (+1e-6) and scaled to
    2*pi, as AiOS's ``PositionEmbeddingSineHW(normalize=True)`` computes them when no pixel is
    padding.

    Returns:
        (B, 2P, h, w) float32: y features first, then x features.
    """
    eps = 1e-6
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device)
    y = y / (y[-1] + eps) * (2 * math.pi)
    x = x / (x[-1] + eps) * (2 * math.pi)
    pos_y = _interleave_sin_cos(y[:, None] / _frequencies(num_pos_feats, temperature_h, device))  # (h, P)
    pos_x = _interleave_sin_cos(x[:, None] / _frequencies(num_pos_feats, temperature_w, device))  # (w, P)
    pos = torch.cat((pos_y[:, None, :].expand(h, w, -1), pos_x[None, :, :].expand(h, w, -1)), dim=-1)
    return pos.permute(2, 0, 1).unsqueeze(0).expand(batch, -1, -1, -1)


def sine_box_embedding(boxes: torch.Tensor, num_pos_feats: int = 128, temperature: float = 10000.0) -> torch.Tensor:
    """Sine encoding of normalised boxes (DINO's ``gen_sineembed_for_position``).

    Args:
        boxes: (..., 4) ``cx, cy, w, h`` in [0, 1] (or (..., 2) points).

    Returns:
        (..., 4P) ordered (y, x, w, h) (or (..., 2P) ordered (y, x)).
    """
    freq = _frequencies(num_pos_feats, temperature, boxes.device)
    scaled = boxes * (2 * math.pi)
    parts = [_interleave_sin_cos(scaled[..., i, None] / freq) for i in range(boxes.shape[-1])]
    if boxes.shape[-1] == 2:
        return torch.cat((parts[1], parts[0]), dim=-1)
    if boxes.shape[-1] == 4:
        return torch.cat((parts[1], parts[0], parts[2], parts[3]), dim=-1)
    raise ValueError(f"boxes must end in 2 or 4 coordinates, got {boxes.shape[-1]}")

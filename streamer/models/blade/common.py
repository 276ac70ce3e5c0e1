"""Small building blocks shared by the AiOS modules: the head MLP and the clamped logit.

Shape legend: ``...`` any leading dimensions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: clamp of AiOS's inverse sigmoid: values are kept in [eps, 1 - eps] before the logit
INVERSE_SIGMOID_EPS = 1e-3


def inverse_sigmoid(x: torch.Tensor, eps: float = INVERSE_SIGMOID_EPS) -> torch.Tensor:
    """Logit of ``x`` clamped to [0, 1]; numerator and denominator are floored at ``eps``."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (none after the last).

    Parameter names are ``layers.{i}.weight/bias`` as in AiOS/DETR.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., input_dim) -> (..., output_dim)."""
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = F.relu(x)
        return x

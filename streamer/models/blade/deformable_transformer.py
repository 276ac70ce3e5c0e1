"""AiOS's deformable transformer: encoder, two-stage query selection, group decoder.

Shape legend: ``B`` batch, ``L`` levels with sizes ``(H_l, W_l)``, ``S = sum H_l W_l`` memory
tokens, ``D`` width, ``C`` classes, ``Q`` selected queries (``num_queries``).

Inputs are unpadded feature maps (BLADE always feeds whole 400 x 400 images), so every
valid-ratio is 1 and no key-padding mask is needed.

Two-stage selection ("standard"): every memory token gets an anchor box centred on its cell,
``w = h = 0.05 * 2^level``. Anchors with any coordinate outside (0.01, 0.99) are invalid:
their logit is +inf and their memory is zeroed. The memory goes through ``enc_output`` +
LayerNorm, a class head scores every token (max over classes) and a box head refines the
anchor logits; the top ``Q`` tokens become the decoder's content queries (the normalised memory)
and reference boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamer.models.blade.common import MLP
from streamer.models.blade.deformable_attention import MSDeformAttn
from streamer.models.blade.group_decoder import DecoderOutput, GroupDecoder
from streamer.models.blade.group_layout import GroupLayout

#: anchor size at level 0 (doubles per level), and the validity band of anchor coordinates
ANCHOR_SIZE_LEVEL0 = 0.05
ANCHOR_VALID_MIN, ANCHOR_VALID_MAX = 0.01, 0.99


class EncoderLayer(nn.Module):
    """Deformable self-attention + FFN, post-norm."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, n_levels: int, n_points: int) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, nhead, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference: torch.Tensor,
                spatial_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """src, pos (B, S, D); reference (B, S, L, 2) -> (B, S, D)."""
        src = self.norm1(src + self.self_attn(src + pos, reference, src, spatial_shapes))
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


class Encoder(nn.Module):
    """Stack of :class:`EncoderLayer` (no final norm)."""

    def __init__(self, num_layers: int, d_model: int, nhead: int, dim_feedforward: int, n_levels: int,
                 n_points: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_model, nhead, dim_feedforward, n_levels, n_points)
                                    for _ in range(num_layers))

    def forward(self, src: torch.Tensor, pos: torch.Tensor, spatial_shapes: list[tuple[int, int]]) -> torch.Tensor:
        reference = cell_centres(spatial_shapes, src.device)
        reference = reference[None, :, None, :].expand(src.shape[0], -1, len(spatial_shapes), -1)
        for layer in self.layers:
            src = layer(src, pos, reference, spatial_shapes)
        return src


def cell_centres(spatial_shapes: list[tuple[int, int]], device: torch.device) -> torch.Tensor:
    """(S, 2) normalised (x, y) centres of every cell of every level, level-major, row-major."""
    points = []
    for h, w in spatial_shapes:
        ys = torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device) / h
        xs = torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device) / w
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), dim=-1))
    return torch.cat(points, dim=0)


def anchor_proposals(spatial_shapes: list[tuple[int, int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor box logits and validity of every memory token.

    Returns:
        logits (S, 4) ``logit(cx, cy, w, h)`` with +inf for invalid anchors; valid (S,) bool.
    """
    boxes = []
    for level, (h, w) in enumerate(spatial_shapes):
        ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
        xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        size = torch.full((h * w, 2), ANCHOR_SIZE_LEVEL0 * 2.0**level, dtype=torch.float32, device=device)
        boxes.append(torch.cat((grid_x.reshape(-1, 1), grid_y.reshape(-1, 1), size), dim=-1))
    boxes = torch.cat(boxes, dim=0)
    valid = ((boxes > ANCHOR_VALID_MIN) & (boxes < ANCHOR_VALID_MAX)).all(-1)
    logits = torch.log(boxes / (1 - boxes)).masked_fill(~valid[:, None], float("inf"))
    return logits, valid


@dataclass(frozen=True)
class TransformerOutput:
    """Everything the pose heads and the equivalence tests read."""

    src_flat: torch.Tensor  # (B, S, D) projected features, levels concatenated
    pos_flat: torch.Tensor  # (B, S, D) position encodings (before the level embedding)
    memory: torch.Tensor  # (B, S, D) encoder output
    proposal_index: torch.Tensor  # (B, Q) memory tokens chosen as queries
    proposal_scores: torch.Tensor  # (B, Q) their max class logits
    decoder: DecoderOutput
    spatial_shapes: list[tuple[int, int]]


class DeformableTransformer(nn.Module):
    """Encoder + two-stage selection + :class:`GroupDecoder` (names as in the checkpoint).

    Args:
        d_model, nhead, dim_feedforward: layer sizes (256, 8, 2048).
        num_encoder_layers, num_decoder_layers: 6 and 6.
        num_feature_levels, enc_n_points, dec_n_points: 4, 4, 4.
        num_queries: Q kept by the two-stage selection (900).
        num_classes: C (2).
        num_groups, num_box_layers, num_hand_face_layers, layout: see :class:`GroupDecoder`.
    """

    def __init__(self, d_model: int = 256, nhead: int = 8, dim_feedforward: int = 2048, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, num_feature_levels: int = 4, enc_n_points: int = 4,
                 dec_n_points: int = 4, num_queries: int = 900, num_classes: int = 2, num_groups: int = 100,
                 num_box_layers: int = 2, num_hand_face_layers: int = 4, layout: GroupLayout | None = None) -> None:
        super().__init__()
        self.d_model, self.num_queries = d_model, num_queries
        self.level_embed = nn.Parameter(torch.zeros(num_feature_levels, d_model))
        self.encoder = Encoder(num_encoder_layers, d_model, nhead, dim_feedforward, num_feature_levels, enc_n_points)
        self.decoder = GroupDecoder(d_model, nhead, dim_feedforward, num_feature_levels, dec_n_points,
                                    num_decoder_layers, num_box_layers, num_hand_face_layers, num_groups,
                                    num_classes, layout)
        self.enc_output = nn.Linear(d_model, d_model)
        self.enc_output_norm = nn.LayerNorm(d_model)
        self.enc_out_class_embed = nn.Linear(d_model, num_classes)
        self.enc_out_bbox_embed = MLP(d_model, d_model, 4, 3)

    def forward(self, srcs: list[torch.Tensor], poss: list[torch.Tensor]) -> TransformerOutput:
        """srcs, poss: L maps (B, D, H_l, W_l) each -> :class:`TransformerOutput`."""
        spatial_shapes = [(int(s.shape[2]), int(s.shape[3])) for s in srcs]
        src_flat = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], dim=1)
        pos_flat = torch.cat([p.flatten(2).transpose(1, 2) for p in poss], dim=1)
        level_pos = torch.cat([p.flatten(2).transpose(1, 2) + self.level_embed[lvl][None, None]
                               for lvl, p in enumerate(poss)], dim=1)
        memory = self.encoder(src_flat, level_pos, spatial_shapes)

        anchor_logits, valid = anchor_proposals(spatial_shapes, memory.device)
        selectable = memory.masked_fill(~valid[None, :, None], 0.0)
        selectable = self.enc_output_norm(self.enc_output(selectable))
        scores = self.enc_out_class_embed(selectable).max(-1).values
        box_logits = self.enc_out_bbox_embed(selectable) + anchor_logits[None]
        top = torch.topk(scores, self.num_queries, dim=1)
        index = top.indices
        reference_logit = torch.gather(box_logits, 1, index[..., None].expand(-1, -1, 4))
        tgt = torch.gather(selectable, 1, index[..., None].expand(-1, -1, self.d_model))
        decoded = self.decoder(tgt, memory, reference_logit, spatial_shapes)
        return TransformerOutput(src_flat, pos_flat, memory, index, top.values, decoded, spatial_shapes)

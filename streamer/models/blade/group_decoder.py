"""AiOS's deformable decoder with person-group expansion (box -> body -> whole body).

Shape legend: ``B`` batch, ``Q`` person queries from the two-stage selection, ``G`` groups kept
after the box layers, ``N`` tokens in the current layout (``Q``, ``G * (K + 4)`` or
``G * (K + 2 Hk + Fk + 4)``, see :mod:`group_layout`), ``S`` memory tokens, ``L`` levels,
``D`` model width, ``C`` classes. All tensors are batch-first.

Layers ``[0, nb)`` refine person boxes. At the end of layer ``nb - 1`` the ``G`` highest-scoring
queries (max class logit) are kept and each is expanded into the body layout: keypoint and part
box tokens are the query's content plus a learned embedding, and their reference boxes are the
person box centre moved by a predicted offset with a learned fraction of its size. Layers
``[nb, nhf)`` refine every box/keypoint reference; at the end of layer ``nhf - 1`` each hand and
face box is expanded into its keypoints the same way. Layers ``[nhf, n)`` refine the whole
layout. Self-attention uses the group masks from layer ``nb`` on.

Reference updates add the head outputs to the logit of the current reference and apply a
sigmoid; keypoint tokens take their xy offset and wh offset from separate heads. The wh
("hw") heads of body, hand and face keypoints are shared by all layers and stored once
(``pose_hw_embed.0`` ...), as in the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamer.models.blade.common import MLP, inverse_sigmoid
from streamer.models.blade.deformable_attention import MSDeformAttn
from streamer.models.blade.group_layout import GroupLayout, group_attention_mask
from streamer.models.blade.position_encoding import sine_box_embedding


class DecoderLayer(nn.Module):
    """Self-attention (masked) -> deformable cross-attention -> FFN, each post-norm."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, n_levels: int, n_points: int) -> None:
        super().__init__()
        self.cross_attn = MSDeformAttn(d_model, n_levels, nhead, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=0.0, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(self, tgt: torch.Tensor, query_pos: torch.Tensor, reference: torch.Tensor, memory: torch.Tensor,
                spatial_shapes: list[tuple[int, int]], attn_mask: torch.Tensor | None) -> torch.Tensor:
        """tgt, query_pos (B, N, D); reference (B, N, L, 4); memory (B, S, D); mask (N, N) -> (B, N, D)."""
        q = tgt + query_pos
        attended = self.self_attn(q, q, tgt, attn_mask=attn_mask, need_weights=False)[0]
        tgt = self.norm2(tgt + attended)
        tgt = self.norm1(tgt + self.cross_attn(tgt + query_pos, reference, memory, spatial_shapes))
        return self.norm3(tgt + self.linear2(F.relu(self.linear1(tgt))))


def _refine(tokens: torch.Tensor, ref_logit: torch.Tensor, xy_head: nn.Module, wh_head: nn.Module) -> torch.Tensor:
    """New (..., 4) sigmoid box: xy from ``xy_head`` (first two outputs), wh from ``wh_head``."""
    xy = ref_logit[..., :2] + xy_head(tokens)[..., :2]
    wh = ref_logit[..., 2:] + wh_head(tokens)
    return torch.cat((xy, wh), dim=-1).sigmoid()


def _spawn(parent_ref: torch.Tensor, delta_xy: torch.Tensor, wh_logit: torch.Tensor) -> torch.Tensor:
    """Child boxes around a parent box.

    Args:
        parent_ref: (B, G, 4) sigmoid parent boxes.
        delta_xy: (B, G, n, 2) predicted centre offsets (logit space).
        wh_logit: (n, 2) learned size logits (fraction of the parent's size after a sigmoid).

    Returns:
        (B, G, n, 4) sigmoid child boxes.
    """
    xy = (inverse_sigmoid(parent_ref[:, :, None, :2]) + delta_xy).sigmoid()
    wh = wh_logit.sigmoid()[None, None] * parent_ref[:, :, None, 2:]
    return torch.cat((xy, wh), dim=-1)


@dataclass(frozen=True)
class DecoderOutput:
    """Per-layer normed outputs and references.

    ``hidden[i]`` is the LayerNorm of layer i's output (B, N_i, D); ``references[i]`` is the
    (B, N_i, 4) sigmoid reference that layer i consumed (the last entry is the final update).
    ``group_index`` (B, G) are the query indices kept after the box layers, ``group_scores``
    their max class logits.
    """

    hidden: list[torch.Tensor]
    references: list[torch.Tensor]
    group_index: torch.Tensor
    group_scores: torch.Tensor


class GroupDecoder(nn.Module):
    """Decoder layers, the group-expansion embeddings and the per-layer box/keypoint heads.

    Args:
        d_model, nhead, dim_feedforward, n_levels, n_points: layer sizes (256, 8, 2048, 4, 4).
        num_layers: decoder layers n (6).
        num_box_layers: nb, box-only layers before the body expansion (2).
        num_hand_face_layers: nhf, layers before the hand/face expansion (4).
        num_groups: G, person queries kept after the box layers (100).
        num_classes: C (2).
        layout: token layout (17 body, 6 hand, 6 face keypoints).
    """

    def __init__(self, d_model: int = 256, nhead: int = 8, dim_feedforward: int = 2048, n_levels: int = 4,
                 n_points: int = 4, num_layers: int = 6, num_box_layers: int = 2, num_hand_face_layers: int = 4,
                 num_groups: int = 100, num_classes: int = 2, layout: GroupLayout | None = None) -> None:
        super().__init__()
        if not 0 < num_box_layers < num_hand_face_layers < num_layers:
            raise ValueError("need 0 < num_box_layers < num_hand_face_layers < num_layers, got "
                             f"{num_box_layers}, {num_hand_face_layers}, {num_layers}")
        self.layout = layout = layout or GroupLayout()
        self.num_box_layers, self.num_hand_face_layers = num_box_layers, num_hand_face_layers
        self.num_groups = num_groups
        # AiOS hard-codes 128 sine features per box coordinate, i.e. d_model // 2 for its d_model 256
        self.num_pos_feats = d_model // 2
        k, hk, fk = layout.num_body_points, layout.num_hand_points, layout.num_face_points
        after_box = num_layers - num_box_layers
        after_hand = num_layers - num_hand_face_layers

        self.layers = nn.ModuleList(DecoderLayer(d_model, nhead, dim_feedforward, n_levels, n_points)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.ref_point_head = MLP(2 * d_model, d_model, d_model, 2)

        # expansion embeddings: content offsets and size fractions of the spawned tokens
        self.keypoint_embed = nn.Embedding(k, d_model)
        self.hw = nn.Embedding(k, 2)
        self.lhand_box_embed = nn.Embedding(1, d_model)
        self.rhand_box_embed = nn.Embedding(1, d_model)
        self.face_box_embed = nn.Embedding(1, d_model)
        self.hw_lhand_bbox = nn.Embedding(1, 2)
        self.hw_rhand_bbox = nn.Embedding(1, 2)
        self.hw_face_bbox = nn.Embedding(1, 2)
        self.lhand_keypoint_embed = nn.Embedding(hk, d_model)
        self.rhand_keypoint_embed = nn.Embedding(hk, d_model)
        self.face_keypoint_embed = nn.Embedding(fk, d_model)
        self.hw_lhand_kps = nn.Embedding(hk, 2)
        self.hw_rhand_kps = nn.Embedding(hk, 2)
        self.hw_face_kps = nn.Embedding(fk, 2)

        # per-layer heads; index i = layer - nb for body/part heads, j = layer - nhf for hand/face kpts;
        # the last entry of pose/bbox_hand/bbox_face/pose_hand/pose_face serves the expansions
        def mlps(n: int, out: int) -> nn.ModuleList:
            return nn.ModuleList(MLP(d_model, d_model, out, 3) for _ in range(n))

        self.bbox_embed = mlps(num_layers, 4)
        self.class_embed = nn.ModuleList(nn.Linear(d_model, num_classes) for _ in range(num_layers))
        self.pose_embed = mlps(after_box + 1, 2)
        self.pose_hw_embed = mlps(1, 2)
        self.bbox_hand_embed = mlps(after_box + 1, 2)
        self.bbox_hand_hw_embed = mlps(after_box, 2)
        self.bbox_face_embed = mlps(after_box + 1, 2)
        self.bbox_face_hw_embed = mlps(after_box, 2)
        self.pose_hand_embed = mlps(after_hand + 1, 2)
        self.pose_hand_hw_embed = mlps(1, 2)
        self.pose_face_embed = mlps(after_hand + 1, 2)
        self.pose_face_hw_embed = mlps(1, 2)

    # ---- reference updates ------------------------------------------------------------------
    def refine_body_layout(self, layer: int, tokens: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Updated references in the body layout: (B, G*(K+4), D), (B, G*(K+4), 4) -> (B, G*(K+4), 4)."""
        lay, i = self.layout, layer - self.num_box_layers
        b = tokens.shape[0]
        x = tokens.view(b, -1, lay.body_size, tokens.shape[-1])
        r = inverse_sigmoid(reference).view(b, -1, lay.body_size, 4)
        k = lay.num_body_points
        box = (self.bbox_embed[layer](x[:, :, :1]) + r[:, :, :1]).sigmoid()
        kpts = _refine(x[:, :, 1:k + 1], r[:, :, 1:k + 1], self.pose_embed[i], self.pose_hw_embed[0])
        lhand = _refine(x[:, :, k + 1:k + 2], r[:, :, k + 1:k + 2], self.bbox_hand_embed[i], self.bbox_hand_hw_embed[i])
        rhand = _refine(x[:, :, k + 2:k + 3], r[:, :, k + 2:k + 3], self.bbox_hand_embed[i], self.bbox_hand_hw_embed[i])
        face = _refine(x[:, :, k + 3:k + 4], r[:, :, k + 3:k + 4], self.bbox_face_embed[i], self.bbox_face_hw_embed[i])
        return torch.cat((box, kpts, lhand, rhand, face), dim=2).flatten(1, 2)

    def refine_whole_layout(self, layer: int, tokens: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Updated references in the whole-body layout: (B, N, D), (B, N, 4) -> (B, N, 4)."""
        lay, i, j = self.layout, layer - self.num_box_layers, layer - self.num_hand_face_layers
        b = tokens.shape[0]
        x = tokens.view(b, -1, lay.whole_size, tokens.shape[-1])
        r = inverse_sigmoid(reference).view(b, -1, lay.whole_size, 4)

        def part(offset: int) -> slice:
            return slice(offset, offset + 1)

        box = (self.bbox_embed[layer](x[:, :, :1]) + r[:, :, :1]).sigmoid()
        pieces = [box]
        pieces.append(_refine(x[:, :, lay.body_kpts()], r[:, :, lay.body_kpts()], self.pose_embed[i],
                              self.pose_hw_embed[0]))
        for box_offset, kpts, box_xy, box_wh, kpt_xy, kpt_wh in (
            (lay.lhand_box, lay.lhand_kpts(), self.bbox_hand_embed[i], self.bbox_hand_hw_embed[i],
             self.pose_hand_embed[j], self.pose_hand_hw_embed[0]),
            (lay.rhand_box, lay.rhand_kpts(), self.bbox_hand_embed[i], self.bbox_hand_hw_embed[i],
             self.pose_hand_embed[j], self.pose_hand_hw_embed[0]),
            (lay.face_box, lay.face_kpts(), self.bbox_face_embed[i], self.bbox_face_hw_embed[i],
             self.pose_face_embed[j], self.pose_face_hw_embed[0]),
        ):
            pieces.append(_refine(x[:, :, part(box_offset)], r[:, :, part(box_offset)], box_xy, box_wh))
            pieces.append(_refine(x[:, :, kpts], r[:, :, kpts], kpt_xy, kpt_wh))
        return torch.cat(pieces, dim=2).flatten(1, 2)

    # ---- expansions ---------------------------------------------------------------------------
    def expand_to_body(self, layer: int, tokens: torch.Tensor, reference: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep the G best queries and spawn keypoint and part-box tokens.

        Args:
            tokens: (B, Q, D) layer output (before the decoder norm).
            reference: (B, Q, 4) updated sigmoid boxes.

        Returns:
            tokens (B, G*(K+4), D), references (B, G*(K+4), 4), kept indices (B, G), their scores.
        """
        scores = self.class_embed[layer](tokens).max(-1).values
        top = torch.topk(scores, self.num_groups, dim=1)
        idx = top.indices
        box_ref = torch.gather(reference, 1, idx[..., None].expand(-1, -1, 4))
        box_tok = torch.gather(tokens, 1, idx[..., None].expand(-1, -1, tokens.shape[-1]))
        kpt_tok = box_tok[:, :, None] + self.keypoint_embed.weight[None, None]
        kpt_ref = _spawn(box_ref, self.pose_embed[-1](kpt_tok)[..., :2], self.hw.weight)
        parts_tok, parts_ref = [], []
        for embed, head, wh in ((self.lhand_box_embed, self.bbox_hand_embed[-1], self.hw_lhand_bbox),
                                (self.rhand_box_embed, self.bbox_hand_embed[-1], self.hw_rhand_bbox),
                                (self.face_box_embed, self.bbox_face_embed[-1], self.hw_face_bbox)):
            tok = box_tok[:, :, None] + embed.weight[None, None]
            parts_tok.append(tok)
            parts_ref.append(_spawn(box_ref, head(tok)[..., :2], wh.weight))
        tokens = torch.cat((box_tok[:, :, None], kpt_tok, *parts_tok), dim=2).flatten(1, 2)
        reference = torch.cat((box_ref[:, :, None], kpt_ref, *parts_ref), dim=2).flatten(1, 2)
        return tokens, reference, idx, top.values

    def expand_to_whole(self, tokens: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Spawn hand and face keypoint tokens: body layout (B, G*(K+4), .) -> whole layout (B, N, .)."""
        lay = self.layout
        b, k = tokens.shape[0], lay.num_body_points
        x = tokens.view(b, -1, lay.body_size, tokens.shape[-1])
        r = reference.view(b, -1, lay.body_size, 4)
        out_tok, out_ref = [x[:, :, :k + 1]], [r[:, :, :k + 1]]
        for offset, embed, head, wh in ((k + 1, self.lhand_keypoint_embed, self.pose_hand_embed[-1], self.hw_lhand_kps),
                                        (k + 2, self.rhand_keypoint_embed, self.pose_hand_embed[-1], self.hw_rhand_kps),
                                        (k + 3, self.face_keypoint_embed, self.pose_face_embed[-1], self.hw_face_kps)):
            part_tok, part_ref = x[:, :, offset], r[:, :, offset]
            kpt_tok = part_tok[:, :, None] + embed.weight[None, None]
            out_tok += [part_tok[:, :, None], kpt_tok]
            out_ref += [part_ref[:, :, None], _spawn(part_ref, head(kpt_tok)[..., :2], wh.weight)]
        return torch.cat(out_tok, dim=2).flatten(1, 2), torch.cat(out_ref, dim=2).flatten(1, 2)

    # ---- forward ------------------------------------------------------------------------------
    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, reference_logit: torch.Tensor,
                spatial_shapes: list[tuple[int, int]]) -> DecoderOutput:
        """Run all layers.

        Args:
            tgt: (B, Q, D) initial content queries.
            memory: (B, S, D) encoder output.
            reference_logit: (B, Q, 4) initial boxes before the sigmoid (may hold +inf).
            spatial_shapes: L pairs (H_l, W_l) of the memory levels.
        """
        lay, n_levels = self.layout, len(spatial_shapes)
        output, reference = tgt, reference_logit.sigmoid()
        hidden, references = [], [reference]
        attn_mask = None
        group_index = group_scores = None
        for layer_id, layer in enumerate(self.layers):
            query_pos = self.ref_point_head(sine_box_embedding(reference, self.num_pos_feats))
            ref_levels = reference[:, :, None, :].expand(-1, -1, n_levels, -1)
            output = layer(output, query_pos, ref_levels, memory, spatial_shapes, attn_mask)
            hidden.append(self.norm(output))
            if layer_id < self.num_box_layers:
                new_reference = (self.bbox_embed[layer_id](output) + inverse_sigmoid(reference)).sigmoid()
                if layer_id == self.num_box_layers - 1:
                    output, new_reference, group_index, group_scores = self.expand_to_body(
                        layer_id, output, new_reference)
                    attn_mask = group_attention_mask(self.num_groups, lay.body_size, lay.body_box_offsets,
                                                     device=output.device)
            elif layer_id < self.num_hand_face_layers:
                new_reference = self.refine_body_layout(layer_id, output, reference)
                if layer_id == self.num_hand_face_layers - 1:
                    output, new_reference = self.expand_to_whole(output, new_reference)
                    attn_mask = group_attention_mask(self.num_groups, lay.whole_size, lay.whole_box_offsets,
                                                     device=output.device)
            else:
                new_reference = self.refine_whole_layout(layer_id, output, reference)
            reference = new_reference.detach()
            references.append(new_reference)
        return DecoderOutput(hidden, references, group_index, group_scores)

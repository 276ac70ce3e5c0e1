"""Token layout of AiOS's person groups and the self-attention masks between them.

Shape legend: ``G`` groups (selected person queries), ``K`` body keypoints (17, COCO order),
``Hk`` keypoints per hand (6), ``Fk`` face keypoints (6).

After the box layers every selected person query is expanded into a group of tokens, once
into the *body* layout and, after the body layers, into the *whole-body* layout:

* body (``K + 4`` tokens): ``[body box, K body kpts, lhand box, rhand box, face box]``
* whole (``K + 2 Hk + Fk + 4``): ``[body box, K body kpts, lhand box, Hk lhand kpts,
  rhand box, Hk rhand kpts, face box, Fk face kpts]``

Tokens are flattened group-major (``g * group_size + offset``). In self-attention every token
sees its own group; the four box tokens of a group additionally see the box tokens of every
other group (AiOS's ``group2group`` masks ``attn_mask2`` / ``attn_mask3``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GroupLayout:
    """Offsets of each part inside a group, for both layouts."""

    num_body_points: int = 17
    num_hand_points: int = 6
    num_face_points: int = 6

    # ---- body layout --------------------------------------------------------------------------
    @property
    def body_size(self) -> int:
        return self.num_body_points + 4

    @property
    def body_box_offsets(self) -> tuple[int, int, int, int]:
        """Offsets of (body, lhand, rhand, face) boxes in the body layout."""
        k = self.num_body_points
        return (0, k + 1, k + 2, k + 3)

    # ---- whole-body layout --------------------------------------------------------------------
    @property
    def whole_size(self) -> int:
        return self.num_body_points + 2 * self.num_hand_points + self.num_face_points + 4

    @property
    def lhand_box(self) -> int:
        return self.num_body_points + 1

    @property
    def rhand_box(self) -> int:
        return self.num_body_points + self.num_hand_points + 2

    @property
    def face_box(self) -> int:
        return self.num_body_points + 2 * self.num_hand_points + 3

    @property
    def whole_box_offsets(self) -> tuple[int, int, int, int]:
        """Offsets of (body, lhand, rhand, face) boxes in the whole-body layout."""
        return (0, self.lhand_box, self.rhand_box, self.face_box)

    def body_kpts(self) -> slice:
        return slice(1, self.num_body_points + 1)

    def lhand_kpts(self) -> slice:
        return slice(self.lhand_box + 1, self.lhand_box + 1 + self.num_hand_points)

    def rhand_kpts(self) -> slice:
        return slice(self.rhand_box + 1, self.rhand_box + 1 + self.num_hand_points)

    def face_kpts(self) -> slice:
        return slice(self.face_box + 1, self.face_box + 1 + self.num_face_points)

    # ---- tokens feeding the SMPL-X heads in the whole-body layout (ascending offsets) ---------
    def smpl_body_offsets(self) -> list[int]:
        """Body box, body kpts, and the three part boxes: K + 4 tokens."""
        return list(range(0, self.lhand_box + 1)) + [self.rhand_box, self.face_box]

    def smpl_lhand_offsets(self) -> list[int]:
        """Body box, lhand box, lhand kpts and the rhand box: Hk + 3 tokens."""
        return [0, *range(self.lhand_box, self.rhand_box + 1)]

    def smpl_rhand_offsets(self) -> list[int]:
        """Body box, lhand box, rhand box and rhand kpts: Hk + 3 tokens."""
        return [0, self.lhand_box, *range(self.rhand_box, self.face_box)]

    def smpl_face_offsets(self) -> list[int]:
        """Body box, face box and face kpts: Fk + 2 tokens."""
        return [0, *range(self.face_box, self.whole_size)]


def group_attention_mask(num_groups: int, group_size: int, box_offsets: tuple[int, ...],
                         device: torch.device | None = None) -> torch.Tensor:
    """Self-attention mask for grouped queries.

    Returns:
        (G * size, G * size) bool, True where attention is **blocked** (PyTorch's convention
        for boolean ``attn_mask``).
    """
    n = num_groups * group_size
    group_of = torch.arange(n, device=device) // group_size
    blocked = group_of[:, None] != group_of[None, :]
    is_box = torch.zeros(group_size, dtype=torch.bool, device=device)
    is_box[list(box_offsets)] = True
    is_box = is_box.repeat(num_groups)
    return blocked & ~(is_box[:, None] & is_box[None, :])


def tile_offsets(offsets: list[int], num_groups: int, group_size: int,
                 device: torch.device | None = None) -> torch.Tensor:
    """Flattened token indices of ``offsets`` in every group: (G * len(offsets),) int64."""
    base = torch.arange(num_groups, device=device)[:, None] * group_size
    return (base + torch.tensor(offsets, device=device)[None, :]).reshape(-1)

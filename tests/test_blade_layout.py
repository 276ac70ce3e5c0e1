"""AiOS person-group token layout, self-attention masks and the SMPL-X head token sets."""

from __future__ import annotations

import pytest
import torch

from streamer.models.blade.group_layout import GroupLayout, group_attention_mask, tile_offsets


def _reference_mask(groups: int, size: int, box_offsets: tuple[int, ...]) -> torch.Tensor:
    """AiOS's rule written out per query: block other groups, then let box tokens see all box tokens."""
    n = groups * size
    mask = torch.zeros(n, n, dtype=torch.bool)
    boxes = [g * size + o for g in range(groups) for o in box_offsets]
    for query in range(n):
        start, stop = query // size * size, (query // size + 1) * size
        mask[query, :start] = True
        mask[query, stop:] = True
        if query % size in box_offsets:
            mask[query, boxes] = False
    return mask


@pytest.mark.parametrize(("groups", "phase"), [(1, "body"), (3, "body"), (4, "whole"), (10, "whole")])
def test_group_masks_follow_the_aios_rule(groups, phase):
    layout = GroupLayout()
    size, boxes = ((layout.body_size, layout.body_box_offsets) if phase == "body"
                   else (layout.whole_size, layout.whole_box_offsets))
    assert torch.equal(group_attention_mask(groups, size, boxes), _reference_mask(groups, size, boxes))


def test_default_layout_offsets():
    layout = GroupLayout()
    assert (layout.body_size, layout.whole_size) == (21, 39)
    assert layout.whole_box_offsets == (0, 18, 25, 32)
    assert (layout.lhand_kpts(), layout.rhand_kpts(), layout.face_kpts()) == (
        slice(19, 25), slice(26, 32), slice(33, 39))
    assert layout.smpl_body_offsets() == [*range(19), 25, 32]
    assert layout.smpl_lhand_offsets() == [0, *range(18, 26)]
    assert layout.smpl_rhand_offsets() == [0, 18, *range(25, 32)]
    assert layout.smpl_face_offsets() == [0, *range(32, 39)]


@pytest.mark.parametrize("points", [(17, 6, 6), (17, 10, 10), (5, 3, 4)])
def test_head_token_counts_match_the_head_input_widths(points):
    layout = GroupLayout(*points)
    k, h, f = points
    assert len(layout.smpl_body_offsets()) == k + 4
    assert len(layout.smpl_lhand_offsets()) == len(layout.smpl_rhand_offsets()) == h + 3
    assert len(layout.smpl_face_offsets()) == f + 2
    parts = [0, *range(*layout.body_kpts().indices(99)), layout.lhand_box, *range(*layout.lhand_kpts().indices(99)),
             layout.rhand_box, *range(*layout.rhand_kpts().indices(99)), layout.face_box,
             *range(*layout.face_kpts().indices(99))]
    assert parts == list(range(layout.whole_size))


def test_tile_offsets_repeats_per_group():
    assert tile_offsets([0, 2], num_groups=3, group_size=5).tolist() == [0, 2, 5, 7, 10, 12]

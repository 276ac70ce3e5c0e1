"""BLADE (NVlabs/blade, CVPR 2025) network: DepthNet (Tz) feeding PoseNet (SMPL-X).

Shape legend: ``B`` crops, ``G`` person groups per crop, ``C`` classes, ``S_d`` DepthNet input
side (518), ``S_p`` PoseNet input side (400).

:class:`Blade` wires the two networks; :func:`rank_people` reproduces AiOS's post-processing
top-k and BLADE's choice of the first result. Camera solving, the SMPL-X forward pass and the
mesh optimisation of the original are not part of this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from streamer.models.blade.depthnet import DepthNet, DepthNetConfig, depthnet_config_from_fixture
from streamer.models.blade.posenet import PoseNet, PoseNetConfig, PoseNetOutput, posenet_config_from_fixture


@dataclass(frozen=True)
class BladeConfig:
    """Both networks' hyper-parameters; the defaults are the released full-size model."""

    depthnet: DepthNetConfig = field(default_factory=DepthNetConfig)
    posenet: PoseNetConfig = field(default_factory=PoseNetConfig)

    @classmethod
    def from_fixture(cls, depth_config: dict | None = None, pose_config: dict | None = None) -> BladeConfig:
        """Reduced configs of the reference fixtures (full-size defaults for a part not given)."""
        return cls(
            depthnet=depthnet_config_from_fixture(depth_config) if depth_config else DepthNetConfig(),
            posenet=posenet_config_from_fixture(pose_config) if pose_config else PoseNetConfig(),
        )


@dataclass(frozen=True)
class RankedPeople:
    """AiOS post-processing ranking of (group, class) pairs, best first (all (B, k))."""

    scores: torch.Tensor  # sigmoid of the class logit
    group_index: torch.Tensor  # which person group
    labels: torch.Tensor  # which class (BLADE ignores it)


def rank_people(logits: torch.Tensor, num_select: int) -> RankedPeople:
    """Top-k over every (group, class) pair of ``sigmoid(logits)``.

    Args:
        logits: (B, G, C) class logits.
        num_select: k (50 in BLADE; at most G * C).
    """
    b, _, c = logits.shape
    top = torch.topk(logits.sigmoid().reshape(b, -1), num_select, dim=1)
    return RankedPeople(top.values, torch.div(top.indices, c, rounding_mode="floor"), top.indices % c)


@dataclass(frozen=True)
class BladeOutput:
    """Per-crop result of the most confident person (BLADE's ``result[b][0]``), axis-angle radians."""

    global_orient: torch.Tensor  # (B, 3)
    body_pose: torch.Tensor  # (B, 21, 3)
    left_hand_pose: torch.Tensor  # (B, 15, 3)
    right_hand_pose: torch.Tensor  # (B, 15, 3)
    jaw_pose: torch.Tensor  # (B, 3)
    betas: torch.Tensor  # (B, 10)
    expression: torch.Tensor  # (B, 10)
    pelvis_depth_m: torch.Tensor  # (B,) Tz, metres
    score: torch.Tensor  # (B,) sigmoid class score of the chosen pair
    label: torch.Tensor  # (B,) its class
    group_index: torch.Tensor  # (B,) its person group
    box_cxcywh: torch.Tensor  # (B, 4) person box in the PoseNet input, normalised
    keypoints_xy: torch.Tensor  # (B, 17, 2) COCO body keypoints in the PoseNet input, normalised
    posenet: PoseNetOutput | None = None  # every group's predictions, when requested


def select_person(pose: PoseNetOutput, pelvis_depth_m: torch.Tensor, num_select: int,
                  keep_posenet: bool = False) -> BladeOutput:
    """Pick the first (group, class) of the AiOS ranking, as BLADE's ``predict_pose`` does."""
    ranked = rank_people(pose.logits, num_select)
    group = ranked.group_index[:, 0]
    rows = torch.arange(group.shape[0], device=group.device)
    full = pose.fullpose_aa[rows, group]  # (B, 53, 3): root, 21 body, 15 lhand, 15 rhand, jaw
    return BladeOutput(
        global_orient=full[:, 0], body_pose=full[:, 1:22], left_hand_pose=full[:, 22:37],
        right_hand_pose=full[:, 37:52], jaw_pose=full[:, 52], betas=pose.betas[rows, group],
        expression=pose.expression[rows, group], pelvis_depth_m=pelvis_depth_m.reshape(-1),
        score=ranked.scores[:, 0], label=ranked.labels[:, 0], group_index=group,
        box_cxcywh=pose.boxes_cxcywh[rows, group], keypoints_xy=pose.keypoints_xy[rows, group],
        posenet=pose if keep_posenet else None,
    )


class Blade(nn.Module):
    """DepthNet + PoseNet. State-dict keys: ``depthnet.<BLADE depth key>``, ``posenet.<pose key>``."""

    def __init__(self, cfg: BladeConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or BladeConfig()
        self.depthnet = DepthNet(cfg.depthnet)
        self.posenet = PoseNet(cfg.posenet)

    def forward(self, depth_image: torch.Tensor, pose_image: torch.Tensor, keep_posenet: bool = False) -> BladeOutput:
        """Run both networks on prepared inputs (see :mod:`streamer.models.blade.preprocess`).

        Args:
            depth_image: (B, 3, S_d, S_d) ImageNet-normalised square crop for the DepthNet.
            pose_image: (B, 3, S_p, S_p) ImageNet-normalised letterboxed crop for the PoseNet.
            keep_posenet: also return every group's predictions.
        """
        depth = self.depthnet(depth_image).pelvis_depth_m
        pose = self.posenet(pose_image, depth)
        return select_person(pose, depth, self.cfg.posenet.num_select, keep_posenet)

"""BLADE's PoseNet: AiOS SMPL-X with a Tz-conditioned ControlNet copy, inference only.

Shape legend: ``B`` images, ``G`` person groups, ``D`` width (256), ``K/Hk/Fk`` body/hand/face
keypoints (17/6/6), ``C`` classes (2). Boxes are normalised ``cx, cy, w, h``; keypoints
normalised ``x, y``.

Two identical stacks run on the same (B, 3, 400, 400) image:

* the frozen AiOS stack (``backbone``, ``input_proj``, ``transformer``) decides the person
  queries, boxes, keypoints, hands, jaw and expression;
* the ControlNet copy (``*_controlnet``) receives the pelvis depth Tz: ``Tz_zeromlp[l](Tz)``
  is added to C3..C5 and ``Tz_poss_zeromlp[l](Tz)`` to their position encodings (levels 0-2;
  ``Tz_poss_zeromlp[3]`` is stored but unused, as in the original). Its last decoder layer's
  tokens are added, **by token index**, to the frozen stack's tokens that feed the body-pose,
  shape and camera heads.

Only the last decoder layer's heads are evaluated: the original computes every layer's SMPL-X
outputs but returns the last one when auxiliary losses are off. ``label_enc`` (denoising
queries, training only) and the heads of other layers are kept for a strict state-dict load.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from streamer.models.blade.common import MLP
from streamer.models.blade.deformable_transformer import DeformableTransformer, TransformerOutput
from streamer.models.blade.group_layout import GroupLayout, tile_offsets
from streamer.models.blade.position_encoding import sine_position_map
from streamer.models.blade.resnet import RESNET_STAGE_CHANNELS, ResNetTrunk
from streamer.models.blade.rotation import matrix_to_axis_angle, rot6d_to_matrix
from streamer.records import NUM_BODY_JOINTS_WITH_ROOT, NUM_HAND_JOINTS

#: SMPL-X joints predicted by the body head (root + 21 body joints) and per hand
NUM_SMPLX_BODY_JOINTS = NUM_BODY_JOINTS_WITH_ROOT


@dataclass(frozen=True)
class PoseNetConfig:
    """Hyper-parameters; defaults are BLADE's full-size ``aios_smplx_controlnet`` config."""

    resnet_layers: tuple[int, ...] = (3, 4, 6, 3)
    resnet_width_per_group: int = 64
    hidden_dim: int = 256
    nheads: int = 8
    dim_feedforward: int = 2048
    enc_layers: int = 6
    dec_layers: int = 6
    num_feature_levels: int = 4
    enc_n_points: int = 4
    dec_n_points: int = 4
    num_queries: int = 900
    num_group: int = 100
    num_select: int = 50
    num_classes: int = 2
    num_box_decoder_layers: int = 2
    num_hand_face_decoder_layers: int = 4
    num_body_points: int = 17
    num_hand_points: int = 6
    num_face_points: int = 6
    dn_labelbook_size: int = 100
    pe_temperature_h: float = 20.0
    pe_temperature_w: float = 20.0
    num_betas: int = 10
    num_expression: int = 10


@dataclass(frozen=True)
class PoseNetOutput:
    """Per-group predictions of the last decoder layer (all (B, G, ...)).

    Rotations are axis-angle, radians. ``fullpose_aa`` concatenates root, 21 body joints, 15 left
    and 15 right hand joints and the jaw (53 x 3), the order of AiOS's ``pred_smpl_fullpose``.
    """

    logits: torch.Tensor  # (B, G, C)
    boxes_cxcywh: torch.Tensor  # (B, G, 4) person box, normalised
    keypoints_xy: torch.Tensor  # (B, G, K, 2) COCO body keypoints, normalised
    lhand_boxes_cxcywh: torch.Tensor  # (B, G, 4)
    rhand_boxes_cxcywh: torch.Tensor  # (B, G, 4)
    face_boxes_cxcywh: torch.Tensor  # (B, G, 4)
    body_rotmat: torch.Tensor  # (B, G, 22, 3, 3)
    lhand_rotmat: torch.Tensor  # (B, G, 15, 3, 3)
    rhand_rotmat: torch.Tensor  # (B, G, 15, 3, 3)
    jaw_rotmat: torch.Tensor  # (B, G, 1, 3, 3)
    fullpose_aa: torch.Tensor  # (B, G, 53, 3)
    betas: torch.Tensor  # (B, G, 10)
    expression: torch.Tensor  # (B, G, 10)
    cam_sxy: torch.Tensor  # (B, G, 3) weak-perspective (scale, tx, ty) of AiOS, unused by BLADE
    raw: dict[str, torch.Tensor] = field(default_factory=dict)  # 6D head outputs, by head name
    intermediates: dict[str, object] | None = None


def _mlps(n: int, in_dims: list[int], hidden: int, out: int) -> nn.ModuleList:
    return nn.ModuleList(MLP(in_dims[i], hidden, out, 3) for i in range(n))


def build_smplx_heads(cfg: PoseNetConfig, layout: GroupLayout) -> dict[str, nn.ModuleList]:
    """Per-layer SMPL-X parameter heads, named as in the checkpoint (``smpl_pose_embed.N`` ...).

    Entry ``i`` serves decoder layer ``nb + i``. In the body-layout layers the hand, jaw and
    expression heads read one part-box token (input D); in the whole-body layers they read the
    concatenated part tokens (``(Hk + 3) D`` and ``(Fk + 2) D``). Body pose, shape and camera
    always read the ``K + 4`` body tokens.
    """
    d = cfg.hidden_dim
    n = cfg.dec_layers - cfg.num_box_decoder_layers
    n_body_phase = cfg.num_hand_face_decoder_layers - cfg.num_box_decoder_layers
    body_in = [d * layout.body_size] * n
    hand_in = [d if i < n_body_phase else d * (layout.num_hand_points + 3) for i in range(n)]
    face_in = [d if i < n_body_phase else d * (layout.num_face_points + 2) for i in range(n)]
    return {
        "smpl_pose_embed": _mlps(n, body_in, d, NUM_SMPLX_BODY_JOINTS * 6),
        "smpl_beta_embed": _mlps(n, body_in, d, cfg.num_betas),
        "smpl_cam_embed": _mlps(n, body_in, d, 3),
        "smpl_hand_pose_embed": _mlps(n, hand_in, d, NUM_HAND_JOINTS * 6),
        "smpl_expr_embed": _mlps(n, face_in, d, cfg.num_expression),
        "smpl_jaw_embed": _mlps(n, face_in, d, 6),
    }


class PoseNet(nn.Module):
    """AiOS-SMPL-X ControlNet; attribute names follow the ``pose_backbone.*`` checkpoint keys.

    The ResNet trunks are ``backbone`` / ``backbone_controlnet`` here; the checkpoint spells
    them ``backbone.0.body`` / ``backbone_controlnet.0.body`` (the loader renames).
    """

    def __init__(self, cfg: PoseNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or PoseNetConfig()
        if cfg.num_feature_levels != 4:
            raise ValueError(f"PoseNet is built for 4 feature levels (C3-C5 + one extra), got "
                             f"{cfg.num_feature_levels}")
        self.layout = layout = GroupLayout(cfg.num_body_points, cfg.num_hand_points, cfg.num_face_points)
        d = cfg.hidden_dim
        in_channels = list(RESNET_STAGE_CHANNELS[1:])

        def transformer() -> DeformableTransformer:
            return DeformableTransformer(d, cfg.nheads, cfg.dim_feedforward, cfg.enc_layers, cfg.dec_layers,
                                         cfg.num_feature_levels, cfg.enc_n_points, cfg.dec_n_points,
                                         cfg.num_queries, cfg.num_classes, cfg.num_group,
                                         cfg.num_box_decoder_layers, cfg.num_hand_face_decoder_layers, layout)

        def input_proj() -> nn.ModuleList:
            layers = [nn.Sequential(nn.Conv2d(c, d, kernel_size=1), nn.GroupNorm(32, d)) for c in in_channels]
            layers.append(nn.Sequential(nn.Conv2d(in_channels[-1], d, kernel_size=3, stride=2, padding=1),
                                        nn.GroupNorm(32, d)))
            return nn.ModuleList(layers)

        self.backbone = ResNetTrunk(cfg.resnet_layers, cfg.resnet_width_per_group)
        self.backbone_controlnet = ResNetTrunk(cfg.resnet_layers, cfg.resnet_width_per_group)
        self.input_proj = input_proj()
        self.input_proj_controlnet = input_proj()
        self.transformer = transformer()
        self.transformer_controlnet = transformer()
        self.Tz_zeromlp = nn.ModuleList(nn.Linear(1, c) for c in in_channels)
        self.Tz_poss_zeromlp = nn.ModuleList(nn.Linear(1, d) for _ in range(cfg.num_feature_levels))
        self.label_enc = nn.Embedding(cfg.dn_labelbook_size + 1, d)
        for name, heads in build_smplx_heads(cfg, layout).items():
            self.add_module(name, heads)

    # ---- feature pyramids ---------------------------------------------------------------------
    def _pyramid(self, image: torch.Tensor, trunk: ResNetTrunk, proj: nn.ModuleList,
                 pelvis_depth_m: torch.Tensor | None, trace: dict | None, prefix: str
                 ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cfg = self.cfg
        feats = trunk(image)
        if trace is not None:
            trace[f"{prefix}_C5"] = feats[-1]
        b = image.shape[0]
        poss = [sine_position_map(b, f.shape[2], f.shape[3], cfg.hidden_dim // 2, cfg.pe_temperature_h,
                                  cfg.pe_temperature_w, device=image.device) for f in feats]
        if pelvis_depth_m is not None:
            feats = [f + self.Tz_zeromlp[i](pelvis_depth_m)[..., None, None] for i, f in enumerate(feats)]
            poss = [p + self.Tz_poss_zeromlp[i](pelvis_depth_m)[..., None, None] for i, p in enumerate(poss)]
        srcs = [proj[i](f) for i, f in enumerate(feats)]
        extra = proj[len(feats)](feats[-1])
        srcs.append(extra)
        poss.append(sine_position_map(b, extra.shape[2], extra.shape[3], cfg.hidden_dim // 2, cfg.pe_temperature_h,
                                      cfg.pe_temperature_w, device=image.device))
        return srcs, poss

    # ---- heads --------------------------------------------------------------------------------
    def _heads(self, frozen: TransformerOutput, control: TransformerOutput) -> PoseNetOutput:
        cfg, lay = self.cfg, self.layout
        dec = self.transformer.decoder
        last = cfg.dec_layers - 1
        i = last - cfg.num_box_decoder_layers
        hs = frozen.decoder.hidden[last]
        hs_control = control.decoder.hidden[last]
        reference = frozen.decoder.references[last]
        b, n, d = hs.shape
        g = n // lay.whole_size
        grouped = hs.view(b, g, lay.whole_size, d)

        box_tokens = grouped[:, :, 0]
        logits = dec.class_embed[last](box_tokens)
        # boxes and keypoints follow the decoder's own update rule, applied to the normed tokens
        refs = dec.refine_whole_layout(last, hs, reference).view(b, g, lay.whole_size, 4)

        def gather(tokens: torch.Tensor, offsets: list[int]) -> torch.Tensor:
            index = tile_offsets(offsets, g, lay.whole_size, device=tokens.device)
            return tokens.index_select(1, index).reshape(b, g, len(offsets) * d)

        body_feats = gather(hs, lay.smpl_body_offsets()) + gather(hs_control, lay.smpl_body_offsets())
        lhand_feats = gather(hs, lay.smpl_lhand_offsets())
        rhand_feats = gather(hs, lay.smpl_rhand_offsets())
        face_feats = gather(hs, lay.smpl_face_offsets())
        raw = {
            "smpl_pose": self.smpl_pose_embed[i](body_feats),
            "smpl_lhand_pose": self.smpl_hand_pose_embed[i](lhand_feats),
            "smpl_rhand_pose": self.smpl_hand_pose_embed[i](rhand_feats),
            "smpl_jaw": self.smpl_jaw_embed[i](face_feats),
            "smpl_beta": self.smpl_beta_embed[i](body_feats),
            "smpl_cam": self.smpl_cam_embed[i](body_feats),
            "smpl_expr": self.smpl_expr_embed[i](face_feats),
        }
        body = rot6d_to_matrix(raw["smpl_pose"].view(b, g, NUM_SMPLX_BODY_JOINTS, 6))
        lhand = rot6d_to_matrix(raw["smpl_lhand_pose"].view(b, g, NUM_HAND_JOINTS, 6))
        rhand = rot6d_to_matrix(raw["smpl_rhand_pose"].view(b, g, NUM_HAND_JOINTS, 6))
        jaw = rot6d_to_matrix(raw["smpl_jaw"].view(b, g, 1, 6))
        fullpose = matrix_to_axis_angle(torch.cat((body, lhand, rhand, jaw), dim=2))
        return PoseNetOutput(
            logits=logits, boxes_cxcywh=refs[:, :, 0], keypoints_xy=refs[:, :, lay.body_kpts(), :2],
            lhand_boxes_cxcywh=refs[:, :, lay.lhand_box], rhand_boxes_cxcywh=refs[:, :, lay.rhand_box],
            face_boxes_cxcywh=refs[:, :, lay.face_box], body_rotmat=body, lhand_rotmat=lhand, rhand_rotmat=rhand,
            jaw_rotmat=jaw, fullpose_aa=fullpose, betas=raw["smpl_beta"], expression=raw["smpl_expr"],
            cam_sxy=raw["smpl_cam"], raw=raw,
        )

    def forward(self, image: torch.Tensor, pelvis_depth_m: torch.Tensor,
                return_intermediates: bool = False) -> PoseNetOutput:
        """Predict SMPL-X parameters for every person group.

        Args:
            image: (B, 3, H, W) ImageNet-normalised RGB, no padding (BLADE: 400 x 400).
            pelvis_depth_m: (B, 1) Tz from the DepthNet, metres.
            return_intermediates: also return the tensors the equivalence tests compare
                (feature maps of sample 0, encoder memory, top-k selections, decoder states).
        """
        trace: dict | None = {} if return_intermediates else None
        srcs, poss = self._pyramid(image, self.backbone, self.input_proj, None, trace, "backbone")
        srcs_c, poss_c = self._pyramid(image, self.backbone_controlnet, self.input_proj_controlnet,
                                       pelvis_depth_m, trace, "backbone_controlnet")
        frozen = self.transformer(srcs, poss)
        control = self.transformer_controlnet(srcs_c, poss_c)
        out = self._heads(frozen, control)
        if trace is not None:
            trace["transformer"] = frozen
            trace["transformer_controlnet"] = control
            out = dataclasses.replace(out, intermediates=trace)
        return out


def posenet_config_from_fixture(config: dict) -> PoseNetConfig:
    """PoseNetConfig from the ``config`` dict of the BLADE reference fixture (reduced sizes)."""
    resnet = config.get("resnet50_standin", {})
    return PoseNetConfig(
        resnet_layers=tuple(resnet.get("layers", (3, 4, 6, 3))),
        resnet_width_per_group=int(resnet.get("width_per_group", 64)),
        hidden_dim=int(config["hidden_dim"]), nheads=int(config["nheads"]),
        dim_feedforward=int(config["dim_feedforward"]), enc_layers=int(config["enc_layers"]),
        dec_layers=int(config["dec_layers"]), num_feature_levels=int(config["num_feature_levels"]),
        enc_n_points=int(config["enc_n_points"]), dec_n_points=int(config["dec_n_points"]),
        num_queries=int(config["num_queries"]), num_group=int(config["num_group"]),
        num_select=int(config["num_select"]), num_classes=int(config["num_classes"]),
        num_box_decoder_layers=int(config["num_box_decoder_layers"]),
        num_hand_face_decoder_layers=int(config["num_hand_face_decoder_layers"]),
        num_body_points=int(config["num_body_points"]), num_hand_points=int(config["num_hand_points"]),
        num_face_points=int(config["num_face_points"]), dn_labelbook_size=int(config["dn_labelbook_size"]),
        pe_temperature_h=float(config["pe_temperatureH"]), pe_temperature_w=float(config["pe_temperatureW"]),
    )

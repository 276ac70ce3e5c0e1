"""Public entry point: person crops in, SMPL-X parameters and pelvis depth out.

Shape legend: ``N`` crops.

    predictor = BladePredictor.from_checkpoint("epoch_2.safetensors", device="cuda")
    out = predictor.predict(crops)          # crops: (N, H, W, 3) or a list of (H_i, W_i, 3) RGB
    out.body_pose                            # (N, 21, 3) axis-angle, radians, SMPL-X order

Inputs are prepared as documented in :mod:`streamer.models.blade.preprocess` (518 x 518 DepthNet
crop, 400 x 400 letterboxed PoseNet crop, ImageNet normalisation). Every crop is assumed to hold
one player: like BLADE, the most confident of the PoseNet's person hypotheses is returned, even
when an overlapping player is the more confident one. ``box_cxcywh`` / ``keypoints_xy`` tell which
person was chosen (map them to crop pixels with :func:`posenet_xy_to_crop_px`).
Outputs live on the CPU as float32 tensors; ``pelvis_depth_m`` is the camera-frame depth of the
pelvis in metres (BLADE's Tz) and the poses are in the camera frame of the crop's image.
"""

from __future__ import annotations

import dataclasses
import os

import torch

from streamer.models.blade.checkpoint import load_blade_weights
from streamer.models.blade.model import Blade, BladeConfig, BladeOutput
from streamer.models.blade.preprocess import POSENET_SIDE_PX, Crops, prepare_crops


def _to_cpu(out: BladeOutput) -> BladeOutput:
    fields = {f.name: getattr(out, f.name) for f in dataclasses.fields(out)}
    return BladeOutput(**{k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in fields.items()})


def _concat(outputs: list[BladeOutput]) -> BladeOutput:
    names = [f.name for f in dataclasses.fields(BladeOutput) if f.name != "posenet"]
    return BladeOutput(**{n: torch.cat([getattr(o, n) for o in outputs]) for n in names})


class BladePredictor:
    """A :class:`Blade` network in eval mode on one device, fed with crops in chunks.

    Args:
        model: the network (weights loaded).
        device: where it runs ("cpu", "cuda", "cuda:1" ...).
        batch_size: crops per forward pass; bounds memory (the ViT-L DepthNet and the two AiOS
            stacks need roughly 1 GB of activations per crop on CPU in float32).
        pose_side_px: PoseNet input side (BLADE: 400). The DepthNet side is the ViT's
            ``img_size`` (518), the size its position embedding was trained for.
    """

    def __init__(self, model: Blade, device: str | torch.device = "cpu", batch_size: int = 8,
                 pose_side_px: int = POSENET_SIDE_PX) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.depth_side_px = model.cfg.depthnet.img_size
        self.pose_side_px = pose_side_px

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu",
                        cfg: BladeConfig | None = None, batch_size: int = 8,
                        pose_side_px: int = POSENET_SIDE_PX) -> BladePredictor:
        """Build the full-size network (or ``cfg``) and strictly load ``epoch_2.pth`` / its
        ``.safetensors`` conversion into it."""
        with torch.device("meta"):
            model = Blade(cfg)  # no random init of ~460M parameters; the weights are assigned
        load_blade_weights(model, path)
        return cls(model, device, batch_size, pose_side_px)

    @torch.inference_mode()
    def predict(self, crops: Crops) -> BladeOutput:
        """SMPL-X parameters and Tz of the person in each crop.

        Args:
            crops: (N, H, W, 3) batch or a sequence of N (H_i, W_i, 3) crops; uint8 [0, 255] or
                float [0, 1] RGB; torch tensors or numpy arrays.

        Returns:
            :class:`BladeOutput` with N rows on the CPU: ``global_orient`` (N, 3), ``body_pose``
            (N, 21, 3), ``left_hand_pose`` / ``right_hand_pose`` (N, 15, 3), ``jaw_pose`` (N, 3),
            ``betas`` (N, 10), ``expression`` (N, 10), ``pelvis_depth_m`` (N,), ``score`` (N,),
            and the chosen person's box / COCO keypoints in the PoseNet input (normalised).
        """
        depth_in, pose_in = prepare_crops(crops, self.device, self.depth_side_px, self.pose_side_px)
        outputs = []
        for start in range(0, depth_in.shape[0], self.batch_size):
            stop = start + self.batch_size
            outputs.append(_to_cpu(self.model(depth_in[start:stop], pose_in[start:stop])))
        return _concat(outputs)

"""Person crops -> the two BLADE network inputs.

Shape legend: ``N`` crops, ``H, W`` crop pixels, ``S_d`` DepthNet side (518), ``S_p`` PoseNet
side (400).

Both inputs are ImageNet-normalised RGB (mean 0.485 0.456 0.406, std 0.229 0.224 0.225 on
[0, 1] values, i.e. BLADE's ``mean=[123.675, 116.28, 103.53] std=[58.395, 57.12, 57.375]``).

* **PoseNet** (as BLADE's demo ``prepare_data``): the crop is resized, aspect kept, so its long
  side is ``S_p`` (``int(side * scale)``, bilinear with antialias = torchvision's
  ``TF.resize``) and centred on an ``S_p`` square of black (normalised ``-2.1179, -2.0357,
  -1.8044``).
* **DepthNet**: BLADE samples a square around the person's segmentation mask (1.25x the mask
  box, moved inside the frame) from the whole image with ``grid_sample(bilinear,
  align_corners=True)``; out-of-frame samples are 0 in normalised space (the ImageNet mean).
  Here the crop **is** that square: a non-square crop is centred on a square of normalised 0
  and resized to ``S_d`` with ``interpolate(bilinear, align_corners=True)``, which is what
  ``grid_sample`` computes for a box equal to the whole crop.

Deviations from BLADE, all because the pipeline hands over crops, not frames and masks:
the depth square comes from the caller's crop (pass square crops with ~1.25x margin around
the player for the closest match), its padding is the mean colour instead of real
surroundings, and the PoseNet sees the crop rather than the whole (resized, max 1280 px) image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from streamer.errors import InputError

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
DEPTHNET_SIDE_PX = 518
POSENET_SIDE_PX = 400
#: one (N, H, W, 3) batch or a sequence of (H, W, 3) crops
Crops = torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray]
#: float crops must lie in [0, 1]; this much round-off above 1 is tolerated
_FLOAT_RANGE_SLACK = 1e-3


def crops_to_float(crops: torch.Tensor | np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """(N, H, W, 3) uint8 [0, 255] or float [0, 1] RGB -> (N, 3, H, W) float32 in [0, 1]."""
    if isinstance(crops, np.ndarray):
        crops = torch.from_numpy(np.ascontiguousarray(crops))
    if not isinstance(crops, torch.Tensor):
        raise InputError(f"crops: expected a tensor or array, got {type(crops).__name__}")
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise InputError(f"crops: expected shape (N, H, W, 3), got {tuple(crops.shape)}")
    if crops.shape[1] == 0 or crops.shape[2] == 0:
        raise InputError(f"crops: empty image size {tuple(crops.shape[1:3])}")
    crops = crops.to(device) if device is not None else crops
    if crops.dtype == torch.uint8:
        images = crops.float() / 255.0
    elif crops.dtype.is_floating_point:
        images = crops.float()
        if images.numel() and (images.min() < -_FLOAT_RANGE_SLACK or images.max() > 1 + _FLOAT_RANGE_SLACK):
            raise InputError("crops: float crops must be RGB in [0, 1] "
                             f"(got values in [{images.min().item():.3g}, {images.max().item():.3g}])")
    else:
        raise InputError(f"crops: expected uint8 or float dtype, got {crops.dtype}")
    return images.permute(0, 3, 1, 2).contiguous()


def imagenet_normalize(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> ImageNet-normalised."""
    mean = images.new_tensor(IMAGENET_MEAN_RGB)[None, :, None, None]
    std = images.new_tensor(IMAGENET_STD_RGB)[None, :, None, None]
    return (images - mean) / std


def _centre_on_square(images: torch.Tensor, side: int, fill: torch.Tensor) -> torch.Tensor:
    """Place (N, 3, h, w) images (h, w <= side) centred on a (N, 3, side, side) canvas of ``fill`` (3,)."""
    n, c, h, w = images.shape
    canvas = fill.to(images)[None, :, None, None].expand(n, c, side, side).clone()
    top, left = (side - h) // 2, (side - w) // 2
    canvas[:, :, top:top + h, left:left + w] = images
    return canvas


def posenet_input(images: torch.Tensor, side: int = POSENET_SIDE_PX) -> torch.Tensor:
    """(N, 3, H, W) normalised -> (N, 3, side, side): aspect-kept resize, centred on black."""
    h, w = images.shape[-2:]
    scale = min(side / h, side / w)
    new_h, new_w = int(h * scale), int(w * scale)
    resized = F.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    black = -images.new_tensor(IMAGENET_MEAN_RGB) / images.new_tensor(IMAGENET_STD_RGB)
    return _centre_on_square(resized, side, black)


def posenet_xy_to_crop_px(xy_norm: torch.Tensor, crop_hw: tuple[int, int], side: int = POSENET_SIDE_PX
                          ) -> torch.Tensor:
    """Undo the PoseNet letterbox: (..., 2) normalised x, y in the PoseNet input -> crop pixels.

    Args:
        xy_norm: (..., 2) coordinates in [0, 1] of the ``side`` x ``side`` input (AiOS boxes'
            centres and keypoints).
        crop_hw: (H, W) of the crop the input was made from.

    Returns:
        (..., 2) x, y in crop pixels (0 = left/top edge of the crop).
    """
    h, w = crop_hw
    scale = min(side / h, side / w)
    new_h, new_w = int(h * scale), int(w * scale)
    top, left = (side - new_h) // 2, (side - new_w) // 2
    x = (xy_norm[..., 0] * side - left) * (w / new_w)
    y = (xy_norm[..., 1] * side - top) * (h / new_h)
    return torch.stack((x, y), dim=-1)


def depthnet_input(images: torch.Tensor, side: int = DEPTHNET_SIDE_PX) -> torch.Tensor:
    """(N, 3, H, W) normalised -> (N, 3, side, side): centred on a mean-colour square, resized."""
    h, w = images.shape[-2:]
    if h != w:
        images = _centre_on_square(images, max(h, w), images.new_zeros(3))
    return F.interpolate(images, size=(side, side), mode="bilinear", align_corners=True)


def prepare_crops(crops: Crops, device: torch.device | str | None = None, depth_side: int = DEPTHNET_SIDE_PX,
                  pose_side: int = POSENET_SIDE_PX) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops -> ((N, 3, S_d, S_d) DepthNet input, (N, 3, S_p, S_p) PoseNet input).

    Args:
        crops: one (N, H, W, 3) batch, or a sequence of N (H_i, W_i, 3) crops of any sizes;
            uint8 [0, 255] or float [0, 1] RGB, tensors or numpy arrays.
        device: where to build the inputs (the model's device).
    """
    if isinstance(crops, torch.Tensor | np.ndarray):
        images = imagenet_normalize(crops_to_float(crops, device))
        return depthnet_input(images, depth_side), posenet_input(images, pose_side)
    if isinstance(crops, str | bytes) or not isinstance(crops, Sequence):
        raise InputError(f"crops: expected a tensor or array, or a sequence of them, got {type(crops).__name__}")
    if len(crops) == 0:
        raise InputError("crops: got an empty sequence")
    depth, pose = [], []
    for index, crop in enumerate(crops):
        if not isinstance(crop, torch.Tensor | np.ndarray) or crop.ndim != 3:
            raise InputError(f"crops[{index}]: expected an (H, W, 3) tensor or array, got "
                             f"{tuple(crop.shape) if hasattr(crop, 'shape') else type(crop).__name__}")
        d, p = prepare_crops(crop[None], device, depth_side, pose_side)
        depth.append(d)
        pose.append(p)
    return torch.cat(depth), torch.cat(pose)

"""Pure-PyTorch re-implementation of BLADE (NVlabs/blade, CVPR 2025) for inference.

DepthNet (Depth-Anything-V2 ViT-L DINOv2 + DPT + DiNOZNet) predicts the pelvis depth Tz from a
518 x 518 crop; PoseNet (AiOS SMPL-X with a Tz-conditioned ControlNet, ResNet-50, deformable
DETR) predicts SMPL-X parameters from a 400 x 400 crop. Weights: the authors' ``epoch_2.pth``,
loaded without unrestricted unpickling (:mod:`.checkpoint`). Equivalence with the original is
tested against reference fixtures (tests/test_blade_*.py).

Entry points: :class:`BladePredictor` (crops in, :class:`BladeOutput` out),
:func:`convert_blade_checkpoint`, :func:`check_blade_checkpoint`, :func:`load_blade_weights`.
"""

from streamer.models.blade.api import BladePredictor
from streamer.models.blade.checkpoint import (
    BladeCheckpointError,
    KeyCheck,
    check_blade_checkpoint,
    convert_blade_checkpoint,
    load_blade_weights,
)
from streamer.models.blade.model import Blade, BladeConfig, BladeOutput
from streamer.models.blade.preprocess import posenet_xy_to_crop_px, prepare_crops

__all__ = [
    "Blade",
    "BladeCheckpointError",
    "BladeConfig",
    "BladeOutput",
    "BladePredictor",
    "KeyCheck",
    "check_blade_checkpoint",
    "convert_blade_checkpoint",
    "load_blade_weights",
    "posenet_xy_to_crop_px",
    "prepare_crops",
]

"""Backend ``blade`` of the mesh stage: BLADE regresses SMPL-X from player crops, a camera solve places it.

Shape legend: ``N`` crops of the window (player-frames); ``J`` body-model joints; ``T``
keypoint targets; ``P`` players of one frame.

Per window (:meth:`BladeBackend.estimate`):

1. **Crops** from the frame's tracks, one player each (so BLADE's "most confident person" is
   ours): a square of ``crop_margin`` x the box's longer side around the box centre, padded with
   the ImageNet mean colour outside the frame (what BLADE's DepthNet sampler gives there). A
   square with ~1.25x margin is what BLADE cuts around a person's mask for its DepthNet (see
   :mod:`streamer.models.blade.preprocess`). Crops are shrunk to at most 518 px (the larger
   network input) before batching.
2. **One batched forward** over every crop of the window (``batch_size`` at a time; bf16/fp16
   autocast on CUDA).
3. **Accept** a crop when its score reaches ``min_score`` and the box of the person BLADE chose
   contains the crop centre (else it described a neighbour).
4. **SMPL-X joints** (body model ``smplx``, translation 0). BLADE sees the crop as if looking
   straight at the player, so its root rotation is turned onto the viewing ray through the crop
   centre (:func:`~streamer.fitting.camera.ray_rotation`), as the fitter does with BlazePose.
5. **Camera** per frame (:mod:`streamer.fitting.camera_solve`): focal and translations from the
   2D keypoints (the keypoint stage's when it ran, else BLADE's own COCO-17) and BLADE's pelvis
   depth ``Tz`` as a prior, principal point from the stage's ``cam_K``. A known focal (pitch
   calibration, or ``mesh.focal_px``) is kept and only translations are solved. ``Tz`` comes
   from a sigmoid capped at 10 m, so values at the cap carry no depth and are not used; players
   20-80 m away (broadcast) therefore need a known focal or they keep the stage's focal.

Devices: CPU (float32, slow: seconds per crop) and CUDA with bf16/fp16 autocast and a batch
fitted to free memory (``batch_size: 0``). The CUDA paths were written without a GPU at hand
and are untested; :data:`CROP_BYTES` is an estimate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from streamer.body.model import BodyModel
from streamer.body.skeleton import BODY_JOINT_NAMES
from streamer.config import in_range
from streamer.errors import ConfigError, InputError
from streamer.fitting.camera import ray_rotation
from streamer.fitting.camera_solve import CameraSolve, refine_camera, solve_camera
from streamer.fitting.init import axis_angle_to_matrix_np, matrix_to_axis_angle
from streamer.fitting.targets import TargetSpec, make_target_spec
from streamer.records import BodyParams, Packet

#: ImageNet mean colour (uint8 RGB): normalises to 0, like BLADE's out-of-frame samples
FILL_RGB = (124, 116, 104)
#: crops are shrunk to this side at most (the DepthNet input; the PoseNet takes 400)
MAX_CROP_SIDE_PX = 518
#: dtype names of ``mesh.blade.dtype``
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
#: rough activation memory per crop on CUDA (bytes) for the batch size fitted to free memory;
#: an estimate (untested on a GPU), kept on the safe side of ~1 GB per crop in fp32 on CPU
CROP_BYTES = {"bf16": 0.6e9, "fp16": 0.6e9, "fp32": 1.1e9}
#: free memory left alone when fitting the batch (bytes)
RESERVE_BYTES = 1.0e9
#: batch size that ``batch_size: 0`` means off CUDA
CPU_AUTO_BATCH = 2
#: solves of a free focal, each with the viewing rays of the focal before (converges in 3-4)
MAX_RAY_PASSES = 6
#: solved focals outside these horizontal fields of view are implausible (degrees)
HFOV_RANGE_DEG = (1.0, 120.0)


@dataclass(frozen=True, slots=True)
class BladeSettings:
    """``mesh.blade`` values (see the default config for their trade-offs)."""

    crop_margin: float = 1.25
    min_box_height_px: float = 24.0
    min_score: float = 0.2
    require_centred: bool = True
    solve_focal: bool = True
    tz_std_m: float = 1.5
    tz_std_calibrated_m: float = 10.0
    tz_saturation_m: float = 9.5
    kp_noise: float = 0.02
    min_kp_conf: float = 0.3
    gauss_newton_steps: int = 3


# ---- crops --------------------------------------------------------------------------------------
def square_boxes(xyxy_px: np.ndarray, margin: float) -> np.ndarray:
    """(N, 4) boxes -> (N, 4) float64 integer-cornered squares, ``margin`` x the longer side, same centre."""
    xyxy = np.asarray(xyxy_px, np.float64).reshape(-1, 4)
    centre = 0.5 * (xyxy[:, :2] + xyxy[:, 2:])
    side = np.maximum(np.round(margin * np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])), 2.0)
    top_left = np.round(centre - side[:, None] / 2)
    return np.concatenate([top_left, top_left + side[:, None]], 1)


def cut_square(image: np.ndarray, box_xyxy: np.ndarray, max_side_px: int = MAX_CROP_SIDE_PX
               ) -> tuple[np.ndarray, float]:
    """(S, S, 3) uint8 crop of an (H, W, 3) image for one integer square box, padded with :data:`FILL_RGB`.

    Returns the crop and its scale: crop pixels per image pixel (< 1 when it was shrunk).
    """
    x0, y0, x1, y1 = (int(v) for v in box_xyxy)
    side = x1 - x0
    out = np.empty((side, side, 3), np.uint8)
    out[:] = FILL_RGB
    h, w = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    if side <= max_side_px:
        return out, 1.0
    return cv2.resize(out, (max_side_px, max_side_px), interpolation=cv2.INTER_AREA), max_side_px / side


def crop_to_image_px(xy_crop_px: np.ndarray, box_xyxy: np.ndarray, scale: float) -> np.ndarray:
    """(..., 2) crop pixels -> image pixels for a crop cut at ``box_xyxy`` and scaled by ``scale``."""
    return np.asarray(xy_crop_px, np.float64) / scale + np.asarray(box_xyxy, np.float64)[..., :2]


def contains_centre(box_cxcywh_crop_px: np.ndarray, side_px: np.ndarray) -> np.ndarray:
    """(N,) bool: does each (N, 4) box (crop pixels) contain the centre of its (N,) square crop?"""
    box = np.asarray(box_cxcywh_crop_px, np.float64)
    offset = np.abs(np.asarray(side_px, np.float64)[:, None] / 2 - box[:, :2])
    return (offset <= box[:, 2:] / 2).all(1)


# ---- device -------------------------------------------------------------------------------------
def auto_batch_size(device: torch.device, dtype: str) -> int:
    """Crops per forward that fit the free CUDA memory (``CPU_AUTO_BATCH`` elsewhere)."""
    if device.type != "cuda":
        return CPU_AUTO_BATCH
    free, _ = torch.cuda.mem_get_info(device)
    return int(min(64, max(1, (free - RESERVE_BYTES) // CROP_BYTES[dtype])))


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bf16/fp16 autocast on CUDA; nothing on CPU or for fp32."""
    if device.type == "cuda" and dtype != "fp32":
        return torch.autocast("cuda", dtype=DTYPES[dtype])
    return contextlib.nullcontext()


# ---- the backend --------------------------------------------------------------------------------
@dataclass
class _Crops:
    frame: np.ndarray  # (N,) index in the window
    track_id: np.ndarray  # (N,)
    track_row: np.ndarray  # (N,) row in the frame's Tracks
    box_xyxy: np.ndarray  # (N, 4) square crop boxes, image pixels
    scale: np.ndarray  # (N,) crop pixels per image pixel
    height_px: np.ndarray  # (N,) track box height


class BladeBackend:
    """Backend ``blade``: a :class:`~streamer.models.blade.BladePredictor` plus the SMPL-X body model.

    Args:
        predictor: the network on its device (``predictor.batch_size`` crops per forward).
        body: an SMPL-X body model (BLADE's shape coefficients are SMPL-X's).
        settings: crop, acceptance and camera settings.
        dtype: bf16 | fp16 | fp32 autocast on CUDA.
        known_focal: True = the stage's ``cam_K`` focal is configured (``mesh.focal_px``), keep it.
    """

    name = "blade"

    def __init__(self, predictor: Any, body: BodyModel, settings: BladeSettings, dtype: str = "fp32",
                 known_focal: bool = False) -> None:
        self.predictor = predictor
        self.body = body
        self.body_model = str(body.name)
        self.settings = settings
        self.dtype = dtype
        self.known_focal = known_focal
        self._coco = make_target_spec("coco17", tuple(body.joint_names), BODY_JOINT_NAMES)
        self._specs: dict[str, TargetSpec] = {}

    def _spec(self, layout: str) -> TargetSpec:
        if layout not in self._specs:
            self._specs[layout] = make_target_spec(layout, tuple(self.body.joint_names), BODY_JOINT_NAMES)
        return self._specs[layout]

    def _crops(self, packets: Sequence[Packet]) -> tuple[_Crops, list[np.ndarray]]:
        rows: list[tuple[int, int, int, np.ndarray, float]] = []
        images: list[np.ndarray] = []
        heights = []
        for f, packet in enumerate(packets):
            tracks = packet.tracks
            if tracks is None:
                raise ConfigError("mesh backend 'blade' needs player tracks: put 'detect' and 'track' before "
                                  "'mesh' in pipeline.stages")
            height = tracks.xyxy_px[:, 3] - tracks.xyxy_px[:, 1]
            keep = np.flatnonzero(height >= self.settings.min_box_height_px)
            for row, box in zip(keep, square_boxes(tracks.xyxy_px[keep], self.settings.crop_margin), strict=True):
                crop, scale = cut_square(packet.frame.image, box)
                images.append(crop)
                rows.append((f, int(tracks.track_id[row]), int(row), box, scale))
                heights.append(float(height[row]))
        crops = _Crops(np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
                       np.array([r[2] for r in rows], np.int64), np.array([r[3] for r in rows]).reshape(-1, 4),
                       np.array([r[4] for r in rows], np.float64), np.array(heights, np.float64))
        return crops, images

    def predict(self, images: list[np.ndarray]) -> Any:
        """Batched BLADE forward of (S_i, S_i, 3) uint8 crops -> BladeOutput (CPU tensors)."""
        with autocast(self.predictor.device, self.dtype):
            return self.predictor.predict(images)

    def estimate(self, packets: Sequence[Packet], cam_K: Sequence[np.ndarray]) -> list[BodyParams | None]:
        from streamer.models.blade import posenet_xy_to_crop_px

        crops, images = self._crops(packets)
        out: list[BodyParams | None] = [None] * len(packets)
        if not images:
            return out
        pred = self.predict(images)
        side = np.array([im.shape[0] for im in images], np.float64)
        # the chosen person's box and keypoints, crop pixels -> image pixels
        hw = [(im.shape[0], im.shape[1]) for im in images]
        cxcy = np.stack([posenet_xy_to_crop_px(pred.box_cxcywh[i, :2].float(), hw[i]).numpy() for i in range(len(hw))])
        corner = np.stack([posenet_xy_to_crop_px((pred.box_cxcywh[i, :2] + pred.box_cxcywh[i, 2:]).float(),
                                                 hw[i]).numpy() for i in range(len(hw))])
        box_crop = np.concatenate([cxcy, corner - cxcy], 1)  # the map is affine: sizes map like offsets
        kp_crop = np.stack([posenet_xy_to_crop_px(pred.keypoints_xy[i].float(), hw[i]).numpy() for i in range(len(hw))])
        kp_image = crop_to_image_px(kp_crop, crops.box_xyxy[:, None], crops.scale[:, None, None])
        score = pred.score.float().numpy()
        accept = (score >= self.settings.min_score) & np.isfinite(pred.pelvis_depth_m.float().numpy())
        if self.settings.require_centred:
            accept &= contains_centre(box_crop, side)
        with torch.no_grad():
            joints_b = self.body.joints(pred.betas, pred.global_orient, pred.body_pose).numpy().astype(np.float64)
        for f, packet in enumerate(packets):
            rows = np.flatnonzero((crops.frame == f) & accept)
            if len(rows):
                out[f] = self._frame_body(packet, np.asarray(cam_K[f], np.float64), rows, crops, pred,
                                          joints_b, kp_image)
        return out

    def _targets(self, packet: Packet, rows: np.ndarray, crops: _Crops, kp_image: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Body-joint indices (P, T), pixels (P, T, 2) and weights (P, T) of the camera solve's targets."""
        names = tuple(self.body.joint_names)
        kps = packet.keypoints
        if kps is not None and len(kps):
            spec = self._spec(kps.layout)
            where = {int(t): i for i, t in enumerate(kps.track_id)}
            found = np.array([where.get(int(t), -1) for t in crops.track_id[rows]])
            if (found >= 0).all() and spec.num_targets >= 4:
                xy = kps.xy_px[found][:, spec.keypoint_rows].astype(np.float64)
                conf = kps.conf[found][:, spec.keypoint_rows].astype(np.float64)
                weight = np.where(conf >= self.settings.min_kp_conf, conf, 0.0) * spec.weight
                joints = np.broadcast_to([names.index(p) for p in spec.point_names], weight.shape)
                return joints, xy, weight
        spec = self._coco
        xy = kp_image[rows][:, spec.keypoint_rows]
        inside = ((xy >= crops.box_xyxy[rows, None, :2]) & (xy <= crops.box_xyxy[rows, None, 2:])).all(-1)
        weight = inside * spec.weight.astype(np.float64)
        joints = np.broadcast_to([names.index(p) for p in spec.point_names], weight.shape)
        return joints, xy, weight

    def _solve(self, points: np.ndarray, xy: np.ndarray, weight: np.ndarray, principal: np.ndarray,
               prior: np.ndarray, noise: np.ndarray, focal_px: float | None, fallback_px: float, width: int
               ) -> CameraSolve:
        """Linear solve + Gauss-Newton; a free focal outside :data:`HFOV_RANGE_DEG` falls back to the fixed one."""
        s = self.settings
        low, high = (width / (2 * math.tan(math.radians(a) / 2)) for a in HFOV_RANGE_DEG[::-1])
        fell_back = focal_px is None
        if focal_px is None:
            solve = solve_camera(points, xy, weight, principal, prior, s.tz_std_m, noise, None, fallback_px)
            if solve.focal_ok and low <= solve.focal_px <= high:
                solve = refine_camera(solve, points, xy, weight, principal, prior, s.tz_std_m, noise, True,
                                      s.gauss_newton_steps)
                if low <= solve.focal_px <= high:
                    return solve
            focal_px = fallback_px
        solve = solve_camera(points, xy, weight, principal, prior, s.tz_std_calibrated_m, noise, focal_px)
        solve = refine_camera(solve, points, xy, weight, principal, prior, s.tz_std_calibrated_m, noise, False,
                              s.gauss_newton_steps)
        return dataclasses.replace(solve, focal_ok=False) if fell_back else solve

    def _frame_body(self, packet: Packet, K: np.ndarray, rows: np.ndarray, crops: _Crops, pred: Any,
                    joints_b: np.ndarray, kp_image: np.ndarray) -> BodyParams | None:
        s = self.settings
        width = packet.frame.width
        principal = K[:2, 2]
        calibrated = getattr(packet.calibration, "cam_K", None) is not None
        free = s.solve_focal and not calibrated and not self.known_focal
        joint_idx, xy, weight = self._targets(packet, rows, crops, kp_image)
        tz = pred.pelvis_depth_m.float().numpy()[rows].astype(np.float64)
        tz = np.where(tz < s.tz_saturation_m, tz, np.nan)
        noise = s.kp_noise * crops.height_px[rows]
        centre = 0.5 * (crops.box_xyxy[rows, :2] + crops.box_xyxy[rows, 2:])
        body = joints_b[rows]
        pelvis = body[:, :1]
        focal = float(K[0, 0])
        for _ in range(MAX_RAY_PASSES if free else 1):  # the viewing rays depend on the focal found
            previous = focal
            k_now = K.copy()
            k_now[0, 0] = k_now[1, 1] = focal
            joints = pelvis + np.einsum("pij,pkj->pki", ray_rotation(centre, k_now), body - pelvis)
            points = np.take_along_axis(joints, joint_idx[..., None], 1)
            solve = self._solve(points, xy, weight, principal, tz - joints[:, 0, 2], noise,
                                None if free else focal, float(K[0, 0]), width)
            focal, free = solve.focal_px, free and solve.focal_ok
            if abs(focal - previous) <= 1e-6 * previous:
                break
        ok = np.isfinite(solve.transl_m).all(1)
        if not ok.any():
            return None
        k_out = K.copy()
        k_out[0, 0] = k_out[1, 1] = focal
        ray = ray_rotation(centre, k_out)[ok]
        joints = pelvis[ok] + np.einsum("pij,pkj->pki", ray, body[ok] - pelvis[ok])
        r = rows[ok]
        orient = matrix_to_axis_angle(ray @ axis_angle_to_matrix_np(pred.global_orient.float().numpy()[r]
                                                                   .astype(np.float64)))
        score = pred.score.float().numpy()[r]
        # BLADE has no per-joint confidence: every joint gets the person score
        conf = np.broadcast_to(score[:, None], (len(r), len(BODY_JOINT_NAMES))).astype(np.float32)

        def f32(t: torch.Tensor) -> np.ndarray:
            return t.float().numpy()[r].astype(np.float32)

        transl = solve.transl_m[ok]
        return BodyParams(
            crops.track_id[r], f32(pred.betas), orient.astype(np.float32), f32(pred.body_pose),
            transl.astype(np.float32), k_out.astype(np.float32), np.ascontiguousarray(conf),
            (joints + transl[:, None]).astype(np.float32), f32(pred.left_hand_pose), f32(pred.right_hand_pose),
            f32(pred.jaw_pose), f32(pred.expression), body_model=self.body_model,
        )


# ---- construction -------------------------------------------------------------------------------
_value = functools.partial(in_range, prefix="mesh.blade")  # range-checked config numbers


def settings_from_config(blade: dict[str, Any]) -> BladeSettings:
    """:class:`BladeSettings` from the ``mesh.blade`` section (range-checked)."""
    return BladeSettings(
        crop_margin=_value(blade, "crop_margin", 1.0, 3.0),
        min_box_height_px=_value(blade, "min_box_height_px", 0.0),
        min_score=_value(blade, "min_score", 0.0, 1.0),
        require_centred=bool(blade["require_centred"]),
        solve_focal=bool(blade["solve_focal"]),
        tz_std_m=_value(blade, "tz_std_m", 1e-3),
        tz_std_calibrated_m=_value(blade, "tz_std_calibrated_m", 1e-3),
        tz_saturation_m=_value(blade, "tz_saturation_m", 0.0),
        kp_noise=_value(blade, "kp_noise", 1e-4, 1.0),
        min_kp_conf=_value(blade, "min_kp_conf", 0.0, 1.0),
        gauss_newton_steps=int(_value(blade, "gauss_newton_steps", 0, 100)),
    )


def build_blade_backend(section: dict[str, Any], device: str) -> BladeBackend:
    """Backend ``blade`` from the ``mesh:`` config section, on ``device`` ("cpu" | "cuda")."""
    from pathlib import Path

    from safetensors import SafetensorError

    from streamer.body import load_body_model
    from streamer.model_files import blade_checkpoint_path
    from streamer.models.blade import BladeCheckpointError, BladePredictor

    blade = section["blade"]
    settings = settings_from_config(blade)
    dtype = blade["dtype"]
    if dtype not in DTYPES:
        raise ConfigError(f"config key 'mesh.blade.dtype' must be one of {', '.join(DTYPES)}; got {dtype!r}")
    batch = int(_value(blade, "batch_size", 0, 1024))
    if section["body_model"] == "mannequin":
        raise ConfigError("mesh backend 'blade' predicts SMPL-X parameters and needs mesh.body_model smplx "
                          "(or auto with SMPLX_NEUTRAL.npz installed), not mannequin")
    body = load_body_model("smplx", smplx_path=section["smplx_path"] or None)  # raises when the file is missing
    path = Path(blade["checkpoint"]).expanduser() if blade["checkpoint"] else blade_checkpoint_path()
    if not path.is_file():
        raise InputError(f"BLADE checkpoint not found: {path} (set mesh.blade.checkpoint or STREAMER_BLADE; "
                         "`streamer doctor` checks it)")
    torch_device = torch.device(device)
    try:
        predictor = BladePredictor.from_checkpoint(path, device=torch_device, batch_size=max(batch, 1))
    except BladeCheckpointError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as exc:  # e.g. a broken .safetensors
        raise BladeCheckpointError(f"cannot read BLADE checkpoint {path}: "
                                   f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    if batch == 0:
        predictor.batch_size = auto_batch_size(torch_device, dtype)
    return BladeBackend(predictor, body, settings, dtype, known_focal=section["focal_px"] > 0)

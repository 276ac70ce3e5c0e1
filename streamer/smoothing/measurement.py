"""One frame's SMPL-X estimates turned into filter measurements with noise.

Shape legend: ``N`` tracked players in the frame; ``J`` = 22 filtered joints
(root/global_orient first, then the 21 body joints in SMPL-X order).

Noise model (variances, filter units):

* joint rotation std = ``rot_noise × size / conf`` — a keypoint model's pixel
  error is roughly constant, so the angle error of a limb grows as the player's
  box shrinks (``size = clip(ref_box_height / box_height, 0.5, 4)``) and as the
  joint's confidence drops; joints below ``min_joint_conf`` carry no measurement;
  a joint the fit placed from the keypoint model's 3D guess alone (a hidden limb,
  ``BodyParams.joint_world_only``) has ``hidden_rot_noise`` whatever the box: a
  metric 3D guess's angle error does not shrink as the player grows;
* root translation: ``transl_noise`` across the image (x, y) and ``depth_noise``
  along the optical axis (z), both × size / root confidence;
* shape: ``betas_noise × size / mean confidence`` for every coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.body.skeleton import SMPLX_PARENTS
from streamer.records import NUM_BETAS, NUM_BODY_JOINTS_WITH_ROOT, BodyParams, Tracks
from streamer.smoothing.params import SmoothingParams
from streamer.smoothing.rotations import quat_conj, quat_from_rotvec, quat_mul

#: joints the filter tracks: global_orient + body_pose
NUM_FILTERED_JOINTS = NUM_BODY_JOINTS_WITH_ROOT
#: the box-size factor on the noise is clipped to this range
SIZE_FACTOR_RANGE: tuple[float, float] = (0.5, 4.0)
#: parent of each filtered joint (-1: the root); parents come first
PARENTS: tuple[int, ...] = SMPLX_PARENTS[:NUM_FILTERED_JOINTS]


def segment_from_local(quat: np.ndarray) -> np.ndarray:
    """(..., J, 4) each joint's rotation relative to the camera (its segment's orientation)
    from (..., J, 4) rotations relative to the parent (SMPL-X ``global_orient`` + ``body_pose``)."""
    out = np.array(quat, np.float64, copy=True)
    for j in range(1, NUM_FILTERED_JOINTS):
        out[..., j, :] = quat_mul(out[..., PARENTS[j], :], quat[..., j, :])
    return out


def local_from_segment(quat: np.ndarray) -> np.ndarray:
    """The inverse of :func:`segment_from_local`."""
    out = np.array(quat, np.float64, copy=True)
    for j in range(1, NUM_FILTERED_JOINTS):
        out[..., j, :] = quat_mul(quat_conj(quat[..., PARENTS[j], :]), quat[..., j, :])
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Measurements:
    """Filter inputs for the N tracks of one frame (float64).

    Attributes:
        track_id: (N,) int64.
        quat: (N, J, 4) measured joint rotations (unit quaternions, w first).
        rot_var: (N, J) rotation noise variance per tangent axis, rad².
        rot_valid: (N, J) bool, joint confident enough to be measured.
        transl_m: (N, 3) root translation, metres, camera frame.
        transl_var: (N, 3) its noise variance per axis, m².
        transl_valid: (N,) bool.
        betas: (N, 10) shape coefficients.
        betas_var: (N,) noise variance of each coefficient.
    """

    track_id: np.ndarray
    quat: np.ndarray
    rot_var: np.ndarray
    rot_valid: np.ndarray
    transl_m: np.ndarray
    transl_var: np.ndarray
    transl_valid: np.ndarray
    betas: np.ndarray
    betas_var: np.ndarray

    def __len__(self) -> int:
        return len(self.track_id)


def box_heights_px(track_id: np.ndarray, tracks: Tracks | None) -> np.ndarray:
    """Box height (pixels) of each track id from the frame's tracks; NaN where unknown.

    Args:
        track_id: (N,) ids of the body rows.
        tracks: the frame's tracks (rows matched by id), or None.

    Returns:
        (N,) float64.
    """
    out = np.full(len(track_id), np.nan)
    if tracks is None or len(tracks) == 0:
        return out
    height = {int(t): float(b[3] - b[1]) for t, b in zip(tracks.track_id, tracks.xyxy_px, strict=True)}
    for row, tid in enumerate(track_id):
        out[row] = height.get(int(tid), np.nan)
    return out


def size_factor(box_height_px: np.ndarray, params: SmoothingParams) -> np.ndarray:
    """Noise multiplier ``(N,)`` from box heights; 1 where the height is unknown or not positive."""
    h = np.asarray(box_height_px, dtype=np.float64)
    known = np.isfinite(h) & (h > 0.0)
    factor = params.ref_box_height_px / np.where(known, h, params.ref_box_height_px)
    return np.clip(factor, *SIZE_FACTOR_RANGE)


def measurements_from_body(
    body: BodyParams, box_height_px: np.ndarray | None, params: SmoothingParams
) -> Measurements:
    """Measurements and their noise for every row of ``body``.

    Args:
        body: the frame's SMPL-X estimates (N rows).
        box_height_px: (N,) box height of each row in pixels (NaN = unknown), or None.
        params: the noise model.
    """
    n = len(body)
    if box_height_px is None:
        box_height_px = np.full(n, np.nan)
    factor = size_factor(box_height_px, params)  # (N,)
    conf = np.clip(np.asarray(body.joint_conf, dtype=np.float64), 0.0, 1.0)  # (N, J)
    rot_valid = conf >= max(params.min_joint_conf, 1e-6)
    safe_conf = np.maximum(conf, max(params.min_joint_conf, 1e-6))
    rot_std = params.rot_noise_rad * factor[:, None] / safe_conf
    if body.joint_world_only is not None:
        rot_std = np.where(np.asarray(body.joint_world_only, bool), params.hidden_rot_noise_rad, rot_std)
    rotvec = np.concatenate(
        (np.asarray(body.global_orient, np.float64)[:, None], np.asarray(body.body_pose, np.float64)), axis=1
    )
    root_conf = safe_conf[:, 0]
    axis_noise = np.array([params.transl_noise_m, params.transl_noise_m, params.depth_noise_m])
    transl_std = axis_noise[None, :] * (factor / root_conf)[:, None]
    mean_conf = np.maximum(conf.mean(axis=1), max(params.min_joint_conf, 1e-6)) if n else np.ones(0)
    betas_std = params.betas_noise * factor / mean_conf
    transl = np.asarray(body.transl, np.float64)
    betas = np.asarray(body.betas, np.float64)
    finite_rot = np.all(np.isfinite(rotvec), axis=-1)
    finite_t = np.all(np.isfinite(transl), axis=-1)
    finite_b = np.all(np.isfinite(betas), axis=-1)
    quat = quat_from_rotvec(np.where(finite_rot[..., None], rotvec, 0.0))
    return Measurements(
        track_id=np.asarray(body.track_id, np.int64),
        quat=segment_from_local(quat) if params.segment_rotations else quat,
        rot_var=rot_std**2,
        rot_valid=rot_valid & finite_rot,
        transl_m=np.where(finite_t[:, None], transl, 0.0),
        transl_var=transl_std**2,
        transl_valid=rot_valid[:, 0] & finite_t,
        betas=np.where(finite_b[:, None], betas, 0.0).reshape(n, NUM_BETAS),
        betas_var=np.where(finite_b, betas_std**2, np.inf),
    )

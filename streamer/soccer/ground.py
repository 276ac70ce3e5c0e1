"""Where players stand: ground points in the image, on the pitch, and whole bodies in pitch axes.

Shape legend: ``N`` players; ``J`` body joints (SMPL-X order, camera frame).

A player's ground point is the spot on the grass under the pelvis. With a body mesh and a
calibration (which gives the vertical in camera axes), it is built in 3D: from the pelvis,
down along the vertical by the pelvis's height above the lowest foot joint plus the
height a foot joint sits above the sole (:data:`FOOT_JOINT_HEIGHT_M`), then projected
with the mesh's intrinsics. Otherwise it is the middle of the box's bottom edge. The
calibration's homography takes the pixel to pitch metres. Going through the pixel uses
only the mesh's shape and direction, never its monocular depth (the least reliable part
of a single-view fit), and the pelvis moves smoothly where a stance foot would jump a
stride at every step.

A whole body goes to the pitch frame by rotation only: the camera → pitch rotation of the
calibrated camera turns the joints into pitch axes, then the body is placed so its pelvis
stands over the player's ground point and its lowest foot joint sits
:data:`FOOT_JOINT_HEIGHT_M` above the grass.
"""

from __future__ import annotations

import numpy as np

from streamer.records import BodyParams, PitchCalibration
from streamer.soccer.angles import JOINT
from streamer.soccer.homography import apply_homography, camera_from_homography

#: height of SMPL-X's ankle/foot joints above the sole of a foot on the grass (metres)
FOOT_JOINT_HEIGHT_M = 0.05
#: a box whose bottom edge lies within this of the frame's bottom edge (px at 720 rows) may go
#: on below it (:func:`feet_cut`). Boxes are clipped to the frame, so a person cut by the edge
#: ends within 1 px of it (101 of 2119 track rows of broadcast_cuts_pitchside, 145 of 576 of
#: broadcast_white_kits; the next 11 px hold under 1 % of the rows); the rest absorbs jitter
FEET_CUT_PX = 3.0
_PELVIS = JOINT["pelvis"]
_LOW = (JOINT["left_ankle"], JOINT["right_ankle"], JOINT["left_foot"], JOINT["right_foot"])


def box_ground_px(boxes_xyxy: np.ndarray) -> np.ndarray:
    """(N, 2) middle of each box's bottom edge (pixels)."""
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    return np.column_stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]])


def feet_cut(boxes_xyxy: np.ndarray, image_rows: int) -> np.ndarray:
    """(N,) bool: boxes of (N, 4) reaching the frame's bottom edge (within :data:`FEET_CUT_PX`).

    Such a person may stand below the frame (a steward cut at the knees by a wide shot's
    bottom edge): the box's bottom is where the frame ends, not where the feet are, and a
    pitch position from it lies nearer the camera than the person by an unknown amount. So
    no ground point is taken from it, the mesh's included (its hidden legs are a guess).
    """
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    return b[:, 3] >= image_rows - FEET_CUT_PX * image_rows / 720.0


def project(points_cam_m: np.ndarray, cam_k: np.ndarray) -> np.ndarray:
    """(..., 2) pixels of (..., 3) camera-frame points (NaN behind the camera)."""
    p = np.asarray(points_cam_m, np.float64)
    uvw = p @ np.asarray(cam_k, np.float64).T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = uvw[..., :2] / uvw[..., 2:3]
    out[p[..., 2] <= 1e-6] = np.nan
    return out


def grass_under_pelvis_cam(joints_cam_m: np.ndarray, up_cam: np.ndarray) -> np.ndarray:
    """(N, 3) camera-frame point on the grass under each pelvis, from (N, J, 3) joints.

    Args:
        up_cam: (3,) unit vertical (pitch +z) in camera axes.
    """
    j = np.asarray(joints_cam_m, np.float64)
    up = np.asarray(up_cam, np.float64)
    pelvis = j[:, _PELVIS]
    drop = pelvis @ up - (j[:, _LOW] @ up).min(axis=1) + FOOT_JOINT_HEIGHT_M
    return pelvis - drop[:, None] * up


def ground_points_px(
    boxes_xyxy: np.ndarray, track_ids: np.ndarray, body: BodyParams | None, up_cam: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each tracked player's ground point.

    Args:
        boxes_xyxy: (N, 4) the frame's track boxes; track_ids: (N,) their ids.
        body: the frame's body parameters (rows matched by track id), or None.
        up_cam: (3,) the vertical in the mesh's camera axes, or None (no mesh ground points).

    Returns:
        ground_px: (N, 2) pixels.
        from_mesh: (N,) bool, True where the mesh gave the point.
    """
    ground = box_ground_px(boxes_xyxy)
    from_mesh = np.zeros(len(ground), bool)
    if body is None or body.joints_cam_m is None or len(body) == 0 or up_cam is None:
        return ground, from_mesh
    row = {int(t): i for i, t in enumerate(body.track_id)}
    under = project(grass_under_pelvis_cam(body.joints_cam_m, up_cam), body.cam_K)
    for i, tid in enumerate(np.asarray(track_ids)):
        j = row.get(int(tid))
        if j is not None and np.isfinite(under[j]).all():
            ground[i], from_mesh[i] = under[j], True
    return ground, from_mesh


def box_height_ratio(boxes_xyxy: np.ndarray, min_boxes: int = 6) -> np.ndarray:
    """(N,) each box's height over the frame's perspective trend; NaN with too few boxes.

    Players lower in a broadcast frame are nearer and taller: box height against foot row
    is close to a line. It is fitted robustly to all boxes of the frame (iteratively
    reweighted least squares, residuals in log ratio); a box far above it holds two players
    (its bottom edge may be the other player's feet), one far below is a fragment.
    """
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    height, foot = b[:, 3] - b[:, 1], b[:, 3]
    if len(b) < min_boxes or np.ptp(foot) < 1e-6:
        return np.full(len(b), np.nan)
    design = np.column_stack([foot, np.ones_like(foot)])
    weight = np.ones(len(b))
    ratio = np.ones(len(b))
    for _ in range(4):
        coef = np.linalg.lstsq(design * weight[:, None], height * weight, rcond=None)[0]
        expected = np.maximum(design @ coef, 1.0)
        ratio = height / expected
        weight = 1.0 / np.maximum(1.0, np.abs(np.log(np.maximum(ratio, 1e-6))) / 0.15)
    return ratio


def pitch_points(calibration: PitchCalibration | None, ground_px: np.ndarray) -> np.ndarray:
    """(N, 2) pitch metres of (N, 2) image points; NaN without a calibration."""
    if calibration is None:
        return np.full((len(ground_px), 2), np.nan)
    return apply_homography(calibration.image_to_pitch, ground_px)


def camera_rotation(calibration: PitchCalibration, fallback_k: np.ndarray | None) -> np.ndarray | None:
    """(3, 3) pitch → camera rotation of a calibration (its own intrinsics, else ``fallback_k``)."""
    cam_k = calibration.cam_K if calibration.cam_K is not None else fallback_k
    if cam_k is None:
        return None
    pose = camera_from_homography(np.linalg.inv(calibration.image_to_pitch), cam_k)
    return None if pose is None else pose[0]


def body_in_pitch(
    joints_cam_m: np.ndarray, rot_pitch_to_cam: np.ndarray, ground_xy_m: np.ndarray
) -> np.ndarray:
    """(N, J, 3) joints in pitch metres (z up), the pelvis over ``ground_xy_m`` (N, 2).

    Args:
        joints_cam_m: (N, J, 3) camera-frame joints.
        rot_pitch_to_cam: (3, 3) rotation R with x_cam = R x_pitch + t.
    """
    j = np.asarray(joints_cam_m, np.float64) @ np.asarray(rot_pitch_to_cam, np.float64)  # R^T x, row-wise
    lowest = j[:, _LOW, 2].min(axis=1)
    shift = np.column_stack(
        [np.asarray(ground_xy_m, np.float64) - j[:, _PELVIS, :2], FOOT_JOINT_HEIGHT_M - lowest]
    )
    return j + shift[:, None, :]

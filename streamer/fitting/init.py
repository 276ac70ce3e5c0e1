"""Initial guesses so that few iterations suffice: root orientation, limbs, translation.

Shape legend: ``N`` player-frames; ``T`` targets; ``B`` = 22 body joints.

1. **Root orientation** — a weighted Kabsch fit of the model's rest torso (hips and
   shoulders about their centroid) onto the same four points of the metric 3D keypoints
   (BlazePose world landmarks turned into the camera frame). Without 3D keypoints the 2D
   torso, flattened onto the image plane, stands in (facing the camera or away, by which
   side each shoulder is on); a track's previous result beats that.
2. **Limbs** — analytic inverse kinematics from the 3D keypoints: the knee (elbow) flexion
   is the angle between thigh and shank (upper arm and forearm), about the hinge axis; the
   hip (shoulder) rotation is the minimal swing that points the thigh (upper arm) along its
   measured direction, then the twist about it that turns the shank (forearm) toward its
   own; a straight limb keeps its previous twist, which it does not show.
3. **Translation** — weak perspective first (depth from the ratio of the posed model's spread
   in metres to the keypoints' spread in pixels: robust to any point layout), then the exact
   perspective linear least squares (:func:`~streamer.fitting.camera.solve_translation`),
   kept only where it agrees with the first within :data:`_DEPTH_AGREEMENT`: with a few
   badly spread points of a 20 px player its system is near singular.
"""

from __future__ import annotations

import numpy as np
import torch

from streamer.body.skeleton import BODY_JOINT_NAMES, SMPLX_PARENTS
from streamer.fitting.camera import solve_translation, weak_perspective_translation
from streamer.fitting.skeleton import FitSkeleton
from streamer.fitting.targets import TargetSpec

_J = {name: k for k, name in enumerate(BODY_JOINT_NAMES)}
#: least confidence of the 3D points the limb inverse kinematics uses
IK_MIN_CONF = 0.3
#: the perspective translation is kept where its depth is within this share of the weak-perspective one
_DEPTH_AGREEMENT = 0.3
TORSO = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
#: (upper joint, hinge joint, end joint, hinge axis, flexion sign) of each limb
LIMBS = tuple(
    (f"{s}_{a}", f"{s}_{b}", f"{s}_{c}", axis, sign)
    for s, side_sign in (("left", 1.0), ("right", -1.0))
    for a, b, c, axis, sign in (("hip", "knee", "ankle", 0, 1.0),
                                ("shoulder", "elbow", "wrist", 1, -side_sign))
)


def kabsch(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, centre: bool = True) -> np.ndarray:
    """(N, 3, 3) rotations R minimising sum_p w_p |R src_p - dst_p|^2 (after weighted centring).

    Args:
        src, dst: (N, P, 3). weight: (N, P) >= 0.
        centre: remove each set's weighted centroid first (False for direction vectors).
    """
    w = weight[..., None].astype(np.float64)
    if centre:
        total = np.maximum(w.sum(1, keepdims=True), 1e-12)
        src = src - (w * src).sum(1, keepdims=True) / total
        dst = dst - (w * dst).sum(1, keepdims=True) / total
    cov = np.einsum("npi,npj->nij", w * dst, src)  # sum w dst src^T
    u, _, vt = np.linalg.svd(cov)
    fix = np.ones((len(cov), 3))
    fix[:, 2] = np.sign(np.linalg.det(u @ vt))
    fix[fix == 0] = 1.0
    return (u * fix[:, None, :]) @ vt


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices → (..., 3) axis-angle (radians), stable near 0 and pi."""
    from scipy.spatial.transform import Rotation

    flat = rot.reshape(-1, 3, 3)
    return Rotation.from_matrix(flat).as_rotvec().reshape(*rot.shape[:-2], 3)


def axis_angle_to_matrix_np(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle → (..., 3, 3)."""
    from scipy.spatial.transform import Rotation

    flat = axis_angle.reshape(-1, 3)
    return Rotation.from_rotvec(flat).as_matrix().reshape(*axis_angle.shape[:-1], 3, 3)


def torso_orientation(
    skeleton: FitSkeleton, betas: np.ndarray, torso_cam: np.ndarray, torso_conf: np.ndarray
) -> np.ndarray:
    """(N, 3, 3) root rotations fitting the rest torso to measured hips and shoulders.

    Args:
        betas: (N, 10). torso_cam: (N, 4, 3) left/right hip, left/right shoulder in camera
            axes (any origin, any scale close to metric). torso_conf: (N, 4).
    """
    rest = skeleton.rest_joints(torch.as_tensor(betas, dtype=torch.float32)).numpy()
    src = rest[:, [_J[n] for n in TORSO]]
    return kabsch(src.astype(np.float64), torso_cam.astype(np.float64), torso_conf)


def flat_torso(xy_px: np.ndarray, metres_per_px: np.ndarray) -> np.ndarray:
    """(N, 4, 3) pseudo-3D torso from (N, 4, 2) pixels: the image plane at depth 0."""
    flat = np.concatenate([xy_px, np.zeros((*xy_px.shape[:-1], 1))], -1)
    return flat * metres_per_px[:, None, None]


def _rodrigues(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations by ``angle`` (N,) about unit ``axis`` (N, 3)."""
    return axis_angle_to_matrix_np(axis * angle[:, None])


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3, 3) minimal rotations turning unit vectors ``a`` (N, 3) onto unit ``b`` (N, 3)."""
    cross = np.cross(a, b)
    sin = np.linalg.norm(cross, axis=1)
    angle = np.arctan2(sin, (a * b).sum(1))
    # antiparallel: any axis perpendicular to a
    helper = np.where(np.abs(a[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
    fallback = np.cross(a, helper)
    axis = np.where((sin > 1e-9)[:, None], cross, fallback)
    axis /= np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-12)
    return _rodrigues(axis, angle)


def _limb_world(current: np.ndarray, bone1: np.ndarray, bone2: np.ndarray, d1: np.ndarray, d2: np.ndarray,
                twist_share: np.ndarray) -> np.ndarray:
    """World rotations of a limb's upper joint pointing ``bone1`` along ``d1`` and ``bone2`` toward ``d2``.

    First the minimal swing from ``current`` that aligns the upper segment (its twist is kept),
    then a twist about ``d1`` that turns the lower segment toward ``d2``, scaled by
    ``twist_share`` (N,) in [0, 1]: a straight limb says nothing about its twist.

    Args:
        current: (N, 3, 3) the joint's world rotation now.
        bone1, bone2: (N, 3) the two segments in the joint's own frame.
        d1, d2: (N, 3) their measured unit directions, camera axes.
    """
    unit1 = bone1 / np.maximum(np.linalg.norm(bone1, axis=1, keepdims=True), 1e-9)
    swung = swing(np.einsum("nij,nj->ni", current, unit1), d1) @ current
    v = np.einsum("nij,nj->ni", swung, bone2)
    v_perp = v - (v * d1).sum(1, keepdims=True) * d1
    d_perp = d2 - (d2 * d1).sum(1, keepdims=True) * d1
    angle = np.arctan2((np.cross(v_perp, d_perp) * d1).sum(1), (v_perp * d_perp).sum(1))
    return _rodrigues(d1, angle * twist_share) @ swung


def hinge_angle(bone1: np.ndarray, bone2: np.ndarray, axis: np.ndarray, cos_target: np.ndarray, sign: float
                ) -> np.ndarray:
    """(N,) hinge rotations about ``axis`` giving the measured angle between two segments.

    Solves ``u1 . R(theta) u2 = cos_target`` for unit rest segments u1 (upper, fixed) and u2
    (lower, turned by the hinge): ``C + A cos(theta) + B sin(theta) = cos_target``. Of the two
    solutions the one bending the anatomical way (``sign * theta >= 0``, smallest) is taken;
    out-of-reach targets clip to the nearest reachable angle.

    Args:
        bone1, bone2: (N, 3) rest segments in the hinge joint's frame. axis: (3,) unit hinge axis.
        cos_target: (N,) cosine of the measured angle between the segments' directions.
        sign: +1 where flexion is a positive rotation, -1 where negative.
    """
    u1 = bone1 / np.maximum(np.linalg.norm(bone1, axis=1, keepdims=True), 1e-9)
    u2 = bone2 / np.maximum(np.linalg.norm(bone2, axis=1, keepdims=True), 1e-9)
    par = (u2 @ axis)[:, None] * axis
    perp = u2 - par
    c = (u1 * par).sum(1)
    a = (u1 * perp).sum(1)
    b = (u1 * np.cross(axis, perp)).sum(1)
    amp = np.maximum(np.hypot(a, b), 1e-9)
    phi = np.arctan2(b, a)
    delta = np.arccos(np.clip((cos_target - c) / amp, -1.0, 1.0))
    cands = np.stack([phi + delta, phi - delta], 1)
    cands = (cands + np.pi) % (2 * np.pi) - np.pi
    flex = sign * cands
    score = np.where(flex >= -0.05, flex, 10.0 + np.abs(flex))  # anatomical first, then the smaller
    return cands[np.arange(len(cands)), score.argmin(1)]


def limb_ik(
    skeleton: FitSkeleton, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
    joints_cam: dict[str, np.ndarray], conf: dict[str, np.ndarray], min_conf: float = IK_MIN_CONF,
) -> np.ndarray:
    """Body pose with hips, knees, shoulders and elbows set from measured 3D limb points.

    Args:
        betas: (N, 10). global_orient: (N, 3). body_pose: (N, 21, 3) initial guess (its
            spine and collars place the shoulders; its limb twists are kept where free).
        joints_cam: name → (N, 3) measured points in camera axes (any common origin).
        conf: name → (N,) their confidences; a limb is set only where its three points reach
            ``min_conf``.

    Returns:
        (N, 21, 3) float32 body pose.
    """
    pose = body_pose.astype(np.float64).copy()
    n = len(pose)
    rest = skeleton.rest_joints(torch.as_tensor(betas, dtype=torch.float32)).numpy().astype(np.float64)
    local = axis_angle_to_matrix_np(np.concatenate([global_orient[:, None], pose], 1))  # (N, 22, 3, 3)
    with torch.no_grad():
        world = skeleton.pose_matrices(torch.as_tensor(betas, dtype=torch.float32),
                                       torch.as_tensor(local, dtype=torch.float32), torch.zeros(n, 3)
                                       ).rotations.numpy().astype(np.float64)
    for upper, hinge, end, axis, sign in LIMBS:
        if not all(k in joints_cam for k in (upper, hinge, end)):
            continue
        upper_ok = np.minimum(conf[upper], conf[hinge]) >= min_conf
        full_ok = upper_ok & (conf[end] >= min_conf)
        if not upper_ok.any():
            continue
        u, h, e = _J[upper], _J[hinge], _J[end]
        d1 = joints_cam[hinge] - joints_cam[upper]
        d2 = joints_cam[end] - joints_cam[hinge]
        n1, n2 = np.linalg.norm(d1, axis=1), np.linalg.norm(d2, axis=1)
        upper_ok &= n1 > 1e-6
        full_ok &= upper_ok & (n2 > 1e-6)
        d1, d2 = d1 / np.maximum(n1, 1e-6)[:, None], d2 / np.maximum(n2, 1e-6)[:, None]
        bone1 = rest[:, h] - rest[:, u]
        hinge_aa = np.zeros((n, 3))
        hinge_aa[:, axis] = hinge_angle(bone1, rest[:, e] - rest[:, h], np.eye(3)[axis], (d1 * d2).sum(1),
                                        sign)
        # without the end point the hinge keeps its guess and only the upper segment is aimed
        hinge_rot = np.where(full_ok[:, None, None], axis_angle_to_matrix_np(hinge_aa), local[:, h])
        # a straight limb shows no twist: follow the lower segment only as far as it is bent
        bend = np.where(full_ok, np.arccos(np.clip((d1 * d2).sum(1), -1.0, 1.0)), 0.0)
        bone2 = np.einsum("nij,nj->ni", hinge_rot, rest[:, e] - rest[:, h])
        parent = world[:, SMPLX_PARENTS[u]]
        upper_world = _limb_world(parent @ local[:, u], bone1, bone2, d1, d2, np.clip(bend / 0.15, 0.0, 1.0))
        upper_local = parent.transpose(0, 2, 1) @ upper_world
        ok = upper_ok
        local[ok, u] = upper_local[ok]
        local[ok, h] = hinge_rot[ok]
        world[ok, u] = parent[ok] @ upper_local[ok]
        world[ok, h] = world[ok, u] @ hinge_rot[ok]
    return matrix_to_axis_angle(local[:, 1:]).astype(np.float32)


def initial_translation(
    skeleton: FitSkeleton, spec: TargetSpec, betas: np.ndarray, global_orient: np.ndarray,
    body_pose: np.ndarray,
    xy_px: np.ndarray, weight: np.ndarray, K: np.ndarray,
) -> np.ndarray:
    """(N, 3) translations putting the posed targets on their (N, T, 2) pixels (NaN if unsolvable)."""
    with torch.no_grad():
        posed = skeleton.pose(torch.as_tensor(betas, dtype=torch.float32),
                              torch.as_tensor(global_orient, dtype=torch.float32),
                              torch.as_tensor(body_pose, dtype=torch.float32), torch.zeros(len(betas), 3))
    points = posed.points.numpy()[:, [skeleton.index(p) for p in spec.point_names]].astype(np.float64)
    weak = weak_perspective_translation(points, xy_px, weight, K)
    exact = solve_translation(points, xy_px, weight, K)
    agree = np.abs(exact[:, 2] / weak[:, 2] - 1.0) <= _DEPTH_AGREEMENT  # False where either is NaN
    return np.where(agree[:, None], exact, weak)


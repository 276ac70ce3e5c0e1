"""Synthetic ground truth for the fitter: plausible bodies, a known camera, keypoints, metrics.

Shape legend: ``N`` players (or player-frames); ``K`` keypoints of the layout; ``B`` = 22.

:func:`random_bodies` poses bodies from a walking or running gait at a random phase, adds
per-joint noise inside the prior's ranges, and stands them on a pitch seen by a broadcast
camera tilted down, at random headings, image positions and pixel heights.
:func:`observe` turns them into what the keypoint stage gives: 2D keypoints of a layout
projected through the known camera and root-relative metric 3D (``world_m``) in the frame
that looks straight at the player, as BlazePose's world landmarks are; joints the body model
lacks get confidence 0. :func:`add_noise` adds what a keypoint model gets wrong.

Used by ``tests/test_fitting.py`` and ``tools/bench_mesh_fit.py``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from streamer.body.model import BodyModel
from streamer.body.skeleton import NUM_BODY_JOINTS, NUM_BODY_JOINTS_WITH_ROOT
from streamer.fitting.camera import ray_rotation
from streamer.fitting.init import axis_angle_to_matrix_np, matrix_to_axis_angle
from streamer.fitting.landmarks import model_landmarks
from streamer.fitting.priors import POSE_HIGH, POSE_LOW, POSE_STD
from streamer.pose.layouts import get_layout
from streamer.render.camera import intrinsics
from testkit.motion import RUN, WALK, gait_motion

#: per-joint pose noise added to the gait, as a share of the prior's std
_POSE_NOISE_SHARE = 0.5


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticBodies:
    """Ground-truth SMPL-X parameters in the camera frame and the camera.

    Attributes:
        betas: (N, 10). global_orient: (N, 3). body_pose: (N, 21, 3). transl: (N, 3).
        K: (3, 3). width / height: image size in pixels.
    """

    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    K: np.ndarray
    width: int
    height: int


def random_bodies(
    rng: np.random.Generator, n: int, height_px: tuple[float, float] = (30.0, 200.0), *,
    width: int = 1920, image_height: int = 1080, focal_px: float = 3600.0, betas_std: float = 0.8,
) -> SyntheticBodies:
    """``n`` plausible players seen by a broadcast camera (see the module docstring)."""
    times = rng.uniform(0.0, 2.0, n)
    pose = np.empty((n, NUM_BODY_JOINTS, 3))
    for i, t in enumerate(times):
        pose[i] = gait_motion(np.array([t]), RUN if rng.random() < 0.5 else WALK).body_pose[0, 0]
    pose += rng.normal(size=pose.shape) * POSE_STD * _POSE_NOISE_SHARE
    pose = np.clip(pose, POSE_LOW, POSE_HIGH)
    heading = rng.uniform(-math.pi, math.pi, n)
    tilt = np.radians(rng.uniform(8.0, 25.0, n))
    lean = rng.normal(0.0, 0.08, (n, 3))
    cam_from_world = axis_angle_to_matrix_np(np.stack([math.pi + tilt, 0 * tilt, 0 * tilt], 1))
    yaw = axis_angle_to_matrix_np(np.stack([0 * heading, heading, 0 * heading], 1))
    body = yaw @ axis_angle_to_matrix_np(lean)
    go = matrix_to_axis_angle(cam_from_world @ body)
    K = intrinsics(focal_px, width, image_height)
    pixels = rng.uniform([0.1 * width, 0.15 * image_height], [0.9 * width, 0.85 * image_height], (n, 2))
    depth = focal_px * 1.7 / rng.uniform(*height_px, n)  # a ~1.7 m player spans height_px pixels
    ray = np.stack([(pixels[:, 0] - K[0, 2]) / focal_px, (pixels[:, 1] - K[1, 2]) / focal_px, np.ones(n)], 1)
    return SyntheticBodies(
        betas=(rng.normal(size=(n, 10)) * betas_std).astype(np.float32), global_orient=go.astype(np.float32),
        body_pose=pose.astype(np.float32), transl=(ray * depth[:, None]).astype(np.float32),
        K=K, width=width, height=image_height,
    )


def random_sequences(
    rng: np.random.Generator, players: int, frames: int, fps: float = 25.0,
    height_px: tuple[float, float] = (30.0, 200.0), *, width: int = 1920, image_height: int = 1080,
    focal_px: float = 3600.0, betas_std: float = 0.8,
) -> tuple[SyntheticBodies, np.ndarray]:
    """``players`` walking or running players over ``frames`` frames (player-major rows).

    Each player follows :func:`~testkit.motion.gait_motion` (random gait, phase,
    heading and camera tilt) with a constant per-joint pose offset and his own shape, placed
    at a random image position and pixel height; rows are ``player * frames + frame``.

    Returns:
        the bodies (N = players * frames) and (N,) frame times in seconds.
    """
    times = np.arange(frames) / fps
    parts: list[tuple[np.ndarray, ...]] = []
    K = intrinsics(focal_px, width, image_height)
    for _ in range(players):
        spec = dataclasses.replace(RUN if rng.random() < 0.5 else WALK, heading_deg=rng.uniform(-180, 180),
                                   phase=rng.uniform(0, 2 * math.pi), camera_tilt_deg=rng.uniform(8, 25))
        motion = gait_motion(times, spec)
        offset = rng.normal(size=(NUM_BODY_JOINTS, 3)) * POSE_STD * _POSE_NOISE_SHARE
        pose = np.clip(motion.body_pose[0] + offset, POSE_LOW, POSE_HIGH)
        pixel = rng.uniform([0.1 * width, 0.15 * image_height], [0.9 * width, 0.85 * image_height])
        depth = focal_px * 1.7 / rng.uniform(*height_px)
        start = np.array([(pixel[0] - K[0, 2]) / focal_px, (pixel[1] - K[1, 2]) / focal_px, 1.0]) * depth
        transl = start + motion.transl[0] - motion.transl[0, :1]
        betas = np.broadcast_to(rng.normal(size=10) * betas_std, (frames, 10))
        parts.append((betas, motion.global_orient[0], pose, transl))
    betas, go, pose, transl = (np.concatenate([p[k] for p in parts]).astype(np.float32) for k in range(4))
    return (SyntheticBodies(betas, go, pose, transl, K, width, image_height),
            np.tile(times, players))


@dataclass(frozen=True, slots=True, eq=False)
class Observation:
    """Keypoints of synthetic bodies (fields as in :class:`~streamer.records.Keypoints`).

    Attributes:
        xy_px: (N, K, 2). conf: (N, K). world_m: (N, K, 3). joints_cam_m: (N, 22, 3) truth.
    """

    xy_px: np.ndarray
    conf: np.ndarray
    world_m: np.ndarray
    joints_cam_m: np.ndarray


def observe(body: BodyModel, truth: SyntheticBodies, layout: str = "blazepose33") -> Observation:
    """Exact keypoints of ``truth`` posed by ``body`` (points the model lacks: confidence 0).

    Surface landmarks the model does not return as joints (the mannequin's nose, toes...) are
    read off its posed, skinned mesh at the vertices :func:`~streamer.fitting.landmarks.model_landmarks`
    picks — the fitter itself only carries them rigidly.
    """
    spec = get_layout(layout)
    landmarks = model_landmarks(body)
    with torch.no_grad():
        if landmarks:
            out = body.forward(truth.betas, truth.global_orient, truth.body_pose, truth.transl)
            joints, vertices = out.joints.numpy(), out.vertices.numpy()
        else:
            joints = body.joints(truth.betas, truth.global_orient, truth.body_pose, truth.transl).numpy()
    n, k = len(joints), spec.num_keypoints
    points = np.zeros((n, k, 3), np.float64)
    conf = np.zeros((n, k), np.float32)
    names = body.joint_names
    for keypoint, target in spec.smplx_pairs:
        if target in names:
            points[:, spec.index(keypoint)] = joints[:, names.index(target)]
        elif target in landmarks:
            points[:, spec.index(keypoint)] = vertices[:, landmarks[target]]
        else:
            continue
        conf[:, spec.index(keypoint)] = 1.0
    points[conf == 0] = truth.transl[np.nonzero(conf == 0)[0]]  # placeholder in front of the camera
    uv = points @ truth.K.T
    xy = (uv[..., :2] / uv[..., 2:]).astype(np.float32)
    hips = spec.indices("left_hip", "right_hip")
    centre_cam = points[:, hips].mean(1)
    centre_px = xy[:, hips].mean(1)
    to_ray = ray_rotation(centre_px.astype(np.float64), truth.K).transpose(0, 2, 1)
    world = np.einsum("nij,nkj->nki", to_ray, points - centre_cam[:, None])
    world[conf == 0] = 0.0
    xy[conf == 0] = 0.0
    truth_joints = joints[:, :NUM_BODY_JOINTS_WITH_ROOT].astype(np.float32)
    return Observation(xy, conf, world.astype(np.float32), truth_joints)


@dataclass(frozen=True, slots=True)
class KeypointNoise:
    """What a keypoint model gets wrong.

    Attributes:
        px_share: 2D error std as a share of the player's pixel height.
        min_px: 2D error std floor in pixels (quantisation of a small crop).
        world_m: 3D error std per axis (metres).
        low_conf_rate: share of keypoints given a low confidence (0.05-0.35) and 4x the error.
        missing_rate: share of keypoints reported missing (confidence 0).
    """

    px_share: float = 0.015
    min_px: float = 0.7
    world_m: float = 0.03
    low_conf_rate: float = 0.1
    missing_rate: float = 0.05


def add_noise(obs: Observation, height_px: np.ndarray, noise: KeypointNoise, rng: np.random.Generator
              ) -> Observation:
    """``obs`` with realistic errors; ``height_px`` (N,) the players' pixel heights."""
    n, k = obs.conf.shape
    std = np.maximum(noise.px_share * height_px, noise.min_px)[:, None, None]
    conf = obs.conf * rng.uniform(0.7, 1.0, (n, k)).astype(np.float32)
    low = rng.random((n, k)) < noise.low_conf_rate
    conf = np.where(low, conf * rng.uniform(0.05, 0.35, (n, k)), conf)
    scale = np.where(low, 4.0, 1.0)[..., None]
    xy = obs.xy_px + rng.normal(size=obs.xy_px.shape) * std * scale
    world = obs.world_m + rng.normal(size=obs.world_m.shape) * noise.world_m * scale
    missing = rng.random((n, k)) < noise.missing_rate
    conf = np.where(missing, 0.0, conf)
    return Observation(xy.astype(np.float32), conf.astype(np.float32), world.astype(np.float32),
                       obs.joints_cam_m)


def pixel_height(obs: Observation) -> np.ndarray:
    """(N,) vertical extent of each player's keypoints (pixels)."""
    y = np.where(obs.conf > 0, obs.xy_px[..., 1], np.nan)
    return np.nanmax(y, 1) - np.nanmin(y, 1)


def mpjpe_mm(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) mean joint error after aligning the roots (joint 0), millimetres; (N, B, 3) inputs."""
    return 1000.0 * np.linalg.norm((pred - pred[:, :1]) - (truth - truth[:, :1]), axis=-1).mean(1)


def procrustes_errors_mm(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, B) per-joint errors (mm) after the best similarity transform of each pose (Procrustes)."""
    p = pred - pred.mean(1, keepdims=True)
    t = truth - truth.mean(1, keepdims=True)
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", p, t))
    sign = np.sign(np.linalg.det(u @ vt))
    s[:, 2] *= sign
    u[:, :, 2] *= sign[:, None]
    rot = u @ vt  # maps p onto t: p @ rot
    scale = s.sum(1) / (p**2).sum((1, 2))
    aligned = scale[:, None, None] * p @ rot
    return 1000.0 * np.linalg.norm(aligned - t, axis=-1)


def pa_mpjpe_mm(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) mean joint error after the best similarity transform (Procrustes), millimetres."""
    return procrustes_errors_mm(pred, truth).mean(1)


# -- bent poses, hidden limbs: the generated evaluation of tools/eval_mesh_synth.py ----------------

#: far-side keypoints a side view hides (BlazePose names without the side prefix)
HIDDEN_LIMB_POINTS = ("knee", "ankle", "heel", "foot_index", "elbow", "wrist", "pinky", "index", "thumb")
#: far-side body joints a side view hides (SMPL-X names without the side prefix)
HIDDEN_LIMB_JOINTS = ("knee", "ankle", "foot", "elbow", "wrist")


@dataclass(frozen=True, slots=True)
class BendSpec:
    """A deep squat or a lunge repeated in place, seen by a low static camera.

    Angles in degrees at the bottom of the movement (0 standing); ``lunge`` puts one leg
    forward (hip ``hip_deg``, knee ``knee_deg``) and the other back (hip extended
    ``back_hip_deg``, knee ``back_knee_deg``) instead of bending both alike.
    """

    period_s: float = 2.5
    hip_deg: float = 120.0
    knee_deg: float = 130.0
    trunk_deg: float = 35.0  # forward pitch of the pelvis at the bottom
    drop_m: float = 0.45  # how far the pelvis sinks
    arm_deg: float = 60.0  # arms raised forward at the bottom
    lunge: bool = False
    back_hip_deg: float = 15.0
    back_knee_deg: float = 100.0
    heading_deg: float = 90.0  # 90 / -90: side view
    phase: float = 0.0
    start_m: tuple[float, float, float] = (0.0, 0.2, 4.0)
    camera_tilt_deg: float = 5.0


SQUAT = BendSpec()
LUNGE = BendSpec(hip_deg=90.0, knee_deg=95.0, trunk_deg=8.0, drop_m=0.4, arm_deg=20.0, lunge=True)


def bend_motion(times_s: np.ndarray, spec: BendSpec = SQUAT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 3) global_orient, (T, 21, 3) body_pose and (T, 3) transl (camera frame) of a squat / lunge.

    The feet stay flat: each ankle undoes the pitch its thigh and shank add up to.
    """
    from scipy.spatial.transform import Rotation

    from streamer.body.skeleton import BODY_JOINT_NAMES

    t = np.asarray(times_s, np.float64)
    depth = 0.5 - 0.5 * np.cos(2.0 * math.pi * t / spec.period_s + spec.phase)  # 0 standing .. 1 bottom
    r = np.radians
    j = {name: BODY_JOINT_NAMES.index(name) - 1 for name in BODY_JOINT_NAMES[1:]}
    pose = np.zeros((len(t), NUM_BODY_JOINTS, 3))
    trunk = r(spec.trunk_deg) * depth
    legs = {"left": (spec.hip_deg, spec.knee_deg), "right": (spec.hip_deg, spec.knee_deg)}
    if spec.lunge:
        legs["right"] = (-spec.back_hip_deg, spec.back_knee_deg)
    for side, lateral in (("left", 1.0), ("right", -1.0)):
        hip, knee = (r(a) * depth for a in legs[side])
        pose[:, j[f"{side}_hip"], 0] = -hip  # flexion is negative about x
        pose[:, j[f"{side}_knee"], 0] = knee
        ankle = -(trunk - hip + knee)  # foot pitch back to the ground's
        a = j[f"{side}_ankle"]
        pose[:, a, 0] = np.clip(ankle, POSE_LOW[a, 0], POSE_HIGH[a, 0])
        down = Rotation.from_rotvec(np.stack([0 * t, 0 * t, -lateral * r(72.0) + 0 * t], 1))
        raise_ = Rotation.from_rotvec(np.stack([-r(spec.arm_deg) * depth, 0 * t, 0 * t], 1))
        pose[:, j[f"{side}_shoulder"]] = (raise_ * down).as_rotvec()
        pose[:, j[f"{side}_elbow"], 1] = -lateral * r(25.0 + 40.0 * depth)
    for name in ("spine1", "spine2", "spine3"):
        pose[:, j[name], 0] = r(5.0) * depth
    cam_from_world = Rotation.from_rotvec([math.pi + r(spec.camera_tilt_deg), 0.0, 0.0])
    heading = Rotation.from_rotvec([0.0, r(spec.heading_deg), 0.0])
    pitch = Rotation.from_rotvec(np.stack([trunk, 0 * t, 0 * t], 1))
    orient = (cam_from_world * heading) * pitch
    transl = np.asarray(spec.start_m) + cam_from_world.apply(np.stack([0 * t, -spec.drop_m * depth, 0 * t], 1))
    return orient.as_rotvec(), pose, transl


def bend_sequences(rng: np.random.Generator, players: int, frames: int, fps: float = 30.0, *,
                   width: int = 960, image_height: int = 544, focal_px: float = 800.0,
                   betas_std: float = 0.8) -> tuple[SyntheticBodies, np.ndarray]:
    """``players`` people doing squats or lunges (alternately) near a webcam-like camera.

    Side views mostly (heading 90 ± 30 degrees either way), 3-5 m away; rows are
    ``player * frames + frame`` as in :func:`random_sequences`.
    """
    times = np.arange(frames) / fps
    parts = []
    for p in range(players):
        base = LUNGE if p % 2 else SQUAT
        heading = rng.choice([-1.0, 1.0]) * rng.uniform(60.0, 120.0)
        start = (rng.uniform(-0.6, 0.6), rng.uniform(0.0, 0.4), rng.uniform(3.0, 5.0))
        spec = dataclasses.replace(base, heading_deg=heading, phase=rng.uniform(0, 2 * math.pi), start_m=start,
                                   period_s=rng.uniform(2.0, 3.0), knee_deg=base.knee_deg + rng.uniform(-10, 10))
        go, pose, transl = bend_motion(times, spec)
        betas = np.broadcast_to(rng.normal(size=10) * betas_std, (frames, 10))
        parts.append((betas, go, pose, transl))
    betas, go, pose, transl = (np.concatenate([p[k] for p in parts]).astype(np.float32) for k in range(4))
    return SyntheticBodies(betas, go, pose, transl, intrinsics(focal_px, width, image_height), width,
                           image_height), np.tile(times, players)


def far_side(joints_cam_m: np.ndarray, min_sideways: float = 0.5) -> np.ndarray:
    """(N,) +1 where the body's left side is turned away from the camera, -1 the right, 0 neither.

    A side is hidden when the hips' left-right axis lies along the viewing ray by at least
    ``min_sideways`` (cosine): the far leg and arm are then behind the body.
    """
    axis = joints_cam_m[:, 1] - joints_cam_m[:, 2]  # right hip -> left hip
    axis = axis / np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-9)
    ray = joints_cam_m[:, 0] / np.maximum(np.linalg.norm(joints_cam_m[:, 0], axis=1, keepdims=True), 1e-9)
    along = (axis * ray).sum(1)
    return np.where(along >= min_sideways, 1, np.where(along <= -min_sideways, -1, 0))


def hidden_joints(side: np.ndarray) -> np.ndarray:
    """(N, 22) bool: the far-side limb joints (:data:`HIDDEN_LIMB_JOINTS`) of each row's :func:`far_side`."""
    from streamer.body.skeleton import BODY_JOINT_NAMES

    out = np.zeros((len(side), NUM_BODY_JOINTS_WITH_ROOT), bool)
    for value, name in ((1, "left"), (-1, "right")):
        cols = [BODY_JOINT_NAMES.index(f"{name}_{j}") for j in HIDDEN_LIMB_JOINTS]
        out[np.ix_(side == value, cols)] = True
    return out


def hide_far_limbs(obs: Observation, side: np.ndarray, rng: np.random.Generator, height_px: np.ndarray, *,
                   conf_range: tuple[float, float] = (0.03, 0.3), px_share: float = 0.05, world_m: float = 0.06,
                   layout: str = "blazepose33") -> Observation:
    """``obs`` with the far-side limb keypoints of each row hidden, as BlazePose reports them.

    Hidden keypoints keep a position (the model guesses it) but with a visibility-level
    confidence in ``conf_range`` and larger errors: ``px_share`` of the player's height in
    2D, ``world_m`` per axis in 3D.
    """
    spec = get_layout(layout)
    mask = np.zeros(obs.conf.shape, bool)
    for value, name in ((1, "left"), (-1, "right")):
        cols = [spec.index(f"{name}_{p}") for p in HIDDEN_LIMB_POINTS if f"{name}_{p}" in spec.keypoint_names]
        mask[np.ix_(side == value, cols)] = True
    mask &= obs.conf > 0
    conf = np.where(mask, rng.uniform(*conf_range, obs.conf.shape), obs.conf)
    xy = obs.xy_px + mask[..., None] * rng.normal(size=obs.xy_px.shape) * (px_share * height_px)[:, None, None]
    world = obs.world_m + mask[..., None] * rng.normal(size=obs.world_m.shape) * world_m
    return Observation(xy.astype(np.float32), conf.astype(np.float32), world.astype(np.float32), obs.joints_cam_m)


def joint_errors_mm(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, B) per-joint errors (mm) after aligning the roots, and after Procrustes on all joints."""
    root = 1000.0 * np.linalg.norm((pred - pred[:, :1]) - (truth - truth[:, :1]), axis=-1)
    return root, procrustes_errors_mm(pred, truth)

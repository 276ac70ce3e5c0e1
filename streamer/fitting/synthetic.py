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
from streamer.smoothing.testing import RUN, WALK, gait_motion

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

    Each player follows :func:`~streamer.smoothing.testing.gait_motion` (random gait, phase,
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


def pa_mpjpe_mm(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) mean joint error after the best similarity transform (Procrustes), millimetres."""
    p = pred - pred.mean(1, keepdims=True)
    t = truth - truth.mean(1, keepdims=True)
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", p, t))
    sign = np.sign(np.linalg.det(u @ vt))
    s[:, 2] *= sign
    u[:, :, 2] *= sign[:, None]
    rot = u @ vt  # maps p onto t: p @ rot
    scale = s.sum(1) / (p**2).sum((1, 2))
    aligned = scale[:, None, None] * p @ rot
    return 1000.0 * np.linalg.norm(aligned - t, axis=-1).mean(1)

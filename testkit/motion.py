"""Synthetic ground truth for the smoother: a periodic gait, realistic estimate noise, metrics.

Shape legend: ``P`` players; ``T`` frames; ``J`` = 22 joints (root first).

:func:`gait_motion` writes SMPL-X parameters of a walking or running player in
the camera frame (x right, y down, z away) at any timestamps — so clips at 25,
30 or 50 fps sample the same motion. :func:`noisy_estimates` adds what a
per-frame mesh regressor gets wrong: isotropic rotation noise per joint scaled
by its confidence, more noise in depth than across the image, shape noise, and
a few gross outliers. The metrics use forward kinematics of the SMPL-X skeleton
from ``mannequin-x`` (its NumPy runtime ships the SMPL-X joint regression for
the first ten betas, so no model file is needed).

Used by ``tests/test_smoothing*.py`` and ``tools/bench_smooth.py``; a synthetic
clip generator may reuse :func:`gait_motion`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from streamer.records import NUM_BETAS, NUM_BODY_JOINTS, NUM_BODY_JOINTS_WITH_ROOT, BodyParams
from streamer.smoothing.rotations import boxplus, quat_from_rotvec, quat_mul, rotvec_from_quat

J = NUM_BODY_JOINTS_WITH_ROOT
#: SMPL-X joint indices (0 = pelvis/root); body_pose row = joint index - 1
L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = 1, 2, 3, 4, 5, 6, 7, 8, 9
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 16, 17, 18, 19


@dataclass(frozen=True, slots=True)
class GaitSpec:
    """A periodic gait with a moving root. Angles in degrees, SI units otherwise."""

    stride_hz: float = 0.95  # full gait cycles (two steps) per second
    speed_mps: float = 1.4
    hip_deg: float = 25.0  # thigh swing amplitude
    knee_deg: float = 60.0  # peak knee flexion during swing
    ankle_deg: float = 15.0
    shoulder_deg: float = 20.0  # arm swing amplitude
    elbow_deg: float = 25.0  # mean elbow flexion
    spine_deg: float = 5.0  # counter-twist of the trunk
    pelvis_yaw_deg: float = 6.0
    bob_m: float = 0.03  # vertical root oscillation amplitude (twice per stride)
    turn_deg_s: float = 8.0  # heading change rate
    heading_deg: float = 90.0  # initial heading: 0 faces the camera, 90 walks to image right
    start_m: tuple[float, float, float] = (-3.0, 1.0, 12.0)  # root at t=0, camera frame
    camera_tilt_deg: float = 15.0  # camera looking down
    phase: float = 0.0  # gait phase at t=0, radians


WALK = GaitSpec()
RUN = GaitSpec(stride_hz=1.45, speed_mps=4.5, hip_deg=40.0, knee_deg=95.0, ankle_deg=20.0,
               shoulder_deg=35.0, elbow_deg=80.0, spine_deg=8.0, pelvis_yaw_deg=8.0, bob_m=0.05)


@dataclass(frozen=True, slots=True, eq=False)
class Motion:
    """SMPL-X parameter sequences of P players over T frames (float64).

    Attributes:
        global_orient: (P, T, 3); body_pose: (P, T, 21, 3); transl: (P, T, 3) metres, camera frame;
        betas: (P, T, 10); joint_conf: (P, T, J) (ones for ground truth).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    joint_conf: np.ndarray

    def body_at(self, frame: int, track_id: np.ndarray | None = None) -> BodyParams:
        """Frame ``frame`` of every player as a :class:`BodyParams` (track ids 1..P by default)."""
        n = self.transl.shape[0]
        ids = np.arange(1, n + 1, dtype=np.int64) if track_id is None else track_id
        return BodyParams(
            track_id=ids,
            betas=self.betas[:, frame].astype(np.float32),
            global_orient=self.global_orient[:, frame].astype(np.float32),
            body_pose=self.body_pose[:, frame].astype(np.float32),
            transl=self.transl[:, frame].astype(np.float32),
            cam_K=np.array([[1000.0, 0, 960], [0, 1000.0, 540], [0, 0, 1]], np.float32),
            joint_conf=self.joint_conf[:, frame].astype(np.float32),
        )


def _rx(angle: np.ndarray) -> np.ndarray:
    return quat_from_rotvec(np.stack([angle, 0 * angle, 0 * angle], -1))


def _ry(angle: np.ndarray) -> np.ndarray:
    return quat_from_rotvec(np.stack([0 * angle, angle, 0 * angle], -1))


def _rz(angle: np.ndarray) -> np.ndarray:
    return quat_from_rotvec(np.stack([0 * angle, 0 * angle, angle], -1))


def gait_motion(times_s: np.ndarray, spec: GaitSpec = WALK, betas: np.ndarray | None = None) -> Motion:
    """Ground-truth SMPL-X parameters of one player at ``times_s`` (T,) seconds; P = 1."""
    t = np.asarray(times_s, dtype=np.float64)
    d = math.radians
    phi = 2.0 * np.pi * spec.stride_hz * t + spec.phase
    pose = np.zeros((len(t), NUM_BODY_JOINTS, 3))
    for side, hip, knee, ankle, shoulder, elbow, lateral in (
        (0.0, L_HIP, L_KNEE, L_ANKLE, L_SHOULDER, L_ELBOW, 1.0),
        (np.pi, R_HIP, R_KNEE, R_ANKLE, R_SHOULDER, R_ELBOW, -1.0),
    ):
        ph = phi + side
        # hip flexion (thigh forward) is a negative rotation about x; knee flexion positive
        pose[:, hip - 1, 0] = -d(spec.hip_deg) * np.sin(ph) - d(5.0)
        pose[:, knee - 1, 0] = d(5.0) + d(spec.knee_deg) * (0.5 + 0.5 * np.sin(ph + np.pi / 3)) ** 2
        pose[:, ankle - 1, 0] = d(spec.ankle_deg) * np.sin(ph - np.pi / 4)
        # arms hang down (about z, mirrored), then swing against the same-side leg (about x)
        down = _rz(np.full_like(t, -lateral * d(72.0)))
        swing = _rx(d(spec.shoulder_deg) * np.sin(ph))
        pose[:, shoulder - 1] = rotvec_from_quat(quat_mul(swing, down))
        pose[:, elbow - 1, 1] = -lateral * (d(spec.elbow_deg) + d(10.0) * np.sin(ph + np.pi))
    for joint in (SPINE1, SPINE2, SPINE3):
        pose[:, joint - 1, 1] = -d(spec.spine_deg) / 3.0 * np.sin(phi)
    # root: heading on a circle in the ground plane, seen by a camera tilted down
    turn = d(spec.turn_deg_s)
    heading = d(spec.heading_deg) + turn * t
    if abs(turn) > 1e-9:
        ground_x = (np.cos(d(spec.heading_deg)) - np.cos(heading)) / turn
        ground_z = (np.sin(heading) - np.sin(d(spec.heading_deg))) / turn
    else:
        ground_x, ground_z = np.sin(heading) * t, np.cos(heading) * t
    up = spec.bob_m * np.cos(2.0 * phi)
    world = np.stack([spec.speed_mps * ground_x, up, spec.speed_mps * ground_z], -1)  # y up
    cam_from_world = _rx(np.full_like(t, np.pi + d(spec.camera_tilt_deg)))
    rotvec_cw = rotvec_from_quat(cam_from_world[0])
    transl = np.asarray(spec.start_m) + _rotate(rotvec_cw, world)
    pelvis = quat_mul(_ry(d(spec.pelvis_yaw_deg) * np.sin(phi)), _rx(np.full_like(t, d(4.0))))
    orient = quat_mul(cam_from_world, quat_mul(_ry(heading), pelvis))
    shape = np.zeros(NUM_BETAS) if betas is None else np.asarray(betas, np.float64)
    return Motion(
        global_orient=rotvec_from_quat(orient)[None],
        body_pose=pose[None],
        transl=transl[None],
        betas=np.broadcast_to(shape, (1, len(t), NUM_BETAS)).copy(),
        joint_conf=np.ones((1, len(t), J)),
    )


def _rotate(rotvec: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points ``(..., 3)`` rotated by one rotation vector ``(3,)``."""
    angle = np.linalg.norm(rotvec)
    if angle < 1e-12:
        return points
    k = rotvec / angle
    return (points * np.cos(angle) + np.cross(k, points) * np.sin(angle)
            + np.outer(points @ k, k).reshape(points.shape) * (1.0 - np.cos(angle)))


def stack_players(motions: list[Motion]) -> Motion:
    """Players of several single- or multi-player motions side by side (same T)."""
    cat = functools.partial(np.concatenate, axis=0)
    return Motion(*(cat([getattr(m, f) for m in motions]) for f in Motion.__slots__))


@dataclass(frozen=True, slots=True)
class NoiseSpec:
    """What a per-frame monocular mesh regressor gets wrong (std values at confidence 1)."""

    rot_deg: float = 5.0
    transl_m: float = 0.03
    depth_m: float = 0.15
    betas: float = 0.2
    conf_range: tuple[float, float] = (0.5, 1.0)  # per joint and frame, uniform
    joint_outlier_rate: float = 0.003  # joint-frames replaced by a gross error
    joint_outlier_deg: float = 90.0
    frame_outlier_rate: float = 0.01  # frames whose root translation jumps
    frame_outlier_m: float = 1.5


def noisy_estimates(truth: Motion, noise: NoiseSpec, rng: np.random.Generator) -> Motion:
    """Per-frame estimates of ``truth``: Gaussian noise scaled by 1/confidence, plus outliers."""
    p, t = truth.transl.shape[:2]
    conf = rng.uniform(*noise.conf_range, size=(p, t, J))
    rotvec = np.concatenate((truth.global_orient[:, :, None], truth.body_pose), axis=2)
    err = rng.normal(size=(p, t, J, 3)) * (math.radians(noise.rot_deg) / conf)[..., None]
    outlier = rng.random((p, t, J)) < noise.joint_outlier_rate
    gross = rng.normal(size=(p, t, J, 3))
    gross *= math.radians(noise.joint_outlier_deg) / np.linalg.norm(gross, axis=-1, keepdims=True)
    err = np.where(outlier[..., None], gross, err)
    noisy = rotvec_from_quat(boxplus(quat_from_rotvec(rotvec), err))
    axis_std = np.array([noise.transl_m, noise.transl_m, noise.depth_m])
    transl = truth.transl + rng.normal(size=(p, t, 3)) * axis_std / conf[..., :1]
    jump = rng.random((p, t)) < noise.frame_outlier_rate
    direction = rng.normal(size=(p, t, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    transl = np.where(jump[..., None], transl + noise.frame_outlier_m * direction, transl)
    betas = truth.betas + noise.betas * rng.normal(size=truth.betas.shape)
    return Motion(noisy[:, :, 0], noisy[:, :, 1:], transl, betas, conf)


@functools.cache
def _mannequin():
    from mannequin import Mannequin

    return Mannequin("convex", lod=2)


def joint_positions_m(motion: Motion) -> np.ndarray:
    """Camera-frame positions ``(P, T, J, 3)`` of the 22 SMPL-X body joints (mean shape).

    The root rotation turns the body about the pelvis, as SMPL-X's ``global_orient``
    does, then ``transl`` moves it (mannequin's ``pelvis_rotation`` / ``global_translation``).
    """
    model = _mannequin()
    p, t = motion.transl.shape[:2]
    rest = model.rest_pose()
    pose = {k: np.broadcast_to(np.asarray(v), (p, t) + np.shape(v)).copy() for k, v in rest.items()}
    pose["body_pose"] = motion.body_pose
    pose["pelvis_rotation"] = motion.global_orient
    pose["global_translation"] = motion.transl
    return np.asarray(model.joint_transforms(pose))[:, :, :J, :3, 3]


def mpjpe_m(joints: np.ndarray, truth: np.ndarray) -> float:
    """Mean per-joint position error (metres) of ``(..., J, 3)`` arrays."""
    return float(np.mean(np.linalg.norm(joints - truth, axis=-1)))


def mean_accel_m_s2(joints: np.ndarray, times_s: np.ndarray) -> float:
    """Mean joint acceleration magnitude (m/s²) — the jitter metric — of ``(P, T, J, 3)`` joints.

    Second differences on the real timestamps (non-uniform steps allowed).
    """
    dt = np.diff(times_s)
    vel = np.diff(joints, axis=1) / dt[None, :, None, None]
    acc = np.diff(vel, axis=1) / (0.5 * (dt[1:] + dt[:-1]))[None, :, None, None]
    return float(np.mean(np.linalg.norm(acc, axis=-1)))


def smooth_motion(params, times_s: np.ndarray, estimates: Motion, window: int = 8) -> Motion:
    """Run a :class:`~streamer.smoothing.Smoother` over every frame of ``estimates`` (in windows
    of ``window`` frames, as the pipeline does) and collect its output as a Motion.

    Args:
        params: :class:`~streamer.smoothing.SmoothingParams`.
        times_s: (T,) frame times.
        estimates: P players seen in every frame.
    """
    from streamer.smoothing.smoother import Smoother

    smoother: Smoother[int] = Smoother(params)
    out: dict[int, BodyParams] = {}
    for start in range(0, len(times_s), window):
        for frame in range(start, min(start + window, len(times_s))):
            smoother.push(frame, float(times_s[frame]), estimates.body_at(frame))
        out.update(smoother.release())
    out.update(smoother.release(final=True))
    bodies = [out[f] for f in range(len(times_s))]
    return Motion(
        global_orient=np.stack([b.global_orient for b in bodies], 1).astype(np.float64),
        body_pose=np.stack([b.body_pose for b in bodies], 1).astype(np.float64),
        transl=np.stack([b.transl for b in bodies], 1).astype(np.float64),
        betas=np.stack([b.betas for b in bodies], 1).astype(np.float64),
        joint_conf=np.stack([b.joint_conf for b in bodies], 1).astype(np.float64),
    )


def step_delay_frames(response: np.ndarray, step_frame: int, before: float, after: float) -> int:
    """Frames from ``step_frame`` until ``response`` (T,) first gets half-way from ``before`` to ``after``.

    The 50 % delay time of a step response; ``len(response)`` if it never does.
    """
    half = 0.5 * (before + after)
    rising = after > before
    for k in range(step_frame, len(response)):
        if (response[k] >= half) if rising else (response[k] <= half):
            return k - step_frame
    return len(response)


def single_track_bodies(times_s: np.ndarray, rotvec: np.ndarray, transl: np.ndarray,
                        conf: float = 1.0) -> list[BodyParams]:
    """One track (id 1) per frame from rotvec (T, J, 3) (root first) and transl (T, 3)."""
    return [
        BodyParams(
            track_id=np.array([1]), betas=np.zeros((1, NUM_BETAS), np.float32),
            global_orient=rotvec[k, :1].astype(np.float32), body_pose=rotvec[k, None, 1:].astype(np.float32),
            transl=transl[k, None].astype(np.float32), cam_K=np.eye(3, dtype=np.float32),
            joint_conf=np.full((1, J), conf, np.float32),
        )
        for k in range(len(times_s))
    ]


def same_information_clips(seed: int, factor: int = 3, fps_high: float = 75.0, seconds: float = 6.0,
                           spec: GaitSpec = WALK, noise: NoiseSpec | None = None):
    """The same gait at ``fps_high`` and ``fps_high / factor`` carrying the same information per second.

    High-rate frames get noise of std × √factor; each low-rate frame is the mean of
    ``factor`` consecutive high-rate frames (so its noise has the nominal std) and is
    stamped with their mean time. A filter that handles time correctly smooths both
    into the same trajectory when told the high-rate per-frame noise is √factor larger.

    Returns:
        (times_low (T,), estimates_low, times_high (factor·T,), estimates_high), one player each.
    """
    noise = noise or NoiseSpec()
    n_low = int(seconds * fps_high / factor)
    t_high = np.arange(n_low * factor) / fps_high
    t_low = t_high.reshape(n_low, factor).mean(axis=1)
    rng = np.random.default_rng(seed)
    scale = math.sqrt(factor)
    err_rot = rng.normal(size=(1, len(t_high), J, 3)) * math.radians(noise.rot_deg) * scale
    axis_std = np.array([noise.transl_m, noise.transl_m, noise.depth_m])
    err_tr = rng.normal(size=(1, len(t_high), 3)) * axis_std * scale

    def observe(times: np.ndarray, e_rot: np.ndarray, e_tr: np.ndarray) -> Motion:
        truth = gait_motion(times, spec)
        rotvec = np.concatenate((truth.global_orient[:, :, None], truth.body_pose), axis=2)
        noisy = rotvec_from_quat(boxplus(quat_from_rotvec(rotvec), e_rot))
        return Motion(noisy[:, :, 0], noisy[:, :, 1:], truth.transl + e_tr, truth.betas,
                      np.ones((1, len(times), J)))

    low = observe(t_low, err_rot.reshape(1, n_low, factor, J, 3).mean(2), err_tr.reshape(1, n_low, factor, 3).mean(2))
    return t_low, low, t_high, observe(t_high, err_rot, err_tr)

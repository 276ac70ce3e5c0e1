"""A periodic walking/running gait expressed as SMPL-X ``body_pose``, and body placement on the pitch.

Shape legend: ``N`` bodies.

The gait is a function of the stride phase (0..1, one full left+right cycle) and the
speed. Joint angles follow SMPL-X's axes (body frame: x left, y up, z forward): hip
flexion (thigh forward) is a negative rotation about x, knee flexion positive about x,
ankle plantar-flexion positive about x, trunk lean forward positive about x. Arms hang
by rotating the shoulders about z and swing about x opposite to the legs; elbows bend
about y. Amplitudes blend from a walk (below 1.8 m/s) to a run (above 3.5 m/s), and the
cadence rises with speed (about 1.9 steps/s walking at 1.4 m/s, 3 steps/s at 6 m/s).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from streamer.body.skeleton import BODY_JOINT_NAMES, NUM_BODY_JOINTS

#: body_pose row of each joint (body_pose leaves out the pelvis)
_ROW = {name: k - 1 for k, name in enumerate(BODY_JOINT_NAMES) if k > 0}
#: below this speed a player stands (amplitudes fade to an idle stance)
STAND_SPEED_MPS = 0.3


def steps_per_second(speed_mps: np.ndarray) -> np.ndarray:
    """Cadence (steps/s, two steps per stride) for a speed in m/s."""
    speed = np.asarray(speed_mps, np.float64)
    return np.clip(1.5 + 0.25 * speed, 1.6, 3.2)


def advance_phase(phase: np.ndarray, speed_mps: np.ndarray, dt_s: float) -> np.ndarray:
    """Stride phase after ``dt_s`` seconds at ``speed_mps`` (wrapped to [0, 1))."""
    return (phase + 0.5 * steps_per_second(speed_mps) * dt_s) % 1.0


def gait_pose(phase: np.ndarray, speed_mps: np.ndarray) -> np.ndarray:
    """(N, 21, 3) float32 body_pose of bodies at stride ``phase`` (N,) moving at ``speed_mps`` (N,)."""
    phase, speed = np.asarray(phase, np.float64), np.asarray(speed_mps, np.float64)
    n = phase.shape[0]
    run = np.clip((speed - 1.8) / (3.5 - 1.8), 0.0, 1.0)
    move = np.clip(speed / STAND_SPEED_MPS, 0.0, 1.0)  # 0 standing .. 1 moving
    w = 2 * np.pi * phase
    hip_amp = move * np.minimum(0.3 + 0.1 * speed, 0.95)
    knee_rest, knee_swing = 0.06 + 0.22 * run * move, move * (0.75 + 0.85 * run)
    arm_amp = move * np.minimum(0.2 + 0.08 * speed, 0.7)
    elbow = 0.25 + 1.15 * run * move
    lean = move * np.minimum(0.04 + 0.045 * speed, 0.35)
    rx = np.zeros((n, NUM_BODY_JOINTS))  # rotations about x
    rest = np.zeros((n, NUM_BODY_JOINTS, 3))
    for side, offset in (("left", 0.0), ("right", np.pi)):
        ws = w + offset
        forward = np.sin(ws)  # +1: this thigh is fully forward
        rx[:, _ROW[f"{side}_hip"]] = -hip_amp * forward - 0.12 * run * move
        # the knee folds most early in the swing, while the thigh comes forward
        swing = np.clip(np.cos(ws + np.pi / 4), 0.0, None) ** 2
        rx[:, _ROW[f"{side}_knee"]] = knee_rest + knee_swing * swing
        rx[:, _ROW[f"{side}_ankle"]] = -0.3 * move * forward + 0.1 * run
        # the arm swings with the opposite leg
        rx[:, _ROW[f"{side}_shoulder"]] = arm_amp * forward
        rest[:, _ROW[f"{side}_elbow"], 1] = elbow * (-1.0 if side == "left" else 1.0)
    rx[:, _ROW["spine1"]] = 0.5 * lean
    rx[:, _ROW["spine2"]] = 0.3 * lean
    rx[:, _ROW["neck"]] = -0.6 * lean  # keep the eyes on the game
    twist = 0.12 * move * np.sin(w)  # shoulders counter-rotate against the hips
    rest[:, _ROW["spine3"], 1] = twist
    pose = rest.copy()
    pose[..., 0] += rx
    # arms hang at the sides (shoulders turned about z), then swing about x in the collar frame
    for side, sign in (("left", -1.0), ("right", 1.0)):
        r = _ROW[f"{side}_shoulder"]
        hang = Rotation.from_rotvec(np.tile([0.0, 0.0, sign * 1.25], (n, 1)))
        swing = Rotation.from_rotvec(np.stack([rx[:, r], np.zeros(n), np.zeros(n)], 1))
        pose[:, r] = (swing * hang).as_rotvec()
    return pose.astype(np.float32)


def facing_orient(heading_rad: np.ndarray) -> np.ndarray:
    """(N, 3) global_orient standing a body upright on the pitch (z up), facing ``heading_rad``.

    ``heading_rad`` (N,) is measured in the pitch plane from +x toward +y. The SMPL-X
    body axes (x left, y up, z forward) map to (up x forward, up, forward).
    """
    heading = np.asarray(heading_rad, np.float64)
    forward = np.stack([np.cos(heading), np.sin(heading), np.zeros_like(heading)], -1)
    up = np.broadcast_to([0.0, 0.0, 1.0], forward.shape)
    frames = np.stack([np.cross(up, forward), up, forward], -1)  # columns: images of the body axes
    return Rotation.from_matrix(frames.reshape(-1, 3, 3)).as_rotvec().reshape(forward.shape).astype(np.float32)

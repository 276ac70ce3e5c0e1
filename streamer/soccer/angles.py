"""Joint angles from 3D body joints: knee and hip flexion, trunk lean.

Shape legend: ``N`` players; ``J`` joints (at least the 22 SMPL-X body joints, in SMPL-X
order, as every :mod:`streamer.body` backend returns them first).

Definitions (degrees):

* **knee flexion**: 180° minus the hip-knee-ankle angle; 0 for a straight leg.
* **hip flexion**: the thigh (hip → knee) in the body's sagittal plane, measured from the
  trunk's downward axis toward the body's front; 0 standing, 90 with the thigh raised to
  the horizontal, negative in extension (the leg behind the body). Abduction is ignored.
  The trunk axis is pelvis → neck; the body's left is right hip → left hip, made
  orthogonal to it; front = left × up (SMPL-X's canonical axes: x left, y up, z front).
* **trunk lean**: angle between pelvis → neck and the world's vertical; 0 upright. Needs
  the vertical in the joints' frame (from a pitch calibration); NaN without it.

The joints may be in any metric frame (camera or pitch): all angles but the lean are
frame-independent.
"""

from __future__ import annotations

import numpy as np

from streamer.records import ANGLE_NAMES, BODY_JOINT_NAMES, NUM_BODY_JOINTS_WITH_ROOT

JOINT: dict[str, int] = {name: i for i, name in enumerate(BODY_JOINT_NAMES)}


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1e-9, v / n, np.nan)


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(...,) angle in degrees between (..., 3) vectors (NaN for zero vectors)."""
    cos = np.sum(_unit(a) * _unit(b), axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def knee_flexion_deg(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray) -> np.ndarray:
    """(N,) knee flexion from (N, 3) hip, knee and ankle positions."""
    return 180.0 - angle_between_deg(hip - knee, ankle - knee)


def body_axes(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) unit up (pelvis → neck), left and front axes of each body."""
    up = _unit(joints[:, JOINT["neck"]] - joints[:, JOINT["pelvis"]])
    left = joints[:, JOINT["left_hip"]] - joints[:, JOINT["right_hip"]]
    left = _unit(left - np.sum(left * up, axis=1, keepdims=True) * up)
    front = np.cross(left, up)
    return up, left, front


def hip_flexion_deg(joints: np.ndarray, side: str) -> np.ndarray:
    """(N,) signed hip flexion of the ``side`` ("left" / "right") leg from (N, J, 3) joints."""
    up, _, front = body_axes(joints)
    thigh = joints[:, JOINT[f"{side}_knee"]] - joints[:, JOINT[f"{side}_hip"]]
    return np.degrees(np.arctan2(np.sum(thigh * front, axis=1), -np.sum(thigh * up, axis=1)))


def trunk_lean_deg(joints: np.ndarray, world_up: np.ndarray | None) -> np.ndarray:
    """(N,) angle between each trunk and ``world_up`` (3,) given in the joints' frame; NaN if None."""
    if world_up is None:
        return np.full(len(joints), np.nan)
    trunk = joints[:, JOINT["neck"]] - joints[:, JOINT["pelvis"]]
    return angle_between_deg(trunk, np.broadcast_to(np.asarray(world_up, np.float64), trunk.shape))


def joint_angles(joints: np.ndarray, world_up: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every angle of :data:`ANGLE_NAMES` for (N, J, 3) joints: name → (N,) float64 degrees."""
    j = np.asarray(joints, np.float64)
    if j.ndim != 3 or j.shape[1] < NUM_BODY_JOINTS_WITH_ROOT or j.shape[2] != 3:
        raise ValueError(f"joints: expected shape (N, >={NUM_BODY_JOINTS_WITH_ROOT}, 3), got {j.shape}")
    out = {}
    for side in ("left", "right"):
        out[f"{side}_knee_flexion_deg"] = knee_flexion_deg(
            j[:, JOINT[f"{side}_hip"]], j[:, JOINT[f"{side}_knee"]], j[:, JOINT[f"{side}_ankle"]]
        )
        out[f"{side}_hip_flexion_deg"] = hip_flexion_deg(j, side)
    out["trunk_lean_deg"] = trunk_lean_deg(j, world_up)
    return {name: out[name] for name in ANGLE_NAMES}

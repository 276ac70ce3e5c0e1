"""Per-joint confidence of a fitted body: how well the keypoints pinned each joint's rotation.

Shape legend: ``N`` players; ``T`` targets; ``J`` = 22 (root + the 21 body_pose joints).

``BodyParams.joint_conf`` feeds the smoother, which reads it as the reliability of each
joint's *rotation*. A rotation is fixed by where its segment starts and where it ends, so
each joint has two groups of evidence (:data:`EVIDENCE`): e.g. the left knee's rotation by the
knee and the ankle keypoints, the root's by the hips and the shoulders. A group's confidence
is the mean confidence of its targets present in the layout (for the body model in use); the
joint's is ``factor x min(start group, end group)``.

The factor is 1 where the two groups determine the rotation and 0.5 where they only
constrain it jointly with the prior: the three spine joints share one hips-to-shoulders
bend, the collars share the shoulder line with the spine, the neck shares the head's.

Metric 3D keypoints (BlazePose's world landmarks) are a second, weaker source: a limb the
model marks as hidden still has a 3D position, which the fitter follows (see
``FitterSettings.hidden_world_conf``). Its joints get ``WORLD_FACTOR`` x the confidence
computed the same way from the 3D keypoints' confidences, when that beats the 2D one: so a
hidden limb's joints carry a measurement for the smoother, yet stay below the
``low_confidence`` flag of ``joints.csv`` (0.3), because nothing in the image confirms them.

Joints with no evidence in a layout (the wrists without hand points, the ankles and toes
without foot points, the head without face points) get ``UNOBSERVED_FACTOR`` x their
parent's confidence: present, but the value is the pose prior's guess.
"""

from __future__ import annotations

import numpy as np

from streamer.body.skeleton import BODY_JOINT_NAMES, SMPLX_PARENTS
from streamer.fitting.targets import TargetSpec

UNOBSERVED_FACTOR = 0.1
#: share of a joint's confidence from metric 3D keypoints alone (hidden limbs)
WORLD_FACTOR = 0.5
_SHOULDERS = ("left_shoulder", "right_shoulder")
_HIPS = ("left_hip", "right_hip")
_HEAD = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


def _evidence() -> dict[str, tuple[tuple[str, ...], tuple[str, ...], float]]:
    table: dict[str, tuple[tuple[str, ...], tuple[str, ...], float]] = {
        "pelvis": (_HIPS, _SHOULDERS, 1.0),
        "neck": (_SHOULDERS, _HEAD, 0.5),
        "head": (("left_ear", "right_ear"), ("nose", "left_eye", "right_eye"), 1.0),
    }
    for spine in ("spine1", "spine2", "spine3"):
        table[spine] = (_HIPS, _SHOULDERS, 0.5)
    for s in ("left", "right"):
        table |= {
            f"{s}_hip": ((f"{s}_hip",), (f"{s}_knee",), 1.0),
            f"{s}_knee": ((f"{s}_knee",), (f"{s}_ankle",), 1.0),
            f"{s}_ankle": ((f"{s}_ankle",), (f"{s}_heel", f"{s}_big_toe", f"{s}_small_toe"), 1.0),
            f"{s}_foot": ((f"{s}_heel",), (f"{s}_big_toe", f"{s}_small_toe"), 0.5),
            f"{s}_collar": (_HIPS, (f"{s}_shoulder",), 0.5),
            f"{s}_shoulder": ((f"{s}_shoulder",), (f"{s}_elbow",), 1.0),
            f"{s}_elbow": ((f"{s}_elbow",), (f"{s}_wrist",), 1.0),
            f"{s}_wrist": ((f"{s}_wrist",), (f"{s}_pinky1", f"{s}_index1", f"{s}_thumb2"), 1.0),
        }
    return table


#: body joint → (start group, end group, factor) of SMPL-X target names
EVIDENCE = _evidence()


def joint_confidence(spec: TargetSpec, target_conf: np.ndarray, world_conf: np.ndarray | None = None
                     ) -> np.ndarray:
    """(N, 22) float32 confidence of each joint's rotation from (N, T) target confidences.

    A joint is never more confident than the keypoints that fixed it. ``world_conf`` (N, T):
    the metric 3D keypoints' confidences, if the fit used them (see the module docstring).
    """
    out = evidence_confidence(spec, target_conf)
    if world_conf is not None:
        out = np.maximum(out, WORLD_FACTOR * evidence_confidence(spec, world_conf))
    return out


def world_only_joints(spec: TargetSpec, world_conf: np.ndarray, own_world_conf: np.ndarray) -> np.ndarray:
    """(N, 22) bool: joints whose rotation rests on keypoints the fit treated as hidden.

    ``world_conf`` (N, T): the metric 3D keypoints' confidences the fit used, hidden limbs'
    raised; ``own_world_conf``: the keypoint model's own. A joint is world-only where the
    hidden limbs' raise lifted its 3D evidence: one of its keypoints is hidden, and its rotation
    carries that keypoint's error — the 3D guess's, and the 2D guess's where a hidden keypoint's
    own confidence passes the image terms' threshold (a hidden keypoint at 0.25 is no more seen
    than one at 0.15; comparing with the 2D evidence as well had flagged a hidden limb in some
    frames and not in others, and the smoother then trusted it by turns).
    """
    return evidence_confidence(spec, world_conf) > evidence_confidence(spec, own_world_conf)


def evidence_confidence(spec: TargetSpec, target_conf: np.ndarray) -> np.ndarray:
    """(N, 22) the rule of the module docstring on one source of (N, T) target confidences."""
    n = len(target_conf)
    direct = {name: t for t, (name, point) in enumerate(zip(spec.target_names, spec.point_names, strict=True))
              if name == point}
    out = np.zeros((n, len(BODY_JOINT_NAMES)), np.float32)
    observed = np.zeros(len(BODY_JOINT_NAMES), bool)

    def group(names: tuple[str, ...]) -> np.ndarray | None:
        rows = [direct[m] for m in names if m in direct]
        return target_conf[:, rows].mean(1) if rows else None

    for j, name in enumerate(BODY_JOINT_NAMES):
        start, end, factor = EVIDENCE[name]
        a, b = group(start), group(end)
        if a is not None and b is not None:
            out[:, j] = factor * np.minimum(a, b)
            observed[j] = True
    for j in range(1, len(BODY_JOINT_NAMES)):  # parents come first
        if not observed[j]:
            out[:, j] = UNOBSERVED_FACTOR * out[:, SMPLX_PARENTS[j]]
    return np.clip(out, 0.0, 1.0)

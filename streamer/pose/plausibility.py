"""Is a 2D skeleton anatomically plausible for the box it was found in?

Shape legend: ``N`` players, ``K`` keypoints.

Used to measure a keypoint backend on real footage without ground truth, and by
tests. The checks need only the 12 limb points every layout has (shoulders,
elbows, wrists, hips, knees, ankles) and take the skeleton as it is, whatever the
confidences say:

* ``hips_in_box``: both hips lie inside the player's box;
* ``shoulders_above_hips``: the mid-shoulder point is above the mid-hip point;
* ``ankles_below_knees``: each ankle is below its knee;
* ``limb_ratios``: the torso (mid-shoulder to mid-hip) is a sensible share of the box
  height, and each thigh, shin, upper arm and forearm a sensible multiple of the
  torso (:data:`LIMB_TO_TORSO`). Nominal adult proportions: torso ≈ 0.29, thigh and
  shin ≈ 0.25, upper arm ≈ 0.19, forearm ≈ 0.15 of the stature. The upper bounds
  leave room for a bent-forward (shortened) torso; the lower bounds only catch
  collapsed legs, because a leg swinging towards the camera (anyone walking at it)
  is legitimately short in the image, and arms often point at the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.pose.layouts import get_layout
from streamer.records import Keypoints

#: torso length / box height must lie in this range
TORSO_TO_BOX_HEIGHT = (0.12, 0.65)
#: (limb, from, to, min, max) with lengths over the torso length
LIMB_TO_TORSO: tuple[tuple[str, str, str, float, float], ...] = tuple(
    (f"{side}_{limb}", f"{side}_{a}", f"{side}_{b}", lo, hi)
    for side in ("left", "right")
    for limb, a, b, lo, hi in (
        ("thigh", "hip", "knee", 0.1, 1.6), ("shin", "knee", "ankle", 0.1, 1.6),
        ("upper_arm", "shoulder", "elbow", 0.0, 1.2), ("forearm", "elbow", "wrist", 0.0, 1.2),
    )
)  # fmt: skip

CHECKS = ("hips_in_box", "shoulders_above_hips", "ankles_below_knees", "limb_ratios")


@dataclass(frozen=True, slots=True, eq=False)
class Plausibility:
    """Per-player results of each check.

    Attributes:
        hips_in_box, shoulders_above_hips, ankles_below_knees, limb_ratios: (N,) bool.
    """

    hips_in_box: np.ndarray
    shoulders_above_hips: np.ndarray
    ankles_below_knees: np.ndarray
    limb_ratios: np.ndarray

    @property
    def plausible(self) -> np.ndarray:
        """(N,) bool: every check passed."""
        return self.hips_in_box & self.shoulders_above_hips & self.ankles_below_knees & self.limb_ratios


def check_skeletons(keypoints: Keypoints, xyxy_px: np.ndarray) -> Plausibility:
    """Run every check on each row of ``keypoints`` against its box.

    Args:
        keypoints: N players (any layout with the 12 limb points).
        xyxy_px: (N, 4) the box each row was estimated in, same order.
    """
    layout = get_layout(keypoints.layout)
    xy = keypoints.xy_px.astype(np.float64)
    boxes = np.asarray(xyxy_px, np.float64).reshape(-1, 4)

    def point(name: str) -> np.ndarray:
        return xy[:, layout.index(name)]

    hips = np.stack([point("left_hip"), point("right_hip")], axis=1)  # (N, 2, 2)
    inside = (
        (hips[..., 0] >= boxes[:, None, 0]) & (hips[..., 0] <= boxes[:, None, 2])
        & (hips[..., 1] >= boxes[:, None, 1]) & (hips[..., 1] <= boxes[:, None, 3])
    )  # fmt: skip
    mid_hip = hips.mean(axis=1)
    mid_shoulder = 0.5 * (point("left_shoulder") + point("right_shoulder"))
    ankles_below = np.ones(len(xy), bool)
    for side in ("left", "right"):
        ankles_below &= point(f"{side}_ankle")[:, 1] > point(f"{side}_knee")[:, 1]
    torso = np.linalg.norm(mid_shoulder - mid_hip, axis=1)
    box_h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    ratios_ok = (torso >= TORSO_TO_BOX_HEIGHT[0] * box_h) & (torso <= TORSO_TO_BOX_HEIGHT[1] * box_h)
    for _, a, b, lo, hi in LIMB_TO_TORSO:
        length = np.linalg.norm(point(a) - point(b), axis=1)
        ratios_ok &= (length >= lo * torso) & (length <= hi * torso)
    return Plausibility(
        hips_in_box=inside.all(axis=1),
        shoulders_above_hips=mid_shoulder[:, 1] < mid_hip[:, 1],
        ankles_below_knees=ankles_below,
        limb_ratios=ratios_ok,
    )

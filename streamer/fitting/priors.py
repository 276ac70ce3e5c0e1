"""Pose prior without learned weights: per-joint angle ranges plus a weak Gaussian.

Shape legend: ``N`` player-frames; ``21`` body_pose joints (SMPL-X order, pelvis excluded).

There is no VPoser here (its weights are not ours to ship), so the prior is built from
anatomy, in SMPL-X's joint frames (x toward the body's left, y up, z forward; a joint's
rotation is expressed in its parent's frame, which at rest is this same frame):

* **Ranges** — a box ``[low, high]`` on each axis-angle component, penalised quadratically
  outside it (a hinge). Knees bend only about +x (flexion) with ±0.15 rad of play in the
  other axes; elbows bend about y (the left one negative, the right positive) with little
  side play; hips flex forward about -x; the spine segments, neck and head have ranges of a
  third to a half of the whole back's. For small and medium rotations an axis-angle
  component is close to the Euler angle about that axis; for large ones the box is only a
  coarse limit, which is what a soft penalty needs.
* **Gaussian** — ``((theta - mean) / std)^2`` per component. The mean is a relaxed stance
  (arms hanging 70 degrees down from SMPL-X's T-pose, elbows and knees slightly bent), not
  the T-pose itself; the stds are wide for hips and shoulders (about 1 rad) and narrow for
  the joints the keypoints barely see (spine split, collars, feet), so those stay plausible
  rather than absorb noise.

Signs were checked on the body models: +x at a knee swings the shank back, -y at the left
elbow brings the forearm forward (the same conventions as :mod:`testkit.motion`).
"""

from __future__ import annotations

import numpy as np
import torch

from streamer.body.skeleton import BODY_JOINT_NAMES, NUM_BODY_JOINTS

_PI = float(np.pi)


def _table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(21, 3) low, high, mean and std, in radians."""
    low = np.full((NUM_BODY_JOINTS, 3), -_PI)
    high = np.full((NUM_BODY_JOINTS, 3), _PI)
    mean = np.zeros((NUM_BODY_JOINTS, 3))
    std = np.full((NUM_BODY_JOINTS, 3), 0.5)

    def put(name: str, lo: tuple[float, float, float], hi: tuple[float, float, float],
            sd: tuple[float, float, float], mu: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        j = BODY_JOINT_NAMES.index(name) - 1
        low[j], high[j], std[j], mean[j] = lo, hi, sd, mu

    for side, sign in (("left", 1.0), ("right", -1.0)):  # sign: mirror y and z for the right side
        def mirrored(lo: tuple[float, float, float], hi: tuple[float, float, float], s: float = sign
                     ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
            if s > 0:
                return lo, hi
            return (lo[0], -hi[1], -hi[2]), (hi[0], -lo[1], -lo[2])

        put(f"{side}_hip", *mirrored((-2.4, -0.9, -0.6), (0.75, 0.9, 1.4)), (1.0, 0.5, 0.5))
        put(f"{side}_knee", *mirrored((-0.1, -0.15, -0.15), (2.7, 0.15, 0.15)), (1.0, 0.1, 0.1),
            (0.15, 0.0, 0.0))
        put(f"{side}_ankle", *mirrored((-0.9, -0.5, -0.4), (0.8, 0.5, 0.4)), (0.4, 0.25, 0.2))
        put(f"{side}_foot", *mirrored((-0.6, -0.2, -0.2), (0.6, 0.2, 0.2)), (0.2, 0.1, 0.1))
        put(f"{side}_collar", *mirrored((-0.4, -0.5, -0.4), (0.4, 0.5, 0.6)), (0.15, 0.2, 0.2))
        put(f"{side}_shoulder", *mirrored((-1.8, -1.8, -1.9), (1.8, 1.8, 1.7)), (0.8, 0.9, 0.9),
            (0.0, 0.0, -1.2 * sign))
        put(f"{side}_elbow", *mirrored((-1.6, -2.7, -0.25), (1.6, 0.1, 0.25)), (0.5, 1.0, 0.1),
            (0.0, -0.3 * sign, 0.0))
        put(f"{side}_wrist", *mirrored((-1.2, -0.8, -1.2), (1.2, 0.8, 1.2)), (0.4, 0.3, 0.4))
    for name in ("spine1", "spine2", "spine3"):
        put(name, (-0.35, -0.4, -0.3), (0.6, 0.4, 0.3), (0.15, 0.15, 0.1))
    put("neck", (-0.6, -0.8, -0.5), (0.7, 0.8, 0.5), (0.3, 0.4, 0.2))
    put("head", (-0.5, -0.6, -0.4), (0.6, 0.6, 0.4), (0.3, 0.4, 0.2))
    return low, high, mean, std


#: (21, 3) float32 range bounds, Gaussian mean and std per body_pose component (radians)
POSE_LOW, POSE_HIGH, POSE_MEAN, POSE_STD = (a.astype(np.float32) for a in _table())


class PosePrior:
    """The prior's terms as torch functions (tables converted once).

    Args:
        limit_std_rad: how steep the range penalty is: exceeding a bound by this much costs
            as much as one standard deviation of the Gaussian.
    """

    def __init__(self, limit_std_rad: float = 0.05) -> None:
        self.low = torch.from_numpy(POSE_LOW)
        self.high = torch.from_numpy(POSE_HIGH)
        self.mean = torch.from_numpy(POSE_MEAN)
        self.inv_std = torch.from_numpy(1.0 / POSE_STD)
        self.inv_limit = 1.0 / float(limit_std_rad)

    def gaussian(self, body_pose: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        """(N,) sum of squared standardised deviations from the mean stance, (N, 21, 3) input.

        ``scale`` (N, 21): optional weight of each joint's share (1 = the full prior).
        """
        per_joint = (((body_pose - self.mean) * self.inv_std) ** 2).sum(2)
        return (per_joint if scale is None else per_joint * scale).sum(1)

    def limits(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(N,) squared excess over the ranges, in units of ``limit_std_rad``."""
        over = torch.relu(body_pose - self.high) + torch.relu(self.low - body_pose)
        return ((over * self.inv_limit) ** 2).sum((1, 2))

    def clamp_(self, body_pose: torch.Tensor) -> torch.Tensor:
        """Clamp (N, 21, 3) in place into the ranges (used on initial guesses)."""
        return torch.maximum(torch.minimum(body_pose, self.high), self.low, out=body_pose)


def mean_pose(n: int) -> np.ndarray:
    """(n, 21, 3) float32 copies of the prior's mean stance."""
    return np.broadcast_to(POSE_MEAN, (n, NUM_BODY_JOINTS, 3)).copy()

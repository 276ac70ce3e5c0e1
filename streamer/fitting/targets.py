"""What the fitter fits to: keypoint rows → body-model points, weights, and 3D bone directions.

Shape legend: ``N`` player-frames; ``K`` keypoints of the layout; ``T`` targets (keypoints
with a body-model counterpart); ``D`` bone directions.

The keypoint → SMPL-X pairs come from :mod:`streamer.pose.layouts`. A pair is used when the
body model has that SMPL-X point by name: a joint it returns (``body.joint_names``) or a
surface landmark picked on its mesh (:mod:`streamer.fitting.landmarks`, for backends such
as ``mannequin`` that return no nose, eyes, ears, toes or heels).

Per-target weights (:data:`TARGET_WEIGHT`) encode known mismatches: 2D hips are marked on
the outside of the pelvis while SMPL-X's hips are the femur heads, and BlazePose's hand
points are knuckles, not SMPL-X's finger joints.

3D bone directions (:data:`BONES`) compare unit vectors between target groups in the model
with the same vectors in the keypoint model's metric 3D (BlazePose world landmarks): unit
vectors are free of the model's scale and of where its root is, and resolve the depth order
of limbs that 2D alone leaves ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.pose.layouts import get_layout

_SIDES = ("left", "right")

#: weight of a target by its SMPL-X name (default 1)
TARGET_WEIGHT: dict[str, float] = {
    **{f"{s}_hip": 0.5 for s in _SIDES},
    **{f"{s}_{f}1": 0.5 for s in _SIDES for f in ("pinky", "index")}, **{f"{s}_thumb2": 0.5 for s in _SIDES},
    **{f"{s}_{p}": 0.5 for s in _SIDES for p in ("eye", "ear")}, "nose": 0.5,
}  # fmt: skip


def _limb_bones(side: str) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    s = side
    return (
        ((f"{s}_shoulder",), (f"{s}_elbow",)), ((f"{s}_elbow",), (f"{s}_wrist",)),
        ((f"{s}_hip",), (f"{s}_knee",)), ((f"{s}_knee",), (f"{s}_ankle",)),
        ((f"{s}_ankle",), (f"{s}_big_toe",)), ((f"{s}_heel",), (f"{s}_big_toe",)),
        ((f"{s}_wrist",), (f"{s}_pinky1", f"{s}_index1")),
    )  # fmt: skip


#: bone directions: (from group, to group) of SMPL-X target names; a vector is mean(to) - mean(from)
BONES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    *_limb_bones("left"), *_limb_bones("right"),
    (("right_hip",), ("left_hip",)), (("right_shoulder",), ("left_shoulder",)),
    (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")),
    (("left_shoulder", "right_shoulder"), ("left_ear", "right_ear")),
    (("right_ear",), ("left_ear",)), (("left_ear", "right_ear"), ("nose",)),
)  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class TargetSpec:
    """How one keypoint layout is fitted with one body model.

    Attributes:
        layout: keypoint layout name.
        target_names: (T,) SMPL-X name each target stands for.
        keypoint_rows: (T,) int64 rows of the layout.
        point_names: (T,) the body-model point fitted to each target (today always its own name).
        weight: (T,) float32 per-target weight.
        extra_names: body-model points beyond the 22 body joints the targets need.
        bone_coeff: (D, T) float32: bone vector d = sum_t bone_coeff[d, t] * position[t].
    """

    layout: str
    target_names: tuple[str, ...]
    keypoint_rows: np.ndarray
    point_names: tuple[str, ...]
    weight: np.ndarray
    extra_names: tuple[str, ...]
    bone_coeff: np.ndarray

    @property
    def num_targets(self) -> int:
        return len(self.target_names)

    def rows_of(self, *names: str) -> np.ndarray:
        """(len(names),) target positions of SMPL-X names (-1 where the spec lacks one)."""
        return np.array([self.target_names.index(n) if n in self.target_names else -1 for n in names],
                        np.int64)


def make_target_spec(layout_name: str, model_point_names: tuple[str, ...], body_joint_names: tuple[str, ...]
                     ) -> TargetSpec:
    """The targets of ``layout_name`` for a body model whose points are ``model_point_names``.

    Args:
        layout_name: a layout of :mod:`streamer.pose.layouts`.
        model_point_names: every point the body model has: ``body.joint_names`` plus the
            surface landmarks picked on its mesh.
        body_joint_names: the 22 body-joint names (always present).
    """
    layout = get_layout(layout_name)
    have = set(model_point_names)
    names, rows, points, weights = [], [], [], []
    for keypoint, target in layout.smplx_pairs:
        if target in have:
            point, weight = target, TARGET_WEIGHT.get(target, 1.0)
        else:
            continue
        names.append(target)
        rows.append(layout.index(keypoint))
        points.append(point)
        weights.append(weight)
    extra = tuple(dict.fromkeys(p for p in points if p not in body_joint_names))
    coeff = _bone_coefficients(names, points)
    return TargetSpec(layout_name, tuple(names), np.array(rows, np.int64), tuple(points),
                      np.array(weights, np.float32), extra, coeff)


def _bone_coefficients(names: list[str], points: list[str]) -> np.ndarray:
    """(D, T) bones whose groups all have targets and whose model-side vector is not degenerate."""
    # (two targets mapped onto one model point would cancel: such bones are skipped)
    out = []
    for start, end in BONES:
        if not all(n in names for n in start + end):
            continue
        coeff = np.zeros(len(names), np.float32)
        for group, sign in ((start, -1.0), (end, 1.0)):
            for n in group:
                coeff[names.index(n)] += sign / len(group)
        per_point: dict[str, float] = {}
        for t in np.flatnonzero(coeff):
            per_point[points[t]] = per_point.get(points[t], 0.0) + float(coeff[t])
        if any(abs(v) > 1e-6 for v in per_point.values()):
            out.append(coeff)
    return np.array(out, np.float32).reshape(-1, len(names))


def bone_vectors(positions: np.ndarray, coeff: np.ndarray) -> np.ndarray:
    """(N, D, 3) bone vectors of (N, T, 3) target positions."""
    return np.einsum("dt,ntc->ndc", coeff, positions)


def bone_confidence(conf: np.ndarray, coeff: np.ndarray) -> np.ndarray:
    """(N, D) confidence of each bone: the least confident target it uses."""
    used = np.abs(coeff) > 0  # (D, T)
    masked = np.where(used[None], conf[:, None, :], np.inf)
    out = masked.min(axis=2)
    return np.where(np.isfinite(out), out, 0.0).astype(np.float32)


def player_scale_px(xy_px: np.ndarray, conf: np.ndarray, min_conf: float = 0.3, floor_px: float = 8.0
                    ) -> np.ndarray:
    """(N,) size of each player in pixels: the diagonal of its confident targets' extent.

    Residuals are divided by this, so a 30 px player far away counts as much as a 300 px one
    near the camera (a keypoint model's error also grows with the player's size). Falls back
    to every target when fewer than two are confident; never below ``floor_px``.
    """
    ok = conf >= min_conf
    ok = np.where(ok.sum(1, keepdims=True) >= 2, ok, conf > 0)
    lo = np.where(ok[..., None], xy_px, np.inf).min(1)
    hi = np.where(ok[..., None], xy_px, -np.inf).max(1)
    diag = np.linalg.norm(hi - lo, axis=1)
    return np.where(np.isfinite(diag), np.maximum(diag, floor_px), floor_px).astype(np.float32)

"""Keypoint layouts and their mapping onto the SMPL-X joints the mesh stages fit.

Shape legend: ``N`` players, ``K`` keypoints of a layout, ``J`` keypoints that map
onto an SMPL-X joint.

A :class:`Layout` names the rows of ``Keypoints.xy_px`` (``Keypoints.layout`` holds
its name). "left" and "right" are always the player's own sides, as in SMPL-X: a
player facing the camera has his left side on the image's right.

The SMPL-X targets are named as in the ``smplx`` package (``smplx.joint_names.
JOINT_NAMES``: 55 skeleton joints, then the vertex-based nose, eyes, ears, toes,
heels and finger tips, then 51 face landmarks and 17 face-contour landmarks) and
resolved to indices into the joints an ``smplx`` model returns only when asked, so
that importing this module never imports torch.

Some pairs are approximate and a fitter may weight them lower: 2D datasets mark
the hips on the outside of the pelvis, while SMPL-X's hip joints are the femur
heads; BlazePose's hand points are knuckles (pinky and index #1, thumb #2).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from streamer.records import Keypoints

_SIDES = ("left", "right")

BLAZEPOSE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

_FEET6 = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")

HALPE26_NAMES: tuple[str, ...] = COCO17_NAMES + (
    "head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe",
    "left_heel", "right_heel",
)  # fmt: skip

#: 68 iBUG face points (0-16 jaw contour from the player's right, 17-26 brows, 27-35 nose,
#: 36-47 eyes, 48-67 mouth), as COCO-WholeBody orders them
_FACE68 = tuple(f"face_{i}" for i in range(68))
#: 21 hand points: wrist, then thumb (CMC, MCP, IP, tip) and each finger (MCP, PIP, DIP, tip)
_HAND_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
_HAND21 = ("wrist",) + tuple(f"{f}{i}" for f in _HAND_FINGERS for i in range(1, 5))

COCO_WHOLEBODY133_NAMES: tuple[str, ...] = (
    COCO17_NAMES + _FEET6 + _FACE68
    + tuple(f"left_hand_{p}" for p in _HAND21) + tuple(f"right_hand_{p}" for p in _HAND21)
)

# ---------------------------------------------------------------------------------------------
# SMPL-X targets (smplx.joint_names.JOINT_NAMES spelling)

_LIMBS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
_COCO_BODY_PAIRS = tuple((f"{s}_{j}", f"{s}_{j}") for s in _SIDES for j in _LIMBS) + tuple(
    (n, n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
)

#: SMPL-X names of the 68 iBUG face points, in iBUG order (contour first, then the 51 inner ones)
_SMPLX_FACE68 = (
    tuple(f"right_contour_{i}" for i in range(1, 9)) + ("contour_middle",)
    + tuple(f"left_contour_{i}" for i in range(8, 0, -1))
    + tuple(f"right_eye_brow{i}" for i in range(1, 6)) + tuple(f"left_eye_brow{i}" for i in range(5, 0, -1))
    + ("nose1", "nose2", "nose3", "nose4", "right_nose_2", "right_nose_1", "nose_middle", "left_nose_1",
       "left_nose_2")
    + tuple(f"right_eye{i}" for i in range(1, 7)) + ("left_eye4", "left_eye3", "left_eye2", "left_eye1",
                                                       "left_eye6", "left_eye5")
    + ("right_mouth_1", "right_mouth_2", "right_mouth_3", "mouth_top", "left_mouth_3", "left_mouth_2",
       "left_mouth_1", "left_mouth_5", "left_mouth_4", "mouth_bottom", "right_mouth_4", "right_mouth_5")
    + ("right_lip_1", "right_lip_2", "lip_top", "left_lip_2", "left_lip_1", "left_lip_3", "lip_bottom",
       "right_lip_3")
)  # fmt: skip

_SMPLX_FINGERS = ("thumb", "index", "middle", "ring", "pinky")


def _hand_pairs(side: str) -> tuple[tuple[str, str], ...]:
    """COCO-WholeBody hand points → SMPL-X finger joints (1-3) and vertex finger tips."""
    pairs = []
    for ours, theirs in zip(_HAND_FINGERS, _SMPLX_FINGERS, strict=True):
        pairs += [(f"{side}_hand_{ours}{i}", f"{side}_{theirs}{i}") for i in range(1, 4)]
        pairs.append((f"{side}_hand_{ours}4", f"{side}_{theirs}"))
    return tuple(pairs)


_BLAZEPOSE_PAIRS = _COCO_BODY_PAIRS + tuple(
    pair
    for s in _SIDES
    for pair in (
        (f"{s}_heel", f"{s}_heel"), (f"{s}_foot_index", f"{s}_big_toe"),
        (f"{s}_pinky", f"{s}_pinky1"), (f"{s}_index", f"{s}_index1"), (f"{s}_thumb", f"{s}_thumb2"),
        (f"{s}_eye_inner", f"{s}_eye4"), (f"{s}_eye_outer", f"{s}_eye1"), (f"mouth_{s}", f"{s}_mouth_1"),
    )
)  # fmt: skip
_FEET_PAIRS = tuple((n, n) for n in _FEET6)
_WHOLEBODY_PAIRS = (
    _COCO_BODY_PAIRS + _FEET_PAIRS + tuple(zip(_FACE68, _SMPLX_FACE68, strict=True))
    + _hand_pairs("left") + _hand_pairs("right")
)

# ---------------------------------------------------------------------------------------------
# Skeleton edges (drawing) by name; an edge is kept where a layout has both ends

_EDGE_NAMES: tuple[tuple[str, str], ...] = (
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    *((f"{s}_shoulder", f"{s}_hip") for s in _SIDES),
    *((f"{s}_shoulder", f"{s}_elbow") for s in _SIDES), *((f"{s}_elbow", f"{s}_wrist") for s in _SIDES),
    *((f"{s}_hip", f"{s}_knee") for s in _SIDES), *((f"{s}_knee", f"{s}_ankle") for s in _SIDES),
    *((f"{s}_ankle", f"{s}_heel") for s in _SIDES), *((f"{s}_heel", f"{s}_foot_index") for s in _SIDES),
    *((f"{s}_ankle", f"{s}_foot_index") for s in _SIDES), *((f"{s}_ankle", f"{s}_big_toe") for s in _SIDES),
    *((f"{s}_wrist", f"{s}_index") for s in _SIDES),
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
    ("head", "neck"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Layout:
    """One keypoint layout: names, drawing edges and SMPL-X targets.

    Attributes:
        name: the value of ``Keypoints.layout``.
        keypoint_names: (K,) names, in row order.
        smplx_pairs: (keypoint name, SMPL-X joint name) for every keypoint that has one.
    """

    name: str
    keypoint_names: tuple[str, ...]
    smplx_pairs: tuple[tuple[str, str], ...]

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    def index(self, name: str) -> int:
        """Row of the keypoint ``name`` (ValueError naming the layout if it has none)."""
        try:
            return self.keypoint_names.index(name)
        except ValueError as exc:
            raise ValueError(f"layout {self.name} has no keypoint {name!r}") from exc

    def indices(self, *names: str) -> np.ndarray:
        """(len(names),) int64 rows of the given keypoints."""
        return np.array([self.index(n) for n in names], np.int64)

    @property
    def edges(self) -> np.ndarray:
        """(E, 2) int64 keypoint rows joined when a skeleton is drawn."""
        have = set(self.keypoint_names)
        pairs = [(self.index(a), self.index(b)) for a, b in _EDGE_NAMES if a in have and b in have]
        return np.array(pairs, np.int64).reshape(-1, 2)

    def smplx_mapping(self) -> tuple[np.ndarray, np.ndarray]:
        """Keypoint rows and the SMPL-X joint index each one targets.

        Returns:
            keypoint_index: (J,) int64 rows of this layout.
            smplx_index: (J,) int64 indices into ``smplx.joint_names.JOINT_NAMES``, i.e. into
                the joints an ``smplx`` SMPL-X model returns (face-contour targets need the
                model built with ``use_face_contour=True``).
        """
        positions = _smplx_joint_positions()
        kp = np.array([self.index(a) for a, _ in self.smplx_pairs], np.int64)
        try:
            sx = np.array([positions[b] for _, b in self.smplx_pairs], np.int64)
        except KeyError as exc:
            raise ValueError(f"layout {self.name}: {exc.args[0]!r} is not an SMPL-X joint name") from exc
        return kp, sx


@functools.cache
def _smplx_joint_positions() -> dict[str, int]:
    from smplx.joint_names import JOINT_NAMES  # imports torch: only when a mapping is asked for

    return {name: i for i, name in enumerate(JOINT_NAMES)}


BLAZEPOSE33 = Layout("blazepose33", BLAZEPOSE33_NAMES, _BLAZEPOSE_PAIRS)
COCO17 = Layout("coco17", COCO17_NAMES, _COCO_BODY_PAIRS)
HALPE26 = Layout("halpe26", HALPE26_NAMES, _COCO_BODY_PAIRS + _FEET_PAIRS)
COCO_WHOLEBODY133 = Layout("coco_wholebody133", COCO_WHOLEBODY133_NAMES, _WHOLEBODY_PAIRS)

LAYOUTS: dict[str, Layout] = {x.name: x for x in (BLAZEPOSE33, COCO17, HALPE26, COCO_WHOLEBODY133)}


def get_layout(name: str) -> Layout:
    """The layout called ``name`` (ValueError listing the known ones)."""
    try:
        return LAYOUTS[name]
    except KeyError as exc:
        raise ValueError(f"unknown keypoint layout {name!r} (known: {', '.join(LAYOUTS)})") from exc


def layout_for_count(num_keypoints: int) -> Layout:
    """The COCO-family layout a top-down model with ``num_keypoints`` outputs uses."""
    for layout in (COCO17, HALPE26, COCO_WHOLEBODY133):
        if layout.num_keypoints == num_keypoints:
            return layout
    known = ", ".join(f"{x.num_keypoints} ({x.name})" for x in (COCO17, HALPE26, COCO_WHOLEBODY133))
    raise ValueError(f"no keypoint layout has {num_keypoints} keypoints (supported: {known})")


@dataclass(frozen=True, slots=True, eq=False)
class SmplxTargets:
    """2D targets for an SMPL-X fit, taken from one frame's keypoints.

    Attributes:
        smplx_index: (J,) int64 indices into ``smplx.joint_names.JOINT_NAMES``.
        xy_px: (N, J, 2) float32 full-frame pixels.
        conf: (N, J) float32 in [0, 1].
    """

    smplx_index: np.ndarray
    xy_px: np.ndarray
    conf: np.ndarray


def smplx_targets(keypoints: Keypoints) -> SmplxTargets:
    """The rows of ``keypoints`` that have an SMPL-X counterpart, with that joint's index."""
    kp_index, sx_index = get_layout(keypoints.layout).smplx_mapping()
    return SmplxTargets(sx_index, keypoints.xy_px[:, kp_index], keypoints.conf[:, kp_index])

"""Keypoint layouts, their SMPL-X mapping tables and the skeleton plausibility checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streamer.pose.layouts import LAYOUTS, get_layout, layout_for_count, smplx_targets
from streamer.pose.plausibility import check_skeletons
from streamer.records import Keypoints


@pytest.mark.parametrize(
    "name, count", [("blazepose33", 33), ("coco17", 17), ("halpe26", 26), ("coco_wholebody133", 133)]
)
def test_layout_sizes_and_unique_names(name, count):
    layout = get_layout(name)
    assert layout.num_keypoints == count
    assert len(set(layout.keypoint_names)) == count
    assert layout.edges.shape[1] == 2 and len(layout.edges) >= 12


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_smplx_target_is_an_smplx_joint_name(name):
    from smplx.joint_names import JOINT_NAMES

    layout = get_layout(name)
    targets = [b for _, b in layout.smplx_pairs]
    assert set(targets) <= set(JOINT_NAMES)
    assert len(set(targets)) == len(targets), "two keypoints target one joint"
    kp, sx = layout.smplx_mapping()
    assert [JOINT_NAMES[i] for i in sx] == targets
    assert [layout.keypoint_names[i] for i in kp] == [a for a, _ in layout.smplx_pairs]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_mapping_is_left_right_symmetric(name):
    def mirror(text: str) -> str:
        return text.replace("left", "@").replace("right", "left").replace("@", "right")

    pairs = set(get_layout(name).smplx_pairs)
    sided = {(a, b) for a, b in pairs if mirror(a) != a}  # face_k points carry no side in their name
    assert {(mirror(a), mirror(b)) for a, b in sided} == sided
    assert all(mirror(b) == b for a, b in pairs - sided if not a.startswith("face_"))


@pytest.mark.parametrize(
    "layout, keypoint, joint",
    [
        ("blazepose33", "left_knee", "left_knee"),
        ("blazepose33", "right_foot_index", "right_big_toe"),
        ("blazepose33", "left_eye_inner", "left_eye4"),
        ("blazepose33", "mouth_right", "right_mouth_1"),
        ("coco17", "nose", "nose"),
        ("halpe26", "left_small_toe", "left_small_toe"),
        ("coco_wholebody133", "face_8", "contour_middle"),
        ("coco_wholebody133", "face_36", "right_eye1"),
        ("coco_wholebody133", "left_hand_thumb4", "left_thumb"),
        ("coco_wholebody133", "right_hand_pinky_finger2", "right_pinky2"),
    ],
)
def test_mapping_spot_checks(layout, keypoint, joint):
    assert (keypoint, joint) in get_layout(layout).smplx_pairs


def test_layout_for_count_and_unknowns():
    assert layout_for_count(133).name == "coco_wholebody133"
    with pytest.raises(ValueError, match="no keypoint layout has 21 keypoints"):
        layout_for_count(21)
    with pytest.raises(ValueError, match="unknown keypoint layout 'openpose25'"):
        get_layout("openpose25")
    with pytest.raises(ValueError, match="has no keypoint 'neck'"):
        get_layout("coco17").index("neck")


def test_smplx_targets_pick_the_mapped_rows():
    layout = get_layout("coco17")
    xy = np.arange(2 * 17 * 2, dtype=np.float32).reshape(2, 17, 2)
    conf = np.linspace(0, 1, 34, dtype=np.float32).reshape(2, 17)
    targets = smplx_targets(Keypoints(np.array([4, 9]), xy, conf, "coco17"))
    kp, sx = layout.smplx_mapping()
    assert targets.xy_px.shape == (2, len(kp), 2)
    np.testing.assert_array_equal(targets.xy_px, xy[:, kp])
    np.testing.assert_array_equal(targets.conf, conf[:, kp])
    np.testing.assert_array_equal(targets.smplx_index, sx)


# ---------------------------------------------------------------------------------------------
# plausibility

#: a person 100 px tall standing in box (0, 0, 50, 100), facing the camera
_STANDING = {
    "left_shoulder": (33, 20), "right_shoulder": (17, 20), "left_elbow": (36, 37), "right_elbow": (14, 37),
    "left_wrist": (37, 50), "right_wrist": (13, 50), "left_hip": (30, 50), "right_hip": (20, 50),
    "left_knee": (30, 72), "right_knee": (20, 72), "left_ankle": (30, 95), "right_ankle": (20, 95),
}  # fmt: skip
_BOX = np.array([[0, 0, 50, 100]], np.float32)


def _skeleton(layout: str = "coco17", **moves: tuple[float, float]) -> Keypoints:
    lay = get_layout(layout)
    xy = np.zeros((1, lay.num_keypoints, 2), np.float32)
    xy[0, :] = (25, 10)
    for name, point in {**_STANDING, **moves}.items():
        xy[0, lay.index(name)] = point
    return Keypoints(np.array([1]), xy, np.ones((1, lay.num_keypoints), np.float32), layout)


@pytest.mark.parametrize("layout", ["coco17", "blazepose33", "coco_wholebody133"])
def test_a_standing_person_is_plausible(layout):
    assert check_skeletons(_skeleton(layout), _BOX).plausible.tolist() == [True]


@pytest.mark.parametrize(
    "moves, failing",
    [
        ({"left_hip": (55, 50)}, "hips_in_box"),
        ({"left_shoulder": (33, 75), "right_shoulder": (17, 75), "left_elbow": (36, 90),
          "right_elbow": (14, 90), "left_wrist": (37, 98), "right_wrist": (13, 98)},
         "shoulders_above_hips"),  # head down, arms along the body
        ({"right_ankle": (20, 60)}, "ankles_below_knees"),
        ({"left_knee": (30, 51), "left_ankle": (30, 52)}, "limb_ratios"),  # collapsed leg
        ({"right_wrist": (13, 90)}, "limb_ratios"),  # forearm 1.8x the torso
        ({"left_shoulder": (33, 47), "right_shoulder": (17, 47)}, "limb_ratios"),  # torso 3 % of the box
    ],
)
def test_implausible_skeletons_fail_the_right_check(moves, failing):
    result = check_skeletons(_skeleton(**moves), _BOX)
    assert result.plausible.tolist() == [False]
    failed = [f.name for f in dataclasses.fields(result) if not getattr(result, f.name)[0]]
    assert failed == [failing]

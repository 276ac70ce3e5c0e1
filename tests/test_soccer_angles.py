"""Joint angles from known 3D poses, in any frame; bodies placed on the pitch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from streamer.soccer.angles import ANGLE_NAMES, JOINT, NUM_BODY_JOINTS_WITH_ROOT, joint_angles
from streamer.soccer.ground import (
    FOOT_JOINT_HEIGHT_M,
    body_in_pitch,
    box_ground_px,
    grass_under_pelvis_cam,
    project,
)


def _dir(angle_deg: float) -> np.ndarray:
    """Unit vector in the sagittal plane: 0 straight down, +90 forward (body frame: x left, y up, z front)."""
    a = np.radians(angle_deg)
    return np.array([0.0, -np.cos(a), np.sin(a)])


def pose(knee_l: float, knee_r: float, hip_l: float, hip_r: float, lean: float) -> np.ndarray:
    """(22, 3) joints of a body with the given flexions (degrees), trunk leaning ``lean`` forward.

    Body frame: x toward the body's left, y up, z forward; pelvis at the origin.
    """
    j = np.zeros((NUM_BODY_JOINTS_WITH_ROOT, 3))
    trunk = np.array([0.0, np.cos(np.radians(lean)), np.sin(np.radians(lean))])  # up, tilted forward
    j[JOINT["neck"]] = 0.5 * trunk
    for name, frac in (("spine1", 0.1), ("spine2", 0.25), ("spine3", 0.35), ("head", 0.6)):
        j[JOINT[name]] = frac / 0.5 * j[JOINT["neck"]]
    for side, sign, knee, hip in (("left", 1.0, knee_l, hip_l), ("right", -1.0, knee_r, hip_r)):
        j[JOINT[f"{side}_hip"]] = [sign * 0.09, -0.05, 0.0]
        # the thigh leaves the trunk's downward axis (at -lean) by ``hip``
        thigh_angle = hip - lean
        j[JOINT[f"{side}_knee"]] = j[JOINT[f"{side}_hip"]] + 0.42 * _dir(thigh_angle)
        j[JOINT[f"{side}_ankle"]] = j[JOINT[f"{side}_knee"]] + 0.42 * _dir(thigh_angle - knee)
        j[JOINT[f"{side}_foot"]] = j[JOINT[f"{side}_ankle"]] + np.array([0, -0.05, 0.12])
        j[JOINT[f"{side}_shoulder"]] = j[JOINT["neck"]] + [sign * 0.18, 0, 0]
        j[JOINT[f"{side}_collar"]] = j[JOINT["neck"]] + [sign * 0.08, 0, 0]
        j[JOINT[f"{side}_elbow"]] = j[JOINT[f"{side}_shoulder"]] + [0, -0.28, 0]
        j[JOINT[f"{side}_wrist"]] = j[JOINT[f"{side}_elbow"]] + [0, -0.25, 0]
    return j


POSES = [
    # knee_l, knee_r, hip_l, hip_r, lean
    (0.0, 0.0, 0.0, 0.0, 0.0),  # standing
    (90.0, 10.0, 45.0, -15.0, 0.0),  # running stride
    (120.0, 60.0, 80.0, 20.0, 25.0),  # sprint start, leaning
    (30.0, 30.0, -20.0, -20.0, -10.0),  # legs behind, leaning back
    (5.0, 140.0, 0.0, 100.0, 40.0),  # high knee lift, bent over
]


@pytest.mark.parametrize("angles", POSES)
@pytest.mark.parametrize("seed", [0, 1])
def test_known_poses_give_known_angles_within_2_degrees(angles, seed):
    knee_l, knee_r, hip_l, hip_r, lean = angles
    body = pose(*angles)
    # body frame -> an arbitrary camera frame (x right, y down, z forward): any rotation + offset
    rot = Rotation.random(random_state=seed).as_matrix()
    cam = body @ rot.T + np.array([1.0, 2.0, 30.0])
    up_cam = rot @ np.array([0.0, 1.0, 0.0])  # the world's vertical = the body frame's y
    got = joint_angles(cam[None], up_cam)
    expected = dict(zip(ANGLE_NAMES, (knee_l, knee_r, hip_l, hip_r, abs(lean)), strict=True))
    for name in ANGLE_NAMES:
        assert got[name][0] == pytest.approx(expected[name], abs=2.0), name


def test_trunk_lean_needs_the_vertical():
    got = joint_angles(pose(0, 0, 0, 0, 10.0)[None], None)
    assert np.isnan(got["trunk_lean_deg"][0])
    assert got["left_knee_flexion_deg"][0] == pytest.approx(0.0, abs=1e-6)


def test_bad_joint_shape_raises():
    with pytest.raises(ValueError, match="expected shape"):
        joint_angles(np.zeros((1, 10, 3)))


def placed_body():
    """A leaning, striding body in a camera looking across the pitch; its pitch placement."""
    body = pose(30.0, 60.0, 20.0, 40.0, 10.0)  # x left, y up, z front
    base = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # pitch -> camera, level camera
    rot = Rotation.from_euler("x", -20, degrees=True).as_matrix() @ base  # tilted down 20 degrees
    facing = Rotation.from_euler("z", 30, degrees=True).as_matrix()  # faces 30 deg left of +y
    body_to_pitch = facing @ np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    pitch = body @ body_to_pitch.T + [5.0, 3.0, 0.0]
    pitch[:, 2] += FOOT_JOINT_HEIGHT_M - pitch[[JOINT["left_foot"], JOINT["right_foot"]], 2].min()
    t = np.array([0.0, 10.0, 60.0])
    return pitch, pitch @ rot.T + t, rot, t


def test_body_in_pitch_stands_on_its_ground_point():
    pitch, joints_cam, rot, _ = placed_body()
    placed = body_in_pitch(joints_cam[None], rot, pitch[None, JOINT["pelvis"], :2])[0]
    np.testing.assert_allclose(placed, pitch, atol=1e-9)
    trunk = placed[JOINT["neck"]] - placed[JOINT["pelvis"]]
    assert np.degrees(np.arccos(trunk[2] / np.linalg.norm(trunk))) == pytest.approx(10.0, abs=1e-6)


def test_ground_point_is_the_grass_under_the_pelvis():
    pitch, joints_cam, rot, t = placed_body()
    under = grass_under_pelvis_cam(joints_cam[None], rot[:, 2])[0]
    expected = np.array([*pitch[JOINT["pelvis"], :2], 0.0]) @ rot.T + t
    np.testing.assert_allclose(under, expected, atol=1e-9)


def test_ground_points_from_boxes_and_projection():
    np.testing.assert_allclose(box_ground_px(np.array([[10, 20, 30, 80.0]])), [[20.0, 80.0]])
    k = np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
    np.testing.assert_allclose(
        project(np.array([[0.1, 1.0, 20.0], [0, 0, -1.0]]), k), [[645.0, 410.0], [np.nan, np.nan]]
    )

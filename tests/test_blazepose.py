"""BlazePose backend: output decoding, heatmap refinement, and the real model on a real player."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.errors import ConfigError
from streamer.models.blazepose import (
    INPUT_PX,
    NUM_LANDMARKS,
    BlazePoseBackend,
    RawOutputs,
    decode,
    find_model,
    refine_from_heatmap,
    sigmoid,
)
from streamer.pose.crop import crop_to_image
from streamer.pose.layouts import BLAZEPOSE33
from streamer.pose.plausibility import check_skeletons
from streamer.records import Keypoints

#: a hand-made box around the player in messi5.jpg (548 x 342): left hand to extended boot,
#: hair to planted boot
MESSI_BOX = (65.0, 58.0, 460.0, 338.0)
LIMBS = [f"{s}_{j}" for s in ("left", "right") for j in
         ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "heel", "foot_index")]  # fmt: skip


def _raw(m: int) -> RawOutputs:
    rng = np.random.default_rng(m)
    landmarks = rng.uniform(0, INPUT_PX, (m, NUM_LANDMARKS, 5)).astype(np.float32)
    world = rng.normal(0, 0.5, (m, NUM_LANDMARKS, 3)).astype(np.float32)
    return RawOutputs(landmarks, np.full(m, 0.9, np.float32), world)


def test_decode_maps_crop_pixels_to_the_frame_and_squashes_confidences():
    raw = _raw(2)
    raw.landmarks[..., 3:] = [[2.0, -1.0]]
    mats = crop_to_image(np.array([[100.0, 50.0], [0.0, 0.0]]), np.array([[512.0, 512.0], [256.0, 256.0]]),
                         np.zeros(2), (INPUT_PX, INPUT_PX))
    batch = decode(raw, mats, np.zeros(2))
    assert batch.xy_px.shape == (2, 33, 2) and batch.world_m.shape == (2, 33, 3)
    expected = 2 * raw.landmarks[0, :33, :2] + [100 - 256, 50 - 256]
    np.testing.assert_allclose(batch.xy_px[0], expected, rtol=1e-5)
    np.testing.assert_allclose(batch.xy_px[1], raw.landmarks[1, :33, :2] - 128, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(batch.conf, sigmoid(np.float32(2.0)) * sigmoid(np.float32(-1.0)), rtol=1e-6)
    np.testing.assert_allclose(batch.pose_score, 0.9)


def test_decode_turns_world_landmarks_back_by_the_roi_angle():
    raw = _raw(1)
    raw.world[0, 0] = (0.0, -1.0, 0.25)  # "up" in the crop
    mats = crop_to_image(np.zeros((1, 2)), np.full((1, 2), 256.0), np.array([np.pi / 2]), (256, 256))
    batch = decode(raw, mats, np.array([np.pi / 2]))
    np.testing.assert_allclose(batch.world_m[0, 0], (1.0, 0.0, 0.25), atol=1e-6)  # image right, z kept


def test_refine_moves_confident_points_to_the_heatmap_peak():
    xy = np.array([[[100.0, 60.0], [100.0, 60.0], [300.0, 60.0]]])
    heatmap = np.full((1, 64, 64, 3), -20.0, np.float32)
    heatmap[0, 16, 26, 0] = 10.0  # point 0: a sharp, confident peak two cells from it
    heatmap[0, 16, 26, 1] = -1.0  # point 1: a weak peak (p = 0.27 < 0.5): left alone
    heatmap[0, 15, 25, 2] = 10.0  # point 2: outside the crop: left alone
    out = refine_from_heatmap(xy, heatmap)
    np.testing.assert_allclose(out[0, 0], (26 * 4, 16 * 4), atol=1e-3)
    np.testing.assert_array_equal(out[0, 1:], xy[0, 1:])


def test_find_model_reports_a_missing_user_file(tmp_path):
    assert find_model().name == "pose_landmark_full.tflite"
    with pytest.raises(ConfigError, match="no such file"):
        find_model(tmp_path / "nope.tflite")


@pytest.fixture(scope="module")
def backend() -> BlazePoseBackend:
    return BlazePoseBackend(threads=1, batch_size=4)


@pytest.fixture
def messi(shared_data) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(shared_data / "images" / "messi5.jpg")), cv2.COLOR_BGR2RGB)


def test_messi_skeleton_is_inside_the_box_and_not_mirrored(backend, messi):
    box = np.array([MESSI_BOX], np.float32)
    batch = backend.estimate([messi], np.array([0]), box, np.zeros(1))
    keypoints = Keypoints(np.array([1]), batch.xy_px, batch.conf, backend.layout, batch.world_m)
    xy = {name: batch.xy_px[0, BLAZEPOSE33.index(name)] for name in BLAZEPOSE33.keypoint_names}
    x1, y1, x2, y2 = MESSI_BOX
    for name in LIMBS:
        assert x1 <= xy[name][0] <= x2 and y1 <= xy[name][1] <= y2, name
    h, w = messi.shape[:2]
    # he faces the camera: his left side is on the image's right
    assert xy["left_shoulder"][0] > xy["right_shoulder"][0]
    assert xy["left_hip"][0] > xy["right_hip"][0]
    # his left leg is the extended one, towards the image's right
    assert xy["left_ankle"][0] > xy["left_knee"][0] > xy["left_hip"][0]
    assert xy["left_ankle"][0] > xy["right_ankle"][0] + 0.15 * w
    # his right foot is planted near the image's centre-bottom
    assert 0.35 * w < xy["right_ankle"][0] < 0.65 * w and xy["right_ankle"][1] > 0.8 * h
    assert xy["right_ankle"][1] > xy["left_ankle"][1]
    assert check_skeletons(keypoints, box).plausible.tolist() == [True]
    assert batch.pose_score[0] > 0.9 and batch.conf[0, BLAZEPOSE33.indices(*LIMBS)].mean() > 0.5
    # world landmarks: metres, hip-centred, a plausible size (shoulder to ankle well under 2 m)
    world = batch.world_m[0]
    hips = world[BLAZEPOSE33.indices("left_hip", "right_hip")].mean(axis=0)
    assert np.linalg.norm(hips) < 0.1
    shoulder_to_ankle = world[BLAZEPOSE33.index("left_shoulder")] - world[BLAZEPOSE33.index("left_ankle")]
    assert 0.8 < np.linalg.norm(shoulder_to_ankle) < 2.0


def test_a_rotated_frame_with_the_matching_roi_angle_gives_the_same_skeleton(backend, messi):
    """Turn the image a quarter clockwise and the ROI with it: same crop, same skeleton."""
    h, w = messi.shape[:2]
    upright = backend.estimate([messi], np.array([0]), np.array([MESSI_BOX], np.float32), np.zeros(1))
    turned = np.ascontiguousarray(np.rot90(messi, k=-1))  # (x, y) -> (h - y, x)
    x1, y1, x2, y2 = MESSI_BOX
    box = np.array([[h - y2, x1, h - y1, x2]], np.float32)
    result = backend.estimate([turned], np.array([0]), box, np.array([np.pi / 2]))
    back = np.stack([result.xy_px[0, :, 1], h - result.xy_px[0, :, 0]], axis=1)  # undo the turn
    np.testing.assert_allclose(back, upright.xy_px[0], atol=0.5)
    np.testing.assert_allclose(result.conf, upright.conf, atol=1e-3)
    # world landmarks come back in the turned camera's axes: x_turned = -y_upright, y_turned = x_upright
    np.testing.assert_allclose(result.world_m[0, :, 0], -upright.world_m[0, :, 1], atol=1e-3)
    np.testing.assert_allclose(result.world_m[0, :, 1], upright.world_m[0, :, 0], atol=1e-3)


def test_batches_of_any_size_give_the_same_result(backend, messi):
    boxes = np.array([MESSI_BOX, (100, 40, 300, 300), MESSI_BOX, (0, 0, 548, 342), (200, 100, 260, 200)],
                     np.float32)
    together = backend.estimate([messi, messi[::-1].copy()], np.array([0, 0, 1, 0, 1]), boxes, np.zeros(5))
    for i in range(5):
        image = messi if i not in (2, 4) else messi[::-1].copy()
        alone = backend.estimate([image], np.array([0]), boxes[i:i + 1], np.zeros(1))
        np.testing.assert_allclose(together.xy_px[i], alone.xy_px[0], atol=1e-2)
    empty = backend.estimate([messi], np.zeros(0, int), np.zeros((0, 4), np.float32), np.zeros(0))
    assert len(empty) == 0 and empty.xy_px.shape == (0, 33, 2)


def test_heatmap_refinement_nudges_points_by_a_few_pixels(backend, messi):
    box = np.array([MESSI_BOX], np.float32)
    unrefined = BlazePoseBackend(threads=1, refine_heatmap=False)
    plain = unrefined.estimate([messi], np.array([0]), box, np.zeros(1))
    refined = backend.estimate([messi], np.array([0]), box, np.zeros(1))
    moved = np.linalg.norm(refined.xy_px[0] - plain.xy_px[0], axis=1)
    assert 0 < np.median(moved) < 4.0  # image px, for a 533 px crop (2 px per heatmap cell)
    np.testing.assert_array_equal(refined.conf, plain.conf)


def test_the_unread_outputs_are_cut_from_the_graph_and_the_others_stay_bit_identical():
    """The landmark model loads without its segmentation head; the kept outputs are the full model's."""
    from ai_edge_litert.interpreter import Interpreter

    from streamer.models.blazepose import SEGMENTATION_SHAPE, BlazePoseLandmarker

    landmarker = BlazePoseLandmarker(threads=1, batch_size=2)
    shapes = [shape for _, shape in landmarker.output_shapes()]
    assert SEGMENTATION_SHAPE not in shapes and len(shapes) == 4
    no_heatmap = BlazePoseLandmarker(threads=1, heatmap=False)
    assert len(no_heatmap.output_shapes()) == 3
    crops = np.random.default_rng(3).integers(0, 256, (2, INPUT_PX, INPUT_PX, 3), dtype=np.uint8)
    pruned = landmarker.run(crops, refine=False)
    np.testing.assert_array_equal(no_heatmap.run(crops).landmarks, pruned.landmarks)  # refine: no heatmap, none
    full = Interpreter(model_path=str(find_model()), num_threads=1)
    index = full.get_input_details()[0]["index"]
    full.resize_tensor_input(index, [2, INPUT_PX, INPUT_PX, 3])
    full.allocate_tensors()
    full.set_tensor(index, crops * np.float32(1.0 / 255.0))  # as the landmarker scales them
    full.invoke()
    by_shape = {tuple(d["shape"][1:]): full.get_tensor(d["index"]) for d in full.get_output_details()}
    assert (INPUT_PX, INPUT_PX, 1) in by_shape  # the file itself still has the head
    np.testing.assert_array_equal(pruned.landmarks.reshape(2, -1), by_shape[(NUM_LANDMARKS * 5,)])
    np.testing.assert_array_equal(pruned.world.reshape(2, -1), by_shape[(NUM_LANDMARKS * 3,)])
    np.testing.assert_array_equal(pruned.pose_flag, by_shape[(1,)][:, 0])

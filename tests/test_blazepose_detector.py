"""BlazePose person detector: anchors, output layout, decoding, NMS and boxes on constructed tensors;
the real model (installed with the package) on a drawn image and on the shared photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.boxes import iou
from streamer.models import blazepose_detector as bd
from streamer.models.blazepose_detector import (
    INPUT_PX,
    NUM_ANCHORS,
    NUM_COORDS,
    RawDetections,
    View,
    box_from_landmarks,
    cut_by_view,
    decode,
    grid_sizes,
    landmark_rois,
    letterbox_view,
    person_boxes,
    plan_levels,
    render_views,
    ssd_anchors,
    tile_views,
    unbatch,
    weighted_nms,
)


def test_anchors_match_the_model_output():
    anchors = ssd_anchors()
    assert anchors.shape == (NUM_ANCHORS, 2)
    assert grid_sizes() == [28 * 28 * 2, 14 * 14 * 2, 7 * 7 * 6]
    # the first cell of the stride-8 grid: two anchors at its centre, then the next cell
    np.testing.assert_allclose(anchors[:3], [[0.5 / 28, 0.5 / 28]] * 2 + [[1.5 / 28, 0.5 / 28]], atol=1e-7)
    # the 28 x 28 grid runs row by row: anchor 2 * 28 starts the second row
    np.testing.assert_allclose(anchors[56], [0.5 / 28, 1.5 / 28], atol=1e-7)
    # the last grid (three stride-32 layers) has six anchors per cell, the last at the bottom-right
    last = anchors[-6:]
    np.testing.assert_allclose(last, [[6.5 / 7, 6.5 / 7]] * 6, atol=1e-6)
    assert not np.allclose(anchors[-7], last[0])


def test_unbatch_undoes_the_graphs_grid_major_layout():
    n, sizes = 3, grid_sizes()
    per_view = np.random.default_rng(0).normal(size=(n, NUM_ANCHORS, NUM_COORDS)).astype(np.float32)
    # what the model returns for a batch: grid 0 of every view, then grid 1 of every view, ...
    parts, start = [], 0
    for size in sizes:
        parts.append(per_view[:, start:start + size].reshape(-1, NUM_COORDS))
        start += size
    flat = np.concatenate(parts)[None]
    np.testing.assert_array_equal(unbatch(flat, n), per_view)
    with pytest.raises(ValueError):
        unbatch(flat, n + 1)


def test_decode_offsets_are_relative_to_the_anchor_centre():
    anchors = ssd_anchors()
    reg = np.zeros((1, NUM_ANCHORS, NUM_COORDS), np.float32)
    logits = np.full((1, NUM_ANCHORS, 1), -10.0, np.float32)
    i = 1000
    # box centre +22.4 px right, size 44.8 x 22.4 px; keypoint 0 at -11.2 px, keypoint 1 at +112 px down
    reg[0, i, :4] = [22.4, 0.0, 44.8, 22.4]
    reg[0, i, 4:6] = [-11.2, 0.0]
    reg[0, i, 6:8] = [0.0, 112.0]
    logits[0, i] = 2.0
    logits[0, i + 1] = 500.0  # clipped, not an overflow
    (dets,) = decode(reg, logits, anchors, min_score=0.5)
    assert len(dets) == 2
    ax, ay = anchors[i]
    np.testing.assert_allclose(dets.face_xyxy[0], [ax + 0.1 - 0.1, ay - 0.05, ax + 0.1 + 0.1, ay + 0.05], atol=1e-6)
    np.testing.assert_allclose(dets.keypoints[0, 0], [ax - 0.05, ay], atol=1e-6)
    np.testing.assert_allclose(dets.keypoints[0, 1], [ax, ay + 0.5], atol=1e-6)
    np.testing.assert_allclose(dets.score, [1 / (1 + np.exp(-2.0)), 1.0], rtol=1e-6)


def test_weighted_nms_averages_overlapping_detections_by_score():
    face = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]], np.float32)
    kps = np.zeros((3, 4, 2), np.float32)
    kps[1] += 1.0
    dets = RawDetections(face, kps, np.array([0.6, 0.9, 0.7], np.float32))
    out = weighted_nms(dets, 0.3)
    assert len(out) == 2
    # the best (0.9) absorbs the first: weights 0.9 / 1.5 and 0.6 / 1.5; its score stays 0.9
    np.testing.assert_allclose(out.score, [0.9, 0.7])
    np.testing.assert_allclose(out.face_xyxy[0], [0.06, 0.0, 1.06, 1.0], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0], np.full((4, 2), 0.6), atol=1e-6)
    np.testing.assert_allclose(out.face_xyxy[1], face[2])
    assert len(weighted_nms(RawDetections.empty(), 0.3)) == 0


def test_person_box_follows_the_body_axis():
    kp = np.zeros((2, 4, 2))
    kp[0, 0], kp[0, 1] = [100, 200], [100, 100]  # upright: scale point 100 px above the hips
    kp[1, 0], kp[1, 1] = [100, 200], [200, 200]  # lying along +x
    boxes = person_boxes(kp, length_scale=1.0, width_ratio=0.5, up_shift=0.2)
    # 200 px long, 100 px wide, centre 20 px from the hips towards the scale point
    np.testing.assert_allclose(boxes[0], [50, 80, 150, 280])
    np.testing.assert_allclose(boxes[1], [20, 150, 220, 250])


def test_landmark_roi_is_mediapipes_body_square():
    kp = np.zeros((2, 4, 2))
    kp[0, 0], kp[0, 1] = [100, 200], [100, 100]  # upright
    kp[1, 0], kp[1, 1] = [100, 200], [200, 200]  # scale point to the right: the body lies along +x
    centre, size, angle = landmark_rois(kp)
    np.testing.assert_allclose(centre, [[100, 200], [100, 200]])
    np.testing.assert_allclose(size, [[250, 250], [250, 250]])  # 2 x 100 x 1.25
    np.testing.assert_allclose(angle, [0.0, np.pi / 2])


def test_box_from_landmarks_grows_by_the_margins():
    xy = np.array([[[10, 20], [30, 120], [20, 70]]], np.float64)  # 20 wide, 100 tall
    np.testing.assert_allclose(box_from_landmarks(xy, (0.1, 0.2, 0.05)), [[0, 0, 40, 125]])


def test_tiles_cover_the_frame_and_overlap():
    views = tile_views(0, 1280, 720, 360, overlap=0.3)
    x0 = sorted({v.x0 for v in views})
    y0 = sorted({v.y0 for v in views})
    assert x0[0] == 0 and x0[-1] + 360 == 1280 and y0[0] == 0 and y0[-1] + 360 == 720
    assert max(np.diff(x0)) <= 360 * 0.7 + 1e-9 and max(np.diff(y0)) <= 360 * 0.7 + 1e-9
    # a frame narrower than the tile gets one centred column
    (only,) = tile_views(0, 300, 360, 360, 0.3)
    assert only.x0 == -30 and only.y0 == 0
    lb = letterbox_view(0, 1280, 720)
    assert (lb.x0, lb.y0, lb.side, lb.tile) == (0, -280, 1280, False)


def test_levels_stop_at_the_smallest_person_asked_for():
    assert plan_levels(1280, 720, 600, 0.4) == [1280]
    assert plan_levels(1280, 720, 300, 0.4) == [1280, 720]
    assert plan_levels(1280, 720, 80, 0.4) == [1280, 720, 360, 180]


def test_render_letterboxes_with_black_and_scales_to_minus_one_one():
    image = np.full((100, 200, 3), 255, np.uint8)
    image[:, :100] = 0
    out = np.empty((2, INPUT_PX, INPUT_PX, 3), np.float32)
    render_views([image], [letterbox_view(0, 200, 100), View(0, 100, 0, 100)], out)
    # letterbox: 224 x 112 picture in rows 56..168, black (-1) above and below
    assert np.all(out[0, :50] == -1) and np.all(out[0, 175:] == -1)
    assert np.allclose(out[0, 60:160, 120:], 1.0) and np.allclose(out[0, 60:160, :100], -1.0)
    assert np.allclose(out[1][:, 3:], 1.0)  # the white right half, upscaled (its left edge blends)


def test_close_views_sampled_from_the_frame_match_a_resize_of_the_whole_frame():
    # a view closer than half scale is sampled straight from the frame: it must show what the
    # same view cut from the whole frame resized (the former way) shows, to a grey level or two
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (180, 320, 3), np.uint8), (0, 0), 2.0)
    views = [View(0, 40.3, 20.7, 150.0), View(0, -30.0, 100.0, 200.0), View(0, 250.0, -10.0, 90.0)]
    out = np.empty((len(views), INPUT_PX, INPUT_PX, 3), np.float32)
    render_views([image], views, out)
    for view, got in zip(views, out, strict=True):
        scale = INPUT_PX / view.side
        whole = cv2.resize(image, (round(320 * scale), round(180 * scale)), interpolation=cv2.INTER_LINEAR)
        want = np.full((INPUT_PX, INPUT_PX, 3), -1.0, np.float32)
        u0, v0 = round(view.x0 * scale), round(view.y0 * scale)
        x1, y1 = max(0, u0), max(0, v0)
        x2, y2 = min(whole.shape[1], u0 + INPUT_PX), min(whole.shape[0], v0 + INPUT_PX)
        want[y1 - v0:y2 - v0, x1 - u0:x2 - u0] = whole[y1:y2, x1:x2] * (2.0 / 255.0) - 1.0
        inside = np.zeros((INPUT_PX, INPUT_PX), bool)
        inside[y1 - v0:y2 - v0, x1 - u0:x2 - u0] = True
        assert np.all(got[~inside] == -1.0)  # past the frame: black, as before
        assert np.abs(got - want).max() * 127.5 <= 2.0 + 1e-3


def test_cut_by_view_only_at_edges_inside_the_frame():
    view = View(0, 100, 0, 200)  # columns 100..300 of a 400 x 200 frame: edges at 100 and 300 are inside
    boxes = np.array([[150, 0, 250, 200], [100, 50, 150, 100], [250, 0, 300, 50]], np.float64)
    assert cut_by_view(boxes, view, 400, 200).tolist() == [False, True, True]


@pytest.fixture(scope="module")
def model():
    try:
        return bd.BlazePoseDetectorModel(threads=1)
    except Exception as exc:  # noqa: BLE001 - the model file or LiteRT is missing
        pytest.skip(f"BlazePose detector unavailable: {exc}")


def test_batched_views_equal_single_views(model):
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), (0, 0), 3)
    views = [letterbox_view(0, 400, 300), View(0, 0, 0, 200), View(0, 150, 50, 250)]
    together = model.run([image], views, min_score=0.0, nms_iou=0.3)
    for view, joint in zip(views, together, strict=True):
        (alone,) = model.run([image], [view], min_score=0.0, nms_iou=0.3)
        np.testing.assert_allclose(joint.score, alone.score, atol=1e-5)
        np.testing.assert_allclose(joint.keypoints, alone.keypoints, atol=1e-4)


def test_finds_the_player_in_the_photo(shared_data, model):
    image = cv2.cvtColor(cv2.imread(str(shared_data / "images" / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    detector = bd.BlazePoseDetector(bd.BlazePoseDetectorConfig(), model)
    (found,) = detector.detect_batch([image])
    assert len(found) == 1
    hand_box = np.array([[70, 60, 460, 336]])  # drawn by hand: hair to boots, outstretched hand
    assert iou(found.xyxy_px, hand_box)[0, 0] >= 0.5


class FakeLandmarker:
    """Every crop: landmarks spread over the middle half of the crop, the given pose flags in turn."""

    def __init__(self, flags: list[float]) -> None:
        self.flags = np.asarray(flags, np.float32)

    def run(self, crops: np.ndarray, refine: bool = True):
        from streamer.models.blazepose import NUM_LANDMARKS, RawOutputs

        m = len(crops)
        self.crops = m
        lm = np.zeros((m, NUM_LANDMARKS, 5), np.float32)
        lm[:, :33, 0] = np.linspace(64, 192, 33)  # the 33 body points; the 6 auxiliary ones are not used
        lm[:, :33, 1] = np.linspace(64, 192, 33)
        return RawOutputs(lm, self.flags[:m], np.zeros((m, NUM_LANDMARKS, 3), np.float32))


@pytest.mark.parametrize("flags, kept", [([1.0, 0.2], 1), ([1.0, 0.95], 2)])
def test_unsure_detections_need_the_landmark_models_word(flags, kept):
    cfg = bd.BlazePoseDetectorConfig(min_score=0.7, check_score=0.5, check_flag=0.9, refine_people=3,
                                     refine_margin=(0.0, 0.0, 0.0))
    detector = bd.BlazePoseDetector(cfg, model=object())
    detector._landmarker = FakeLandmarker(flags)
    kp = np.zeros((2, 4, 2))
    kp[:, 0] = [[100, 200], [300, 200]]
    kp[:, 1] = [[100, 100], [300, 100]]  # 100 px up: ROI 250 px square round the hips
    xyxy = np.array([[60, 100, 140, 300], [260, 100, 340, 300]], np.float64)
    (out,) = detector._refine([np.zeros((400, 400, 3), np.uint8)], [(xyxy, kp, np.array([0.9, 0.6]))])
    assert len(out[0]) == kept
    # the landmark box: the middle half of the crop, i.e. 125 px round the hips
    np.testing.assert_allclose(out[0][0], [37.5, 137.5, 162.5, 262.5])


def test_an_unsure_spot_that_stays_put_is_checked_once():
    cfg = bd.BlazePoseDetectorConfig(min_score=0.7, check_score=0.5, check_flag=0.9, refine_people=3,
                                     refine_margin=(0.0, 0.0, 0.0))
    detector = bd.BlazePoseDetector(cfg, model=object())
    detector._landmarker = FakeLandmarker([0.95])
    kp = np.zeros((1, 4, 2))
    kp[0, 0], kp[0, 1] = [100, 200], [100, 100]
    first = np.array([[60, 100, 140, 300]], np.float64)
    second = first + [10, 0, 10, 0]  # the keypoint box moved 10 px right
    images = [np.zeros((400, 400, 3), np.uint8)] * 2
    out = detector._refine(images, [(first, kp, np.array([0.6])), (second, kp, np.array([0.6]))])
    assert detector._landmarker.crops == 1
    np.testing.assert_allclose(out[0][0][0], [37.5, 137.5, 162.5, 262.5])
    np.testing.assert_allclose(out[1][0][0], [47.5, 137.5, 172.5, 262.5])  # moved with it


def test_a_person_whose_head_leaves_the_frame_is_followed(shared_data, model):
    """indoor_person_squat walks towards the camera: from frame 293 the top edge cuts his head and the
    detector (which keys on the face) loses him in most frames; the landmark model follows him."""
    from streamer.config import load_config
    from streamer.io.source import open_source

    source_cfg = {**load_config()["source"], "start_s": 291 / 30.0, "max_frames": 6}
    with open_source(str(shared_data / "clips" / "indoor_person_squat.mp4"), source_cfg) as source:
        frames = [frame.image for frame in source]
    assert len(frames) == 6

    def people(cfg: bd.BlazePoseDetectorConfig) -> list[int]:
        found = bd.BlazePoseDetector(cfg, model).detect_batch(frames)
        return [int(np.sum(d.xyxy_px[:, 3] - d.xyxy_px[:, 1] > 300)) for d in found]

    assert people(bd.BlazePoseDetectorConfig(follow_frames=0)).count(0) >= 3
    assert people(bd.BlazePoseDetectorConfig()) == [1] * 6


def test_a_followed_person_found_again_only_unsure_is_still_followed_frame_by_frame(shared_data, model):
    """The same frames one at a time, as the preview gives them: at frame 294 the detector finds him
    again, but only unsure (0.67, kept by the landmark model); he must stay followed, not be
    dropped and lost at 296 where the detector misses him."""
    from streamer.config import load_config
    from streamer.io.source import open_source

    source_cfg = {**load_config()["source"], "start_s": 291 / 30.0, "max_frames": 6}
    with open_source(str(shared_data / "clips" / "indoor_person_squat.mp4"), source_cfg) as source:
        frames = [frame.image for frame in source]
    detector = bd.BlazePoseDetector(bd.BlazePoseDetectorConfig(), model)
    found = [detector.detect_batch([image])[0] for image in frames]
    assert [int(np.sum(d.xyxy_px[:, 3] - d.xyxy_px[:, 1] > 300)) for d in found] == [1] * 6


def test_a_person_cut_at_the_chest_stays_followed(shared_data, model):
    """indoor_person_squat, frames 300-315: the top edge cuts him at the chest, the detector finds him
    only now and then (mostly unsure, 0.5-0.7) and the landmark model's pose flag drops to ~0 on
    frames in a row while its landmarks stay on his body. An unsure detection on a followed person
    keeps him followed (hysteresis), and a frame whose flag dips does not end the chain."""
    from streamer.config import load_config
    from streamer.io.source import open_source

    source_cfg = {**load_config()["source"], "start_s": 296 / 30.0, "max_frames": 20}
    with open_source(str(shared_data / "clips" / "indoor_person_squat.mp4"), source_cfg) as source:
        frames = [frame.image for frame in source]
    detector = bd.BlazePoseDetector(bd.BlazePoseDetectorConfig(), model)
    found = [detector.detect_batch([image])[0] for image in frames]
    # him: reaching the top edge, over 300 px tall
    him = [int(np.sum((d.xyxy_px[:, 1] < 30) & (d.xyxy_px[:, 3] - d.xyxy_px[:, 1] > 300))) for d in found]
    assert him[4:] == [1] * 16, him  # frames 300-315


def _followed_detector(hip_y: float) -> bd.BlazePoseDetector:
    """A detector following one person (hips at (200, hip_y), 100 px to his scale point) whose next
    landmark crop gives pose flag 0.1: landmark box 125 px square round the hips."""
    detector = bd.BlazePoseDetector(bd.BlazePoseDetectorConfig(refine_margin=(0.0, 0.0, 0.0)), model=object())
    detector._landmarker = FakeLandmarker([0.1])
    kp = np.zeros((4, 2))
    kp[0], kp[1] = [200, hip_y], [200, hip_y - 100]
    detector._followed = [(np.array([140, hip_y - 60, 260, hip_y + 60]), kp, 0)]
    detector._follow_shape = (400, 400)
    return detector


def test_an_unsure_detection_on_a_followed_person_keeps_him_through_a_low_pose_flag():
    nobody = (np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0))
    image = [np.zeros((400, 400, 3), np.uint8)]
    detector = _followed_detector(200.0)
    (out,) = detector._follow(image, [nobody], {0}, [np.array([[135.0, 135.0, 265.0, 265.0]])])
    np.testing.assert_allclose(out[0], [[137.5, 137.5, 262.5, 262.5]])
    assert out[2][0] == detector.config.min_score
    # an unsure detection elsewhere (IoU < 0.5) does not: in full view he is no longer followed
    detector = _followed_detector(200.0)
    (out,) = detector._follow(image, [nobody], {0}, [np.array([[200.0, 135.0, 330.0, 265.0]])])
    assert len(out[0]) == 0 and detector._followed == []


def test_a_followed_person_past_the_frame_edge_stays_followed_unshown_through_a_low_pose_flag():
    nobody = (np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0))
    detector = _followed_detector(50.0)  # landmark box from y = -12.5: cut by the top edge
    (out,) = detector._follow([np.zeros((400, 400, 3), np.uint8)], [nobody], {0}, [np.zeros((0, 4))])
    assert len(out[0]) == 0
    assert len(detector._followed) == 1 and detector._followed[0][2] == 1

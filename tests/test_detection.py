"""Detectors: pitch segmentation on a drawn broadcast frame, HOG on real pedestrians, the stage."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from streamer.boxes import iou
from streamer.config import load_config
from streamer.detection.hog import HogConfig, HogDetector, HogVerifier
from streamer.detection.pitch import PitchDetector, PitchDetectorConfig, _colour_parts, _components
from streamer.errors import ConfigError
from streamer.records import Frame, Packet
from streamer.stages import StageContext, build_stage

W, H = 1280, 720


def broadcast_frame(rng: np.random.Generator, shift: int = 0):
    """Striped pitch, stands, lines, a ball, a score overlay and 14 players whose height grows
    with the row (perspective). Returns the RGB frame and the players' xyxy boxes."""
    image = np.zeros((H, W, 3), np.uint8)
    cols = (np.arange(W) + shift) // 90 % 2
    image[:] = np.where(cols[None, :, None] == 1, (52, 140, 50), (44, 124, 44))
    image[:120] = (90, 90, 100)  # stands
    image[120:135] = (200, 40, 40)  # ad boards
    cv2.line(image, (0, 600), (W, 560), (235, 235, 235), 3)  # a touchline-ish line
    cv2.line(image, (640, 140), (700, H), (235, 235, 235), 3)  # halfway line
    cv2.line(image, (100, 700), (500, 200), (235, 235, 235), 2)  # a diagonal line
    cv2.circle(image, (900, 450), 4, (250, 250, 250), -1)  # the ball
    cv2.rectangle(image, (60, 160), (420, 215), (20, 20, 60), -1)  # score overlay on the pitch
    cv2.putText(image, "FCB 2 - 1 BVB  67:12", (70, 198), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    boxes = []
    for i in range(14):
        foot_y = 260 + 30 * i + rng.uniform(-8, 8)
        h = 20 + 0.11 * (foot_y - 260)  # 20 px far away, ~65 px near
        cx = 150 + (i * 173) % 1000 + rng.uniform(-10, 10)
        w = 0.4 * h
        x1, y1 = int(cx - w / 2), int(foot_y - h)
        shirt = (230, 30, 30) if i % 2 else (245, 245, 245)
        cv2.rectangle(image, (x1, y1 + int(0.15 * h)), (x1 + int(w), y1 + int(0.55 * h)), shirt, -1)
        cv2.rectangle(image, (x1 + 1, y1 + int(0.55 * h)), (x1 + int(w) - 1, y1 + int(0.7 * h)), (20, 20, 60), -1)
        cv2.rectangle(image, (x1 + 2, y1 + int(0.7 * h)), (x1 + int(w) - 2, int(foot_y)), (210, 160, 130), -1)
        cv2.circle(image, (int(cx), y1 + int(0.08 * h)), max(2, int(0.08 * h)), (210, 160, 130), -1)
        boxes.append([x1, y1, x1 + int(w) + 1, int(foot_y) + 1])
    return image, np.array(boxes, np.float32)


def test_pitch_detector_finds_players_and_ignores_lines_ball_overlay():
    rng = np.random.default_rng(3)
    detector = PitchDetector()
    for k in range(6):  # a few frames so the perspective size prior is learnt
        image, truth = broadcast_frame(rng, shift=5 * k)
        found = detector(image)
    confident = found.select(found.score >= 0.5)
    overlap = iou(truth, confident.xyxy_px)
    assert (overlap.max(axis=1) > 0.5).sum() >= 13  # almost every player found
    assert (overlap.max(axis=0) > 0.3).all(), "a confident box that is not a player"
    assert detector.prior.coef is not None and detector.prior.coef[0] > 0.05  # taller when lower


def test_pitch_detector_drops_a_goalpost_and_keeps_the_players():
    """A goalpost is a narrow white upright on the grass, as tall as a player where it
    stands: it was boxed as one (its foot stands on the pitch, it is solid and upright)."""
    rng = np.random.default_rng(3)
    detector = PitchDetector()
    post = np.array([[1100, 480, 1106, 535]], np.float32)
    for k in range(6):
        image, truth = broadcast_frame(rng, shift=5 * k)
        cv2.rectangle(image, (1100, 480), (1105, 534), (240, 240, 240), -1)  # the post
        found = detector(image)
    assert not (iou(post, found.xyxy_px) > 0.3).any(), found.xyxy_px
    assert (iou(truth, found.xyxy_px).max(axis=1) > 0.5).sum() >= 13


def test_pitch_detector_drops_boxes_under_half_a_player_once_the_size_prior_is_learnt():
    """A blob 20 px tall where players are ~50 px (a corner flag's foot, a boot, a kit bag)
    is no person to find; before the prior is learnt nothing is dropped for its size."""
    rng = np.random.default_rng(3)
    stub = np.array([[1180, 520, 1188, 541]], np.float32)
    detector = PitchDetector(PitchDetectorConfig(min_height_frac=0.5))
    for k in range(6):
        image, truth = broadcast_frame(rng, shift=5 * k)
        cv2.rectangle(image, (1180, 520), (1187, 540), (30, 30, 30), -1)
        found = detector(image)
        if k == 0:
            assert (iou(stub, found.xyxy_px) > 0.5).any(), "dropped before the prior is learnt"
    assert detector.prior.coef is not None
    assert not (iou(stub, found.xyxy_px) > 0.3).any(), found.xyxy_px
    assert (iou(truth, found.xyxy_px).max(axis=1) > 0.5).sum() >= 13


def close_frame(seed: int = 0):
    """A medium-tight shot: grass with mowing stripes, the score overlay and two players far
    wider than the background window, one in white (the colour of the lines) standing on
    a line. Returns the RGB frame and the players' xyxy boxes."""
    rng = np.random.default_rng(seed)
    image = np.zeros((H, W, 3), np.uint8)
    image[:] = np.where(((np.arange(H) // 120) % 2)[:, None, None] == 1, (56, 132, 48), (48, 120, 44))
    image += rng.integers(0, 6, image.shape, dtype=np.uint8)
    cv2.line(image, (0, 600), (W, 610), (235, 235, 235), 3)
    cv2.rectangle(image, (60, 40), (420, 90), (20, 20, 60), -1)  # score overlay, on the grass
    boxes = []
    for x1, y1, shirt, shorts in ((300, 330, (240, 240, 238), (235, 235, 235)),
                                  (800, 300, (30, 40, 110), (20, 20, 40))):
        w, h = 110, 300
        cv2.ellipse(image, (x1 + w // 2, y1 + 22), (18, 22), 0, 0, 360, (200, 150, 120), -1)  # head
        cv2.rectangle(image, (x1, y1 + 44), (x1 + w, y1 + 160), shirt, -1)
        cv2.rectangle(image, (x1 + 10, y1 + 160), (x1 + w - 10, y1 + 210), shorts, -1)
        cv2.rectangle(image, (x1 + 14, y1 + 210), (x1 + 44, y1 + h), (200, 150, 120), -1)  # legs
        cv2.rectangle(image, (x1 + w - 44, y1 + 210), (x1 + w - 14, y1 + h), (200, 150, 120), -1)
        boxes.append([x1, y1, x1 + w + 1, y1 + h + 1])
    return image, np.array(boxes, np.float32)


def test_pitch_detector_keeps_players_wider_than_its_background_window():
    """Players 110 px wide (the grass window is 61 px) left holes in the pitch and were never
    searched; a white one on a line must come out whole, and the overlay must stay out."""
    detector = PitchDetector()
    for k in range(3):
        image, truth = close_frame(k)
        found = detector(image)
    overlap = iou(truth, found.xyxy_px)
    assert (overlap.max(axis=1) > 0.7).all(), (found.xyxy_px, found.score)
    overlay = np.array([[60, 40, 421, 91]], np.float32)
    assert not (iou(overlay, found.xyxy_px) > 0.1).any()


def test_a_camera_cut_ends_the_detect_stage_shot_and_starts_the_size_prior_afresh():
    """The pipeline's shot detector finds cuts; the detect stage's end_shot resets the pitch
    segmenter's size prior (for the pitch and the auto backend), and nothing else does."""
    rng = np.random.default_rng(3)
    context = StageContext(device="cpu", fps=25.0)
    stage = build_stage("detect", load_config(None, ["detect.backend=pitch"]), context)
    detector = stage.backend.detector
    stage.process([Packet(Frame(k, k, k / 25.0, broadcast_frame(rng, shift=5 * k)[0])) for k in range(6)])
    learnt = detector.prior
    assert learnt.coef is not None
    stage.process([Packet(Frame(6, 6, 0.24, close_frame()[0]))])  # a new view, no cut announced: kept
    assert detector.prior is learnt
    assert stage.end_shot() == []
    assert detector.prior is not learnt and detector.prior.coef is None
    auto = build_stage("detect", load_config(), context)
    assert [r.__self__ for r in auto.resets] == [auto.backend]  # which resets its pitch segmenter too


def test_pitch_detector_on_frame_without_pitch_returns_nothing():
    image = np.full((H, W, 3), (120, 100, 90), np.uint8)
    assert len(PitchDetector()(image)) == 0


def test_components_match_opencv_in_raster_order():
    """The fast labelling (bounding rectangle, 16-bit, stats from foreground pixels) gives
    OpenCV's sequential stats in raster order, whatever the thread count."""
    rng = np.random.default_rng(3)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        mask = ((rng.random((h, w)) < rng.random()) * 255).astype(np.uint8)
        if trial % 7 == 0:
            mask[:] = 0
        n, _, expected, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_SAUF)
        stats, ids, labels, (x0, y0) = _components(mask)
        np.testing.assert_array_equal(stats, expected[1:n])
        for (x, y, bw, bh, area), label in zip(stats, ids, strict=True):
            rows, cols = np.nonzero(labels == label)
            assert len(rows) == area
            assert (cols.min() + x0, rows.min() + y0, np.ptp(cols) + 1, np.ptp(rows) + 1) == (x, y, bw, bh)


def test_a_sprawling_blob_is_split_on_its_own_pixels_only():
    """A line network with players on it has a box that also holds separate blobs; parts
    cut from it must not repeat those (two identical boxes made two tracks of one player)."""
    labels = np.zeros((120, 240), np.uint16)
    labels[5:12, :] = 1  # a line along the top...
    labels[:, 5:12] = 1  # ...one down the left...
    labels[108:115, :] = 1  # ...and the bottom: one blob, a wide box
    labels[50:80, 150:160] = 2  # a player standing apart inside that box
    stats, ids, label_image, origin = _components(np.where(labels > 0, 255, 0).astype(np.uint8))
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in stats], np.float32)
    fill = stats[:, 4] / (stats[:, 2] * stats[:, 3])
    detector = PitchDetector()
    detector.prior.coef = (0.0, 30.0)  # players here are 30 px tall
    parts, _ = detector._split_wide(boxes, fill, ids, label_image, origin, np.zeros((120, 240, 3), np.uint8))
    player = [150, 50, 160, 80]
    assert sum(np.array_equal(p, player) for p in parts) == 1, parts
    assert len({tuple(p) for p in parts.tolist()}) == len(parts)


def test_hog_verifier_prefers_people(shared_data):
    image = cv2.cvtColor(cv2.imread(str(shared_data / "images" / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    verifier = HogVerifier()
    scores = verifier(image, np.array([[190, 20, 390, 340], [0, 250, 120, 340]], np.float32))
    assert scores[0] > scores[1]


def test_hog_detector_on_pedestrians(shared_data):
    with av.open(str(shared_data / "clips" / "pedestrians_vtest.avi")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    found = HogDetector(HogConfig(upscale=1.5))(frame)
    assert 3 <= len(found) <= 30
    heights = found.xyxy_px[:, 3] - found.xyxy_px[:, 1]
    assert (heights > 40).all()


@pytest.mark.parametrize("backend", ["pitch", "hog"])
def test_detect_stage_fills_detections(backend):
    config = load_config(None, [f"detect.backend={backend}"])
    stage = build_stage("detect", config, StageContext(device="cpu", fps=25.0))
    image, _ = broadcast_frame(np.random.default_rng(0))
    out = stage.process([Packet(Frame(0, 0, 0.0, image))])
    assert out[0].detections is not None


def test_unknown_detect_backend_names_the_key():
    config = load_config(None, ["detect.backend=yolo9000"])
    with pytest.raises(ConfigError, match="detect.backend"):
        build_stage("detect", config, StageContext(device="cpu", fps=25.0))


@pytest.mark.parametrize("setting, key", [
    ("detect.pitch.fg_threshold=200", "detect.pitch.fg_threshold"),
    ("detect.pitch.bg_scale=0", "detect.pitch.bg_scale"),
    ("detect.pitch.grass_hue=[90,30]", "detect.pitch.grass_hue"),
    ("track.max_age_s=-1", "track.max_age_s"),
    ("track.merge_area_ratio=0.5", "track.merge_area_ratio"),
    ("track.low_score=0.9", "track.low_score"),
])
def test_out_of_range_detect_and_track_numbers_name_the_key(setting, key):
    config = load_config(None, [setting])
    stage = "track" if setting.startswith("track") else "detect"
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_stage(stage, config, StageContext(device="cpu", fps=25.0))


def test_colour_split_keeps_a_partly_hidden_player_beside_another():
    """Two kits side by side in one blob, one player only 0.65 player heights tall (legs hidden):
    two players. A short part over a taller one in the same columns (a shirt over a player's own
    legs, a player over the line under his feet) is not split."""
    red, blue = (200, 30, 30), (30, 30, 200)
    crop = np.zeros((40, 26, 3), np.uint8)
    crop[:, :12] = red
    crop[:26, 12:] = blue
    own = np.zeros((40, 26), bool)
    own[:, :12] = True
    own[:26, 12:] = True
    parts = _colour_parts(crop, own, player_h=40.0)
    assert len(parts) == 2
    assert sorted(int(p.sum()) for p in parts) == [26 * 14, 40 * 12]

    crop = np.zeros((54, 26, 3), np.uint8)
    own = np.zeros((54, 26), bool)
    crop[14:, :] = blue
    own[14:, :] = True
    crop[:26, 4:18] = red
    own[:26, 4:18] = True
    assert len(_colour_parts(crop, own, player_h=40.0)) == 1


def test_boxes_grow_over_spread_legs_but_not_lines():
    """A box holding a torso grows over a leg sticking out of it down and sideways (the opening took
    it); a flat line piece attached to its side and a line running out of the window do not count."""
    det = PitchDetector()
    det.prior.coef = (0.0, 40.0)  # players 40 px tall everywhere
    fg = np.zeros((200, 200), np.uint8)
    fg[50:80, 50:62] = 255  # the blob the box holds
    cv2.line(fg, (61, 75), (70, 88), 255, 2)  # a spread leg
    cv2.line(fg, (40, 60), (49, 60), 255, 2)  # a flat piece of a line beside the shirt
    boxes = np.array([[50, 50, 62, 80]], np.float32)
    grown = det._regrow_limbs(boxes, fg)
    ys, xs = np.nonzero(fg[:, 50:])
    np.testing.assert_array_equal(grown[0], [50, 50, 50 + xs.max() + 1, ys.max() + 1])
    cv2.line(fg, (61, 76), (61, 199), 255, 1)  # a line running down out of the window instead
    fg[81:, 62:] = 0
    fg[:, 63:] = 0
    np.testing.assert_array_equal(det._regrow_limbs(boxes, fg)[0], boxes[0])

"""The ``auto`` detector: fusion rule, round-robin tiles, the backend registry, and the real frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.boxes import coverage
from streamer.boxes import iou as box_iou
from streamer.config import load_config
from streamer.detection.fuse import AutoDetector, FuseConfig, Held, fuse, hold_unseen, proposal_views, remember_lost
from streamer.errors import ConfigError
from streamer.models.blazepose_detector import BlazePoseDetectorConfig, View
from streamer.records import Detections, Frame, Packet
from streamer.stages import StageContext, build_stage
from streamer.stages.detect import BACKENDS


def dets(*boxes: list[float]) -> Detections:
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(xyxy, np.full(len(xyxy), 0.8, np.float32))


def test_coverage():
    small = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], np.float64)
    big = np.array([[0, 0, 10, 20]], np.float64)
    np.testing.assert_allclose(coverage(small, big), [[1.0], [0.5]])


def test_pitch_boxes_on_a_learned_person_are_dropped():
    learned = dets([100, 100, 200, 400])
    pitch = dets([120, 150, 180, 250],   # the shirt of the learned person: inside
                 [105, 100, 205, 400],   # the same person again
                 [190, 300, 230, 340],   # a quarter inside: a neighbour's head by the learned person's leg
                 [400, 300, 420, 340])   # a small player far away
    out = fuse(pitch, learned, 720, FuseConfig(inside_frac=0.5, closeup_height_frac=0.75, perspective_frac=0.0))
    np.testing.assert_array_equal(out.xyxy_px, dets([100, 100, 200, 400], [190, 300, 230, 340],
                                                     [400, 300, 420, 340]).xyxy_px)


def test_a_whole_player_half_behind_a_learned_person_is_kept():
    """Two overlapping players the learned detector boxed as one (its box between them): the pitch
    box of the one behind, as tall, sticking out and overlapping it little, is a second person;
    a part of the learned person (a leg split off by a column valley) lies well inside and stays out."""
    learned = dets([100, 100, 340, 460])
    behind = [260, 130, 380, 470]  # 0.65 inside, IoU 0.26, as tall
    leg = [100, 180, 180, 480]     # tall enough, IoU 0.26, but 0.93 inside
    out = fuse(dets(behind, leg), learned, 720, FuseConfig(perspective_frac=0.0))
    np.testing.assert_array_equal(out.xyxy_px, dets([100, 100, 340, 460], behind).xyxy_px)
    # not when the second box is only a part (shorter), nor when it overlaps like the same person
    assert len(fuse(dets([260, 300, 380, 470]), learned, 720, FuseConfig(perspective_frac=0.0))) == 1
    assert len(fuse(dets(behind), learned, 720, FuseConfig(perspective_frac=0.0, beside_max_iou=0.25))) == 1


def test_pitch_boxes_too_small_for_where_they_stand_are_dropped():
    learned = dets([100, 100, 200, 400])  # 300 px tall, feet at row 400
    pitch = dets([300, 370, 330, 390],   # 20 px at row 390: perspective wants >= 0.25 * 300 * 390/400
                 [300, 80, 310, 100],    # 20 px with feet at row 100: far away, may be that small
                 [300, 300, 340, 390])   # 90 px at row 390: a player
    cfg = FuseConfig(inside_frac=0.5, closeup_height_frac=0.75, perspective_frac=0.25)
    out = fuse(pitch, learned, 720, cfg)
    np.testing.assert_array_equal(out.xyxy_px[1:], pitch.xyxy_px[1:])
    # a learned person cut by the bottom edge gives no perspective scale; 0 turns the rule off
    assert len(fuse(pitch, dets([100, 300, 200, 720]), 720, cfg)) == 4
    assert len(fuse(pitch, learned, 720, FuseConfig(perspective_frac=0.0))) == 4


def test_a_close_up_drops_the_pitch_boxes_on_him_not_the_people_clear_of_him():
    """goalkeeper_amateur ~frame 45 (854 x 480): the kicker is cut by the bottom edge and taller than
    0.75 x the frame; the keeper far behind him is a small pitch box on grass and must stay."""
    learned = dets([124, 113, 374, 480])  # the kicker: 367 of 480 rows
    pitch = dets([200, 200, 260, 300],    # his shirt: inside him
                 [380, 300, 400, 330],    # his arm, a little outside his box
                 [513, 128, 545, 156],    # the keeper, 28 px tall, feet 43 rows below the kicker's head
                 [600, 440, 612, 452])    # the ball: 12 px with its foot 339 rows below his head
    cfg = FuseConfig(inside_frac=0.5, closeup_height_frac=0.75, closeup_margin=0.1, perspective_frac=0.25)
    out = fuse(pitch, learned, 480, cfg)
    np.testing.assert_array_equal(out.xyxy_px, dets([124, 113, 374, 480], [513, 128, 545, 156]).xyxy_px)
    # without the margin and the head-row rule the arm and the ball stay
    assert len(fuse(pitch, learned, 480, FuseConfig(closeup_margin=0.0, perspective_frac=0.0))) == 4
    # a person under the close-up height only drops what lies inside him
    assert len(fuse(pitch, learned, 720, FuseConfig(perspective_frac=0.0))) == 4
    # without a learned person the pitch boxes pass untouched
    assert fuse(pitch, Detections.empty(), 720, FuseConfig()) is pitch


class FakeLearned:
    """Records the views it is asked to look at; finds nobody."""

    config = BlazePoseDetectorConfig(tile_overlap=0.3)

    def __init__(self) -> None:
        self.calls: list[list] = []

    def detect_views(self, images, views):
        self.calls.append(list(views))
        return [Detections.empty() for _ in images]


def test_tiles_go_round_robin_and_the_whole_frame_every_frame():
    learned = FakeLearned()
    auto = AutoDetector(lambda image: Detections.empty(), learned, FuseConfig(), levels=2, tiles_per_frame=1)
    frames = [np.zeros((720, 1280, 3), np.uint8)] * 4
    auto.detect_batch(frames)
    auto.detect_batch(frames[:2])  # the turn carries over to the next window
    views = learned.calls[0] + learned.calls[1]
    assert [v.tile for v in views] == [False, True] * 6
    assert [v.image for v in views] == [0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 1, 1]
    tiles = [(v.x0, v.y0, v.side) for v in views if v.tile]
    # three 720-px squares cover 1280 x 720 with overlap 0.3: they take turns
    assert [t[0] for t in tiles] == [0, 280, 560] * 2
    assert all(side == 720 for _, _, side in tiles)


def test_people_of_tiles_not_looked_at_are_held_until_their_turn():
    tile_a, tile_b = View(0, 0, 0, 100), View(0, 100, 0, 100)
    seen = dets([10, 10, 40, 90])  # found in tile a
    found, held = hold_unseen(Held.empty(), seen, [tile_a], max_age=1, same_iou=0.5)
    assert len(found) == 1
    # next frame only tile b is looked at: the person in tile a is held
    found, held = hold_unseen(held, Detections.empty(), [tile_b], max_age=1, same_iou=0.5)
    np.testing.assert_array_equal(found.xyxy_px, seen.xyxy_px)
    # ...for max_age frames, not more
    found, held = hold_unseen(held, Detections.empty(), [tile_b], max_age=1, same_iou=0.5)
    assert len(found) == 0
    # a held person found again is not doubled; one in the tile looked at and not found is gone
    _, held = hold_unseen(Held.empty(), seen, [tile_a], max_age=1, same_iou=0.5)
    found, _ = hold_unseen(held, dets([12, 10, 42, 90]), [tile_b], max_age=1, same_iou=0.5)
    assert len(found) == 1
    found, _ = hold_unseen(held, Detections.empty(), [tile_a], max_age=1, same_iou=0.5)
    assert len(found) == 0
    # indoor_match_portrait frame 88: found again with a tighter box inside the held one (IoU 0.42)
    _, held = hold_unseen(Held.empty(), dets([309, 292, 376, 383]), [tile_a], max_age=1, same_iou=0.45)
    found, _ = hold_unseen(held, dets([340, 298, 371, 388]), [tile_b], max_age=1, same_iou=0.45)
    assert len(found) == 1
    # a smaller person in front of a held one is someone else: both stay
    found, _ = hold_unseen(held, dets([330, 320, 360, 370]), [tile_b], max_age=1, same_iou=0.45)
    assert len(found) == 2


def test_learned_every_other_frame_holds_its_people_in_between():
    learned = FakeLearned()
    auto = AutoDetector(lambda image: Detections.empty(), learned, FuseConfig(), levels=2, tiles_per_frame=1,
                        learned_every=2)
    auto.detect_batch([np.zeros((720, 1280, 3), np.uint8)] * 4)
    (views,) = learned.calls
    assert [v.image for v in views] == [0, 0, 2, 2]
    # a held person as tall as the whole view finds is dropped when the whole frame is looked at again
    big, small = [0, 0, 100, 600], [500, 0, 540, 100]
    _, held = hold_unseen(Held.empty(), dets(big, small), [], max_age=3, same_iou=0.5)
    found, _ = hold_unseen(held, Detections.empty(), [View(0, 0, -280, 1280, tile=False)], max_age=3,
                           same_iou=0.5, whole_min_height=500)
    np.testing.assert_array_equal(found.xyxy_px, dets(small).xyxy_px)


class FindsInFrames(FakeLearned):
    """Finds one person (``box``) in the frames it looks at whose first pixel is 1."""

    box = [100, 60, 300, 700]

    def detect_views(self, images, views):
        self.calls.append(list(views))
        seen = {v.image for v in views}
        return [dets(self.box) if k in seen and image[0, 0, 0] else Detections.empty()
                for k, image in enumerate(images)]


def test_the_learned_detector_idles_while_it_finds_nobody():
    learned = FindsInFrames()
    auto = AutoDetector(lambda image: Detections.empty(), learned, FuseConfig(), levels=1, idle_every=4)
    empty, person = np.zeros((720, 1280, 3), np.uint8), np.ones((720, 1280, 3), np.uint8)
    auto.detect_batch([empty] * 4)  # the first window looks at every frame and finds nobody
    out = auto.detect_batch([empty] * 4 + [person] * 4)  # idle: every 4th frame, counting on
    assert [v.image for v in learned.calls[1]] == [3, 7]
    # a person coming into view is found at most idle_every - 1 frames late
    assert [len(d) for d in out] == [0, 0, 0, 0, 0, 0, 0, 1]
    auto.detect_batch([person] * 3)  # found someone: every frame again
    assert sorted({v.image for v in learned.calls[2]}) == [0, 1, 2]
    # someone too small for the fixed views (found by a proposal) does not wake it
    small = FindsInFrames()
    small.box = [100, 100, 140, 200]
    auto = AutoDetector(lambda image: Detections.empty(), small, FuseConfig(), levels=1, idle_every=4)
    auto.detect_batch([person] * 4)
    auto.detect_batch([person] * 4)
    assert [v.image for v in small.calls[1] if not v.tile] == [3]
    assert sorted({v.image for v in small.calls[1] if v.tile}) == [0, 1, 2, 3]  # he is followed, though
    # one frame at a time (a live run): a few frames with nobody (a face turned away) do not idle it;
    # idle_every of them in a row do
    learned = FindsInFrames()
    auto = AutoDetector(lambda image: Detections.empty(), learned, FuseConfig(), levels=1, idle_every=4)
    for image in [person, empty, empty, empty, person] + [empty] * 6:
        auto.detect_batch([image])
    assert [any(not v.tile for v in call) for call in learned.calls] == [True] * 9 + [False, False]


def test_a_camera_cut_forgets_the_held_people():
    """Between two runs of the learned detector its people are held; after a cut (reset) none
    of the old view's people is held into the new one, and the learned detector looks at once."""
    def run(cut: bool) -> list[int]:
        learned = FindsInFrames()
        pitch_resets = []
        pitch = type("Pitch", (), {"__call__": lambda self, image: Detections.empty(),
                                   "reset": lambda self: pitch_resets.append(1)})()
        auto = AutoDetector(pitch, learned, FuseConfig(), levels=1, learned_every=4)
        person, empty = np.ones((720, 1280, 3), np.uint8), np.zeros((720, 1280, 3), np.uint8)
        first = auto.detect_batch([person])
        assert len(first[0]) == 1
        if cut:
            auto.reset()
            assert pitch_resets == [1]
        return [len(d) for d in auto.detect_batch([empty, empty])]

    assert run(cut=False) == [1, 1]  # held: the learned detector did not look again
    assert run(cut=True) == [0, 0]


def test_proposals_follow_small_learned_people_then_unexplained_pitch_boxes():
    cfg = FuseConfig(propose_views=3, propose_side_px=200, propose_scale=2.5)
    learned = np.array([[100, 100, 140, 200],     # 100 px: too small for the fixed views, followed (centred)
                        [600, 100, 800, 600]])    # 500 px: the fixed views see it
    pitch = np.array([[110, 150, 130, 200],      # inside the followed person: explained
                      [900, 300, 960, 420],      # 120 px, unexplained: a view of 2.5 x 120 = 300
                      [400, 300, 410, 310]])     # 10 px: a view of the least side, 200
    views = proposal_views(0, pitch, learned, 1280, 720, cfg, largest_px=288)
    assert [(v.x0, v.y0, v.side) for v in views] == [(-5.0, 25.0, 250.0), (780.0, 150.0, 300.0),
                                                     (305.0, 130.0, 200.0)]
    # the least side scales with the frame height; nothing is proposed when turned off
    assert proposal_views(0, pitch[2:], learned[:0], 640, 360, cfg, 288)[0].side == 100.0
    assert proposal_views(0, pitch, learned, 1280, 720, FuseConfig(propose_views=0), 288) == []
    assert len(proposal_views(0, pitch, learned, 1280, 720, FuseConfig(propose_views=1), 288)) == 1


def test_small_people_lost_are_remembered_for_proposals_until_found_or_too_old():
    keeper, big = [510, 122, 540, 155], [100, 100, 300, 470]  # 33 px (the fixed views find >= 192) and 370 px
    lost = remember_lost(Held.empty(), np.array([keeper, big]), np.array([big]), 192, max_age=3)
    np.testing.assert_array_equal(lost.xyxy_px, [keeper])  # the big one is the fixed views' to find again
    for _ in range(2):  # still looked for two more frames, then forgotten
        lost = remember_lost(lost, np.array([big]), np.array([big]), 192, max_age=3)
        assert len(lost.xyxy_px) == 1
    assert len(remember_lost(lost, np.array([big]), np.array([big]), 192, max_age=3).xyxy_px) == 0
    # found again (a box on him): no longer lost; 0 turns it off
    lost = remember_lost(Held.empty(), np.array([keeper]), np.zeros((0, 4)), 192, max_age=3)
    assert len(remember_lost(lost, np.zeros((0, 4)), np.array([[512, 124, 541, 157]]), 192, 3).xyxy_px) == 0
    assert len(remember_lost(Held.empty(), np.array([keeper]), np.zeros((0, 4)), 192, 0).xyxy_px) == 0
    # a lost person is proposed like a followed one: a square centred on him
    (view,) = proposal_views(0, np.zeros((0, 4)), lost.xyxy_px, 854, 480, FuseConfig(), 192)
    assert view.x0 < keeper[0] and view.x0 + view.side > keeper[2]
    assert view.y0 + 0.25 * view.side < keeper[1] and view.y0 + 0.75 * view.side > keeper[3]


def test_a_tile_too_coarse_for_a_held_person_does_not_drop_it():
    _, held = hold_unseen(Held.empty(), dets([500, 100, 540, 160]), [], max_age=3, same_iou=0.5)
    coarse, fine = View(0, 400, 0, 720), View(0, 450, 50, 150)
    found, _ = hold_unseen(held, Detections.empty(), [coarse], 3, 0.5, view_height_frac=0.4)
    assert len(found) == 1  # 60 px < 0.4 x 720: that tile cannot have seen it
    found, _ = hold_unseen(held, Detections.empty(), [fine], 3, 0.5, view_height_frac=0.4)
    assert len(found) == 0  # 60 px >= 0.4 x 150: it would have


def test_registry_names_every_backend_and_rejects_others():
    assert {"auto", "pitch", "blazepose", "hog", "onnx"} <= set(BACKENDS)
    assert load_config()["detect"]["backend"] == "auto"
    with pytest.raises(ConfigError, match="detect.auto.levels"):
        build_stage("detect", load_config(None, ["detect.auto.levels=0"]), StageContext(device="cpu", fps=25.0))


@pytest.fixture(scope="module")
def auto_stage():
    try:
        return build_stage("detect", load_config(), StageContext(device="cpu", fps=25.0))
    except Exception as exc:  # noqa: BLE001 - the model file or LiteRT is missing
        pytest.skip(f"auto detector unavailable: {exc}")


def test_auto_on_a_photo_keeps_the_player_and_drops_the_shirt(shared_data, auto_stage):
    image = cv2.cvtColor(cv2.imread(str(shared_data / "images" / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    (packet,) = auto_stage.process([Packet(Frame(0, 0, 0.0, image))])
    found = packet.detections
    hand_box = np.array([[70, 60, 460, 336]])  # drawn by hand: hair to boots, outstretched hand
    iou = box_iou(found.xyxy_px, hand_box)[:, 0]
    assert iou.max() >= 0.5
    # nothing else may sit on the player (the pitch segmenter's shirt, boot and ball boxes)
    others = found.xyxy_px[iou < iou.max()]
    assert (coverage(others, hand_box) < 0.5).all()


def test_auto_finds_the_goalkeeper_before_the_net(shared_data):
    """goalkeeper_amateur frame 100 (a labelled tune frame): the 56-px keeper before the net, which the
    pitch segmenter sees only as leg fragments and the fixed views see too small, is found through
    a proposal square round those fragments."""
    from streamer.io.source import open_source

    config = load_config()
    source_cfg = {**config["source"], "start_s": 96 / 30.0, "max_frames": 5}
    with open_source(str(shared_data / "clips" / "goalkeeper_amateur.mp4"), source_cfg) as source:
        frames = [frame.image for frame in source]
    assert len(frames) == 5
    keeper = np.array([[486.5, 135.5, 525, 191]])  # tests/data/person_boxes/goalkeeper_amateur.json

    auto = BACKENDS["auto"](config["detect"], StageContext(device="cpu", fps=30.0))
    found = auto.detect_batch(frames)
    # the learned detector has him (not only the pitch segmenter's pieces), and so has the output
    assert box_iou(auto._last, keeper).max(initial=0.0) >= 0.5
    assert box_iou(found[-1].xyxy_px, keeper).max(initial=0.0) >= 0.5

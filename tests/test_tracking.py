"""Tracker behaviour on hand-made detections: crossings, gaps, pans, births and deaths."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.boxes import iou
from streamer.records import Detections
from streamer.tracking.association import assign
from streamer.tracking.kalman import BoxKalman
from streamer.tracking.tracker import ByteTracker, TrackerConfig

BLANK = np.zeros((480, 848, 3), np.uint8)


def box(cx: float, cy: float, h: float = 30.0) -> np.ndarray:
    return np.array([cx - 0.2 * h, cy - h / 2, cx + 0.2 * h, cy + h / 2], np.float32)


def dets(*boxes: np.ndarray, score: float = 0.9) -> Detections:
    if not boxes:
        return Detections.empty()
    return Detections(np.stack(boxes), np.full(len(boxes), score, np.float32))


def run(tracker: ByteTracker, frames: list[Detections], fps: float = 25.0, image=BLANK):
    return [tracker.update(image if not callable(image) else image(i), d, i / fps) for i, d in enumerate(frames)]


def ids_near(tracks, cx: float) -> int:
    centres = (tracks.xyxy_px[:, 0] + tracks.xyxy_px[:, 2]) / 2
    return int(tracks.track_id[np.argmin(np.abs(centres - cx))])


def test_iou_and_assign():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    b = np.array([[5, 0, 15, 10], [100, 100, 110, 110]], np.float32)
    np.testing.assert_allclose(iou(a, b)[0], [1 / 3, 0.0])
    matches, un_rows, un_cols = assign(1 - iou(a, b), 0.8)
    assert matches.tolist() == [[0, 0]] and un_rows.tolist() == [1] and un_cols.tolist() == [1]


def test_assign_never_trades_a_match_for_two_refused_ones():
    """A track's one good match must not be given up so that two pairs over the limit can be
    formed (and then refused): the player would lose his track and a new one be born."""
    cost = np.array([[0.69, 0.94], [0.90, np.inf]])
    matches, un_rows, un_cols = assign(cost, 0.85)
    assert matches.tolist() == [[0, 0]] and un_rows.tolist() == [1] and un_cols.tolist() == [1]
    # below the limit the cheapest full matching still wins
    matches, _, _ = assign(np.array([[0.1, 0.2], [0.2, 0.8]]), 0.85)
    assert sorted(matches.tolist()) == [[0, 1], [1, 0]]


def test_kalman_learns_velocity_in_pixels_per_second():
    kf = BoxKalman(box(100, 200))
    for i in range(1, 30):
        kf.predict(0.04)
        kf.update(box(100 + 5 * i, 200))  # 5 px per frame = 125 px/s
    assert kf.kf.x[4, 0] == pytest.approx(125, rel=0.05)


def test_birth_after_min_hits_and_ids_from_one():
    tracker = ByteTracker(TrackerConfig(min_hits=3, camera_motion=False))
    out = run(tracker, [dets(box(100, 100), box(300, 100))] * 5)
    assert [len(t) for t in out] == [0, 0, 2, 2, 2]
    assert sorted(out[-1].track_id.tolist()) == [1, 2]


def test_crossing_lookalikes_keep_their_ids():
    """Two identical players run through each other at 4 m/s-ish; motion must carry the ids."""
    tracker = ByteTracker(TrackerConfig(camera_motion=False))
    frames = []
    for i in range(60):
        a = box(200 + 6 * i, 200 + 0.5 * i)
        b = box(560 - 6 * i, 205 - 0.5 * i)
        frames.append(dets(a, b) if abs(a[0] - b[0]) > 2 else dets(a))  # one box while fully merged
    out = run(tracker, frames)
    first = out[5]
    left_id = ids_near(first, 200 + 6 * 5)
    last = out[-1]
    assert len(last) == 2
    assert ids_near(last, 200 + 6 * 59) == left_id  # still the one that started on the left


def test_gap_shorter_than_max_age_keeps_id_longer_gap_does_not():
    cfg = TrackerConfig(camera_motion=False, max_age_s=0.5)
    frames = [dets(box(100 + 2 * i, 100)) for i in range(10)]
    frames += [dets()] * 10  # 0.4 s gap at 25 fps
    frames += [dets(box(100 + 2 * i, 100)) for i in range(20, 30)]
    out = run(ByteTracker(cfg), frames)
    assert out[9].track_id.tolist() == out[-1].track_id.tolist() == [1]
    frames = [dets(box(100, 100))] * 10 + [dets()] * 20 + [dets(box(100, 100))] * 10  # 0.8 s gap
    out = run(ByteTracker(cfg), frames)
    assert out[-1].track_id.tolist() == [2]


def test_max_age_is_in_seconds_not_frames():
    """The same 0.4 s gap at 50 fps (20 frames) still keeps the id."""
    cfg = TrackerConfig(camera_motion=False, max_age_s=0.5)
    frames = [dets(box(100, 100))] * 20 + [dets()] * 20 + [dets(box(100, 100))] * 20
    out = run(ByteTracker(cfg), frames, fps=50.0)
    assert out[-1].track_id.tolist() == [1]


def test_low_score_detections_extend_tracks_but_never_start_them():
    tracker = ByteTracker(TrackerConfig(camera_motion=False))
    frames = [dets(box(100 + 3 * i, 100)) for i in range(5)]
    frames += [dets(box(100 + 3 * i, 100), score=0.3) for i in range(5, 10)]
    frames += [dets(box(400, 300), score=0.3)] * 5
    out = run(tracker, frames)
    assert [t.track_id.tolist() for t in out[5:10]] == [[1]] * 5
    assert all(2 not in t.track_id for t in out)


def textured(shift_x: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (480, 1400, 3), dtype=np.uint8)
    base = np.ascontiguousarray(np.repeat(np.repeat(base[::4, ::4], 4, 0), 4, 1))
    x0 = int(round(shift_x))
    return np.ascontiguousarray(base[:, x0 : x0 + 848])


def test_camera_pan_is_compensated():
    """The camera holds still, then whips into a 20 px/frame pan. A player standing on the pitch
    jumps by the pan in the image: only a pan-aware prediction keeps his id."""
    shifts = np.concatenate([np.zeros(15), 20.0 * np.arange(1, 21)])
    images = [textured(s) for s in shifts]
    frames = [dets(box(700 - s, 240)) for s in shifts]
    with_cmc = run(ByteTracker(TrackerConfig()), frames, image=lambda i: images[i])
    assert {tuple(t.track_id.tolist()) for t in with_cmc[3:]} == {(1,)}
    without = run(ByteTracker(TrackerConfig(camera_motion=False)), frames, image=lambda i: images[i])
    # without compensation the jump breaks the track: the player is lost or gets a new id
    assert any(1 not in t.track_id for t in without[16:])
    tracker = ByteTracker()
    tracker.update(images[20], Detections.empty(), 0.0)
    tracker.update(images[21], Detections.empty(), 0.04)
    assert tracker.last_affine[0, 2] == pytest.approx(-20.0, abs=0.5)


def test_metrics_count_a_switch_and_misses():
    from streamer.tracking.metrics import FrameBoxes, evaluate

    a, b = box(100, 100), box(300, 100)
    truth = [FrameBoxes(np.array([1, 2]), np.stack([a, b])) for _ in range(10)]
    hyp = [FrameBoxes(np.array([7, 8]), np.stack([a, b])) for _ in range(5)]
    hyp += [FrameBoxes(np.array([9, 8]), np.stack([a, b])) for _ in range(4)]  # 7 -> 9: one switch
    hyp += [FrameBoxes(np.array([8]), np.stack([b]))]  # player 1 missed once
    scores = evaluate(truth, hyp, duration_s=0.4)
    assert scores.id_switches == 1
    assert scores.mota == pytest.approx(1 - (1 + 1) / 20)
    assert scores.recall == pytest.approx(19 / 20)
    assert scores.switches_per_player_minute == pytest.approx(1 / (2 * 0.4 / 60))
    # player-minutes count the time each player is in view, not ids × clip length
    partial = truth[:5] + [FrameBoxes(np.array([1]), a[None]) for _ in range(5)]
    scores = evaluate(partial, hyp, duration_s=0.4)
    assert scores.player_minutes == pytest.approx(15 * 0.04 / 60)


def test_metrics_tell_a_switch_on_reentry_from_one_in_view():
    from streamer.tracking.metrics import FrameBoxes, evaluate

    a, b = box(100, 100), box(300, 100)
    both = lambda ids: FrameBoxes(np.array(ids), np.stack([a, b]))  # noqa: E731
    # player 1 leaves the picture for 2 s (50 frames) and comes back under a new id;
    # player 2 stays in view and his id changes once
    truth = [both([1, 2])] * 10 + [FrameBoxes(np.array([2]), b[None])] * 50 + [both([1, 2])] * 10
    hyp = [both([7, 8])] * 10 + [FrameBoxes(np.array([8]), b[None])] * 30 + [FrameBoxes(np.array([9]), b[None])] * 20
    hyp += [both([5, 9])] * 10
    scores = evaluate(truth, hyp, duration_s=70 * 0.04)
    assert scores.id_switches == 2 and scores.reentry_switches == 1
    assert scores.in_view_switches_per_player_minute == pytest.approx(1 / (90 * 0.04 / 60))  # 90 player-frames
    # out of view for less than reentry_s: an ordinary switch
    assert evaluate(truth, hyp, duration_s=70 * 0.04, reentry_s=2.5).reentry_switches == 0


def test_coverage_and_fit_inside():
    from streamer.boxes import coverage
    from streamer.tracking.association import fit_inside

    a = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    b = np.array([[5, 0, 25, 10]], float)
    np.testing.assert_allclose(coverage(a, b)[:, 0], [0.5, 0.5])
    moved = fit_inside(np.array([[-4, 2, 6, 8], [0, 0, 40, 5]], float), np.array([0, 0, 30, 10], float))
    np.testing.assert_allclose(moved, [[0, 2, 10, 8], [0, 0, 30, 5]])


def test_players_crossing_in_one_blob_keep_their_ids():
    """Two players walk into one merged detection and out again on the other side."""
    tracker = ByteTracker()
    ids_before = ids_after = None
    for k in range(40):
        t = k * 0.04
        a, b = 100 + 4 * k, 260 - 4 * k  # x of each player; they meet at k = 20
        boxes = np.array([[a, 100, a + 12, 130], [b, 108, b + 12, 138]], np.float32)  # b a little nearer
        if abs(a - b) < 14:  # one blob around both
            boxes = np.array([[min(a, b), 100, max(a, b) + 12, 138]], np.float32)
        scores = np.full(len(boxes), 0.9, np.float32)
        tracks = tracker.update(np.zeros((300, 400, 3), np.uint8), Detections(boxes, scores), t)
        if k == 15:
            ids_before = dict(zip(np.round(tracks.xyxy_px[:, 0]).astype(int), tracks.track_id, strict=True))
        if k == 25:
            ids_after = dict(zip(np.round(tracks.xyxy_px[:, 0]).astype(int), tracks.track_id, strict=True))
        if 0 < abs(a - b) < 14:  # (at exact overlap the blob is no bigger than the nearer player)
            assert len(tracks) == 2  # both held inside the blob
    left_before, right_before = ids_before[160], ids_before[200]
    assert ids_after[200] == left_before and ids_after[160] == right_before


def test_a_partly_hidden_small_player_keeps_his_track_through_low_score_boxes():
    """A 26 px player is half hidden for a few frames: the detector gives a low-score box taller
    and shifted up (plain IoU with his track under low_match_iou). The buffered second stage keeps
    him; with plain IoU (low_buffer_ratio 0) the track dies and he comes back under a new id."""
    full = box(300, 193, 26)
    part = np.array([298.0, 155.0, 310.0, 197.0], np.float32)  # the Bundesliga clip's frame 121
    frames = [dets(full)] * 10 + [dets(part, score=0.4)] * 45 + [dets(full)] * 10
    assert iou(full[None], part[None])[0, 0] < TrackerConfig().low_match_iou
    ids = {}
    for ratio in (0.3, 0.0):
        out = run(ByteTracker(TrackerConfig(camera_motion=False, low_buffer_ratio=ratio)), frames)
        ids[ratio] = {int(i) for t in out for i in t.track_id}
    assert ids[0.3] == {1}
    assert len(ids[0.0]) == 2


def test_a_short_box_beside_a_nearer_player_gets_no_id_but_a_far_player_does():
    """A blob a third of a player's height standing as near the camera as he does (a boot, a
    goalpost's foot) is a piece of something; one as short but further back (feet higher in the
    frame) is a far player, and one cut by the top edge is a player's lower part."""
    player = np.array([100, 240, 124, 300], np.float32)  # 60 px, feet at row 300
    boot = np.array([124, 290, 134, 310], np.float32)  # 20 px, feet lower
    far = np.array([300, 130, 308, 150], np.float32)  # 20 px, feet at row 150
    legs = np.array([500, 0, 512, 20], np.float32)  # 20 px, cut by the top edge
    tracker = ByteTracker(TrackerConfig(min_hits=3, camera_motion=False))
    out = run(tracker, [dets(player, boot, far, legs)] * 8)
    heights = sorted((out[-1].xyxy_px[:, 3] - out[-1].xyxy_px[:, 1]).round().tolist())
    assert len(out[-1]) == 3 and heights == [20.0, 20.0, 60.0]
    assert not np.any((out[-1].xyxy_px == boot).all(axis=1))
    # a box inside a taller player's box (his legs boxed apart) gets no id either
    legs_apart = np.array([104, 262, 120, 300], np.float32)  # 38 px, 0.63 x his height
    out = run(ByteTracker(TrackerConfig(min_hits=3, camera_motion=False)), [dets(player, legs_apart)] * 8)
    assert out[-1].track_id.tolist() == [1]
    # the rule off: the boot gets an id too
    out = run(ByteTracker(TrackerConfig(min_hits=3, camera_motion=False, fragment_ratio=0.0)),
              [dets(player, boot, far, legs)] * 8)
    assert len(out[-1]) == 4

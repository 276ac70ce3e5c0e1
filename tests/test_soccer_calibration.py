"""Pitch lines → calibration: line mask, from-scratch search, per-frame refinement, the calibrate stage."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from streamer.config import load_config
from streamer.records import Detections, Frame, Packet, PitchCalibration
from streamer.soccer import line_fit, line_search, pitch_model
from streamer.soccer.calibrator import Calibrator, CalibratorConfig
from streamer.soccer.homography import apply_homography, intrinsics
from streamer.soccer.lines import LineMaskConfig, line_image
from streamer.stages import StageContext, build_stage
from streamer.stages.calibrate import CalibrateStage

BIG_W, BIG_H = 1100, 420  # the camera's full view; frames are crops of it (an exact pan)
W, H = 720, 400


def camera_p2i(pan_deg: float = 0.0, tilt_deg: float = 17.0, focal_px: float = 700.0) -> np.ndarray:
    """Pitch → big-view homography of a camera 75 m behind the near touchline, 20 m up."""
    k = intrinsics(focal_px, (BIG_W / 2, BIG_H / 2))
    base = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    rot = base @ Rotation.from_euler("zx", [-pan_deg, -tilt_deg], degrees=True).as_matrix().T
    t = -rot @ np.array([0.0, -75.0, 20.0])
    h = k @ np.column_stack([rot[:, 0], rot[:, 1], t])
    return h / h[2, 2]


def render(p2i: np.ndarray, size: tuple[int, int], seed: int = 0, players: int = 12) -> np.ndarray:
    """(H, W, 3) RGB: striped grass, white 2-px lines, dark stands above, a few players on top.

    Homographies map to continuous pixel coordinates (pixel i spans [i, i + 1)); OpenCV draws
    at pixel indices, hence the half-pixel shift.
    """
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    img[:] = (60, 60, 70)  # stands
    corners = apply_homography(p2i, np.array([[-60, -40], [60, -40], [60, 40], [-60, 40.0]]))
    cv2.fillConvexPoly(img, np.rint(corners).astype(np.int32), (60, 140, 60))
    # mowing stripes: every 5.25 m slightly darker
    for k in range(-10, 10, 2):
        band = apply_homography(
            p2i, np.array([[k * 5.25, -40], [(k + 1) * 5.25, -40], [(k + 1) * 5.25, 40], [k * 5.25, 40.0]])
        )
        cv2.fillConvexPoly(img, np.rint(band).astype(np.int32), (52, 128, 52))
    for mark in pitch_model.markings():
        pts = (
            mark.points_m if len(mark.points_m) > 2 else np.linspace(mark.points_m[0], mark.points_m[1], 200)
        )
        uv = apply_homography(p2i, pts)
        cv2.polylines(
            img, [np.rint((uv - 0.5) * 4).astype(np.int32)], False, (235, 235, 235), 2, cv2.LINE_AA, 2
        )
    for _ in range(players):
        x, y = rng.uniform(-45, 45), rng.uniform(-30, 30)
        u, v = apply_homography(p2i, np.array([[x, y]]))[0]
        ph = 14 + 0.05 * v
        colour = (230, 230, 230) if rng.random() < 0.5 else (200, 40, 40)
        cv2.rectangle(img, (int(u - ph / 5), int(v - ph)), (int(u + ph / 5), int(v)), colour, -1)
    img = cv2.GaussianBlur(img, (0, 0), 0.7)  # broadcast softness
    img += rng.normal(0, 3.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def crop_h(p2i_big: np.ndarray, offset: tuple[float, float]) -> np.ndarray:
    """Pitch → crop homography for a crop whose top-left is ``offset`` in the big view."""
    shift = np.array([[1.0, 0, -offset[0]], [0, 1.0, -offset[1]], [0, 0, 1.0]])
    return shift @ p2i_big


def error_px(image_to_pitch: np.ndarray, true_p2i: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Calibration error over the frame's pitch pixels, in pixels: each pixel goes to the pitch
    through the estimate and back through the truth. (In metres the far touchline of a wide
    shot, at ~1 m per pixel, would swamp everything else.)"""
    w, h = size
    grid = np.stack(np.meshgrid(np.linspace(0, w - 1, 25), np.linspace(0, h - 1, 15)), -1).reshape(-1, 2)
    on = pitch_model.inside_pitch(apply_homography(np.linalg.inv(true_p2i), grid))
    back = apply_homography(true_p2i, apply_homography(image_to_pitch, grid[on]))
    return np.linalg.norm(back - grid[on], axis=1)


SAMPLES = line_fit.ModelSamples.build(0.5)


def test_pitch_model_geometry():
    marks = {m.name: m for m in pitch_model.markings()}
    for side, sign in (("left", -1), ("right", 1)):
        arc = marks[f"{side}_penalty_arc"].points_m
        # the arc starts and ends on the penalty-area front line and bulges toward the halfway line
        np.testing.assert_allclose(np.abs(arc[[0, -1], 0]), pitch_model.PENALTY_FRONT_X_M, atol=1e-9)
        assert (sign * arc[:, 0] <= pitch_model.PENALTY_FRONT_X_M + 1e-9).all()
        assert np.linalg.norm(arc - [sign * pitch_model.PENALTY_SPOT_X_M, 0], axis=1) == pytest.approx(9.15)
    land = pitch_model.landmarks()
    assert land["right_penalty_arc_far_end"] == pytest.approx((36.0, 7.312), abs=1e-3)
    pts, idx = pitch_model.sample_markings(0.5)
    assert pitch_model.inside_pitch(pts, 1e-9).all() and len(pts) == len(idx)


FIT = line_fit.FitConfig()


def test_line_mask_finds_painted_lines_not_players():
    p2i = camera_p2i()
    img = render(p2i, (BIG_W, BIG_H))
    lines = line_image(img, None, LineMaskConfig())
    uv = apply_homography(p2i, pitch_model.sample_markings(1.0)[0])
    inside = (uv[:, 0] > 2) & (uv[:, 0] < BIG_W - 3) & (uv[:, 1] > 2) & (uv[:, 1] < BIG_H - 3)
    d = lines.distance_px[np.rint(uv[inside, 1]).astype(int), np.rint(uv[inside, 0]).astype(int)]
    assert np.median(d) < 1.0 and np.mean(d < 2.0) > 0.9


@pytest.mark.parametrize(
    ("pan", "tilt", "focal"), [(0.0, 17.0, 700.0), (-18.0, 15.0, 800.0), (22.0, 19.0, 900.0)]
)
def test_search_finds_the_pitch_from_scratch(pan, tilt, focal):
    p2i = camera_p2i(pan, tilt, focal)
    img = render(p2i, (BIG_W, BIG_H), seed=1)
    fit = line_search.search(line_image(img, None, LineMaskConfig()), SAMPLES, FIT)
    assert fit is not None
    assert fit.rms_px < 1.5
    err = error_px(fit.image_to_pitch, p2i, (BIG_W, BIG_H))
    # a 2-px line thins to one of its two pixel columns: half a pixel of noise, grown in the far field
    assert np.median(err) < 1.0 and np.percentile(err, 95) < 3.0


def test_refine_recovers_a_perturbed_calibration():
    p2i = camera_p2i(5.0)
    img = render(p2i, (BIG_W, BIG_H), seed=2)
    lines = line_image(img, None, LineMaskConfig())
    # the starting guess is 4-8 px off across the frame: a few frames of propagation drift
    drift = np.array([[1.004, 0.002, 4.0], [-0.001, 1.003, -3.0], [0.0, 0.0, 1.0]])
    start = np.linalg.inv(drift @ p2i)
    assert np.median(error_px(start, p2i, (BIG_W, BIG_H))) > 3.0
    fit = line_fit.refine(start, lines, SAMPLES, FIT)
    assert fit is not None
    assert np.median(error_px(fit.image_to_pitch, p2i, (BIG_W, BIG_H))) < 0.6


def test_refine_rejects_a_frame_without_lines():
    blank = np.full((BIG_H, BIG_W, 3), (60, 140, 60), np.uint8)
    assert (
        line_fit.refine(np.linalg.inv(camera_p2i()), line_image(blank, None, LineMaskConfig()), SAMPLES, FIT)
        is None
    )
    assert line_search.search(line_image(blank, None, LineMaskConfig()), SAMPLES, FIT) is None


def panning_clip(n: int = 5, step_px: float = 45.0):
    """Crops of one big view moving right by ``step_px`` per frame: frames, true homographies, motions."""
    p2i = camera_p2i()
    big = render(p2i, (BIG_W, BIG_H), seed=3)
    packets, truths = [], []
    for k in range(n):
        ox, oy = 20.0 + k * step_px, 10.0
        img = np.ascontiguousarray(big[int(oy) : int(oy) + H, int(ox) : int(ox) + W])
        motion = None if k == 0 else np.array([[1.0, 0, -step_px], [0, 1.0, 0.0]])
        packets.append(
            Packet(Frame(k, k, k * 0.04, img), detections=Detections.empty(), camera_motion=motion)
        )
        truths.append(crop_h(p2i, (ox, oy)))
    return packets, truths


def manual_rows(true_p2i: np.ndarray, noise_px: float = 0.0) -> list[list[float]]:
    marks = pitch_model.landmarks()
    names = (
        "halfway_near_touchline",
        "halfway_far_touchline",
        "centre_circle_near",
        "centre_circle_far",
        "left_penalty_far_front_corner",
        "left_penalty_arc_near_end",
    )
    pts = np.array([marks[n] for n in names])
    uv = apply_homography(true_p2i, pts) + noise_px * np.array(
        [[1, -1], [-1, 1], [1, 1], [-1, -1], [1, 0], [0, 1]]
    )
    return [[float(u), float(v), float(x), float(y)] for (u, v), (x, y) in zip(uv, pts, strict=True)]


@pytest.mark.parametrize("auto", [False, True])
def test_stage_propagates_a_manual_calibration_both_ways(auto):
    packets, truths = panning_clip()
    manual_frame = 2
    cfg = CalibratorConfig(
        manual_frame=manual_frame, manual_points=tuple(manual_rows(truths[manual_frame], 0.7)), auto=auto,
        refit_every=1,
    )
    stage = CalibrateStage(Calibrator(cfg))
    out = stage.process(packets[:2])
    assert out == []  # held back until the manual frame arrives
    out += stage.process(packets[2:]) + stage.flush()
    assert [p.frame.index for p in out] == [0, 1, 2, 3, 4]
    sources = [p.calibration.source for p in out]
    if auto:
        assert sources == ["auto"] * 5
    else:
        assert sources == ["propagated", "propagated", "manual", "propagated", "propagated"]
    for p, truth in zip(out, truths, strict=True):
        err = error_px(p.calibration.image_to_pitch, truth, (W, H))
        # manual: 0.7 px click errors on six points grow away from them; the lines fix that
        assert np.median(err) < (0.6 if auto else 2.5), p.frame.index
        assert p.calibration.cam_K is not None


def test_stage_without_manual_points_searches_and_tracks():
    packets, truths = panning_clip(4)
    stage = build_stage("calibrate", load_config(), StageContext("cpu", 25.0))
    # the search's first guess scores 1/3 for agreement (min_streak 3), under the 0.5 gate: it
    # is held until the next frame's line fit, refined from it, agrees (2/3) and confirms it
    assert stage.process(packets[:1]) == []
    out = stage.process(packets[1:]) + stage.flush()
    assert [p.frame.index for p in out] == [0, 1, 2, 3]
    # refit_every 2: once trusted, every other frame takes the calibration carried through the
    # camera's motion without fitting its lines
    assert [p.calibration.source for p in out] == ["auto", "auto", "propagated", "auto"]
    assert stage.calibrator.stats["searches"] == 1  # then each line fit refines the previous frame's
    for p, truth in zip(out, truths, strict=True):
        assert np.median(error_px(p.calibration.image_to_pitch, truth, (W, H))) < 0.6
        assert p.calibration.source == "propagated" or p.calibration.reprojection_error_px < 1.5
    report = stage.report()["calibration"]
    assert report["frames"] == 4 and report["frames_calibrated"] == 4
    assert report["share_calibrated"] == pytest.approx(1.0)
    # refitting every frame: line fits throughout
    every = CalibrateStage(Calibrator(dataclasses.replace(stage.calibrator.cfg, refit_every=1)))
    out = every.process(packets) + every.flush()
    assert [p.calibration.source for p in out] == ["auto"] * 4
    assert 0 < report["reprojection_rms_px"] < 1.5
    # a live stage holds nothing: the unconfirmed first frame goes out uncalibrated
    live = CalibrateStage(Calibrator(stage.calibrator.cfg), hold=False)
    out = live.process(packets)
    assert out[0].calibration is None and all(p.calibration is not None for p in out[1:])


def test_gate_refuses_a_fit_that_puts_the_players_off_the_pitch():
    """Boxes standing in the stands (a wrong fit puts real players there): no calibration."""
    packets, truths = panning_clip(4)
    stands = np.array([[x, 2.0, x + 8, 20.0] for x in range(40, 700, 60)], np.float32)  # above the pitch
    boxes = Detections(stands, np.ones(len(stands), np.float32))
    stage = build_stage("calibrate", load_config(), StageContext("cpu", 25.0))
    out = stage.process([p.replace(detections=boxes) for p in packets]) + stage.flush()
    assert all(p.calibration is None for p in out)
    assert stage.report()["calibration"]["share_calibrated"] == 0.0


def test_gate_refuses_a_frame_with_too_little_pitch():
    packets, _ = panning_clip(4)
    crowd = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    crowd[int(0.85 * H) :] = (60, 140, 60)  # a strip of grass at the bottom
    stage = build_stage("calibrate", load_config(), StageContext("cpu", 25.0))
    out = stage.process(packets[:3]) + stage.process([packets[3].replace(frame=Frame(3, 3, 0.12, crowd))])
    assert out[2].calibration is not None
    assert out[3].calibration is None  # carried, but the frame shows no pitch to speak of


def test_end_shot_carries_nothing_into_the_next_view():
    packets, _ = panning_clip(4)
    stage = build_stage("calibrate", load_config(), StageContext("cpu", 25.0))
    out = stage.process(packets[:3])
    assert out[2].calibration is not None
    assert stage.end_shot() == []
    blank = np.full((H, W, 3), (60, 140, 60), np.uint8)  # grass, no lines: nothing to find
    cut = packets[3].replace(frame=Frame(3, 3, 0.12, blank), camera_motion=None)
    assert stage.process([cut])[0].calibration is None
    stage.reset()
    assert stage.calibrator.confidence == 0.0


def camera_at(centre_m: tuple[float, float, float], look_at_m: tuple[float, float], focal_px: float,
              size: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """Pitch → image homography of a camera at ``centre_m`` (z up) aimed at a pitch point."""
    c = np.asarray(centre_m, np.float64)
    fwd = np.array([*look_at_m, 0.0]) - c
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    rot = np.stack([right, down, fwd])  # rows: camera x (right), y (down), z (forward) in pitch axes
    t = -rot @ c
    h = intrinsics(focal_px, (size[0] / 2, size[1] / 2)) @ np.column_stack([rot[:, 0], rot[:, 1], t])
    return h / h[2, 2]


@pytest.mark.parametrize(
    ("name", "centre", "look_at", "focal"),
    [
        # the search assumes a main camera on the near side: it finds a turned fit whose grass
        # still lands on the pitch, and the paint it leaves unexplained refuses it
        ("high behind the right goal", (80.0, 0.0, 35.0), (30.0, 0.0), 700.0),
        ("low at the near touchline", (-20.0, -52.0, 5.0), (-20.0, -15.0), 500.0),
    ],
)
def test_new_camera_views_are_calibrated_right_or_refused(name, centre, look_at, focal):
    """A from-scratch calibration of an unusual camera is either right or withheld: never a
    wrong one (the behind-goal view's mirror image puts the box at the far end)."""
    p2i = camera_at(centre, look_at, focal, (W, H))
    img = render(p2i, (W, H), seed=5)
    packets = [Packet(Frame(k, k, k * 0.04, img), detections=Detections.empty(),
                      camera_motion=None if k == 0 else np.array([[1.0, 0, 0], [0, 1.0, 0]]))
               for k in range(4)]  # fmt: skip
    stage = build_stage("calibrate", load_config(), StageContext("cpu", 25.0))
    out = stage.process(packets) + stage.flush()
    calibrated = [p for p in out if p.calibration is not None]
    for p in calibrated:
        assert np.median(error_px(p.calibration.image_to_pitch, p2i, (W, H))) < 2.0, name


def test_manual_frame_never_reached_releases_held_frames():
    packets, truths = panning_clip(2)
    cfg = CalibratorConfig(manual_frame=50, manual_points=tuple(manual_rows(truths[0])), auto=False)
    stage = CalibrateStage(Calibrator(cfg))
    assert stage.process(packets) == []
    out = stage.flush()
    assert [p.frame.index for p in out] == [0, 1]
    assert all(p.calibration is None for p in out)


def test_calibration_frame_helper_writes_grid_and_suggests_points(tmp_path):
    from streamer.io.video_writer import VideoWriter
    from streamer.soccer.calib_tool import calibration_frame
    from streamer.soccer.calibrator import ManualCalibration

    packets, truths = panning_clip(3)
    writer = VideoWriter(tmp_path / "clip.mp4", fps=25.0, crf=12)
    for p in packets:
        writer.write(p.frame.image, p.frame.time_s)
    writer.close()
    written, snippet = calibration_frame(str(tmp_path / "clip.mp4"), tmp_path / "out", frame_index=1)
    assert [p.name for p in written] == ["calibrate_frame1.png", "pitch_landmarks.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written)
    assert "manual_frame: 1" in snippet
    parsed = yaml.safe_load(snippet)["calibrate"]  # ready to paste into a config
    assert parsed["manual_frame"] == 1
    rows = parsed["manual_points"]
    assert len(rows) >= 4
    suggested = ManualCalibration.from_points(1, rows)
    # the suggestion is the automatic fit: near the truth (the clip went through H.264)
    assert np.median(error_px(suggested.image_to_pitch, truths[1], (W, H))) < 1.0
    # with manual points, their fit error is reported instead
    _, snippet = calibration_frame(str(tmp_path / "clip.mp4"), tmp_path / "out", 1, manual_points=rows)
    assert "fit with RMS" in snippet


def test_overlay_layer_draws_lines_speeds_and_minimap():
    from streamer.records import PlayerMetrics, Tracks
    from streamer.soccer.overlay import draw_soccer_layer

    packets, truths = panning_clip(1)
    image = packets[0].frame.image
    cal = PitchCalibration(np.linalg.inv(truths[0]), 0.5, "auto")
    tracks = Tracks(np.array([7]), np.array([[300, 200, 310, 230]], np.float32), np.ones(1, np.float32))
    metrics = PlayerMetrics(
        np.array([7]),
        np.array([1]),
        np.array([[3.0, -5.0]], np.float32),
        np.array([6.5], np.float32),
        np.zeros(1, np.int64),
    )
    plain = packets[0].replace(tracks=tracks)
    assert draw_soccer_layer(image, plain) is image  # nothing to add
    drawn = draw_soccer_layer(image, plain.replace(calibration=cal, metrics=metrics))
    changed = np.abs(drawn.astype(int) - image.astype(int)).sum(axis=2) > 0
    assert changed[:60, :170].mean() > 0.3  # the minimap
    halfway = np.rint(apply_homography(truths[0], np.array([[0.0, -20.0]]))[0]).astype(int)
    assert changed[halfway[1] - 1 : halfway[1] + 2, halfway[0] - 1 : halfway[0] + 2].any()
    assert changed[215:232, 311:335].any()  # the speed label


def test_centre_circle_view_with_one_line_across():
    """Far touchline, halfway line and centre circle only: no two lines across the pitch, the
    circle gives the rest (streamer.soccer.circle_search)."""
    from streamer.soccer.circle_search import circle_hypotheses, ellipses
    from streamer.soccer.lines import straight_lines

    p2i = camera_p2i(0.0, 13.0, 1500.0)
    lines = line_image(render(p2i, (BIG_W, BIG_H), seed=4), None, LineMaskConfig())
    found, _ = straight_lines(lines.thin_mask)  # the search's view of the lines
    assert len(found) == 2
    circle = apply_homography(p2i, pitch_model.markings()[3].points_m)
    ell = ellipses(lines.thin_mask, found)
    assert any(np.linalg.norm(np.array(e[0]) - circle.mean(axis=0)) < 3 for e in ell)
    assert len(circle_hypotheses(lines.thin_mask, found)) >= 2
    fit = line_search.search(lines, SAMPLES, FIT)
    assert fit is not None
    assert np.median(error_px(fit.image_to_pitch, p2i, (BIG_W, BIG_H))) < 1.0


def test_a_cut_before_the_manual_frame_keeps_holding_for_it():
    """A camera cut at frame 1 releases the old shot's frame; the new shot's frames before the
    manual frame (3) are still held and get the manual calibration carried back to them."""
    packets, truths = panning_clip()
    cfg = CalibratorConfig(manual_frame=3, manual_points=tuple(manual_rows(truths[3])), auto=False,
                           refit_every=1)
    stage = CalibrateStage(Calibrator(cfg))
    assert stage.process(packets[:1]) == []
    released = stage.end_shot()
    assert [p.frame.index for p in released] == [0] and released[0].calibration is None
    assert stage.process(packets[1:3]) == []  # still held for frame 3
    out = stage.process(packets[3:]) + stage.flush()
    assert [p.frame.index for p in out] == [1, 2, 3, 4]
    assert [p.calibration.source for p in out] == ["propagated", "propagated", "manual", "propagated"]


@pytest.mark.parametrize(("pan", "tilt", "focal"), [(0.0, 17.0, 700.0), (-18.0, 15.0, 800.0)])
def test_search_gives_no_fit_when_a_check_vetoes_the_lines_best_fit(pan, tilt, focal):
    """The generated clip of seed 2: the right fit failed the grass check (its grass mask takes
    in stands) and a fit shifted along the pitch, explaining half as many lines, passed. Here a
    check that vetoes the right fit: the search must not fall back to a worse one (before:
    fits 22-90 px off the truth)."""
    p2i = camera_p2i(pan, tilt, focal)
    lines = line_image(render(p2i, (BIG_W, BIG_H), seed=1), None, LineMaskConfig())

    def right(h: np.ndarray) -> bool:
        return bool(np.median(error_px(h, p2i, (BIG_W, BIG_H))) < 5.0)

    assert right(line_search.search(lines, SAMPLES, FIT, accept=lambda h: True).image_to_pitch)
    assert line_search.search(lines, SAMPLES, FIT, accept=lambda h: not right(h)) is None


def test_player_checks_see_the_players_among_many_fragments():
    """The first frame of a shot can bring more fragments than players (the pitch segmenter's
    size prior restarting: 27 of 49 boxes 4-45 px, players 68-213 px). The players and heights
    checks must judge the players (a typical height from the upper quartile, fragments
    dropped), not the fragments, or a right fit is refused."""
    from streamer.soccer.homography import camera_from_homography

    p2i = crop_h(camera_p2i(), (20.0, 10.0))
    i2p = np.linalg.inv(p2i)
    cal = Calibrator(CalibratorConfig())
    k = intrinsics(700.0, (BIG_W / 2 - 20.0, BIG_H / 2 - 10.0))
    rot, t = camera_from_homography(p2i, k)
    rng = np.random.default_rng(1)
    players = []
    for x, y in zip(rng.uniform(-30, 30, 12), rng.uniform(-30, 20, 12), strict=True):
        ends = [np.array([x, y, z]) @ rot.T + t for z in (0.0, 1.8)]
        (u, v0), (_, v1) = [(k @ e)[:2] / (k @ e)[2] for e in ends]
        height = v0 - v1
        players.append([u - height / 5, v1, u + height / 5, v0])
    players = np.array(players)
    tall = np.median(players[:, 3] - players[:, 1])
    fragments = np.array(
        [[u, v, u + 2, v + s] for u, v, s in zip(rng.uniform(50, 650, 16), rng.uniform(0, 40, 16),
                                                   rng.uniform(0.05, 0.3, 16) * tall, strict=True)]
    )  # fmt: skip  # bits of the boards above the pitch: off the pitch through the right fit
    boxes = np.vstack([players, fragments])
    assert np.median(boxes[:, 3] - boxes[:, 1]) < tall / 2.5  # a median-based filter keeps fragments only
    kept = cal._player_boxes(boxes)
    assert kept is not None and len(kept) == len(players)
    assert cal._players_score(i2p, boxes) == 1.0
    assert cal._heights_score(i2p, boxes, (W, H)) == 1.0


def test_people_beside_the_pitch_do_not_make_a_right_fit_untrusted():
    """Stewards, photographers and staff stand in the run-off, 5-6 m past the touchline on the
    shared cuts clip, a third of the boxes there: the players check counts them as on the pitch
    (players_margin_m, the run-off), while boxes in the stands still fail it."""
    p2i = crop_h(camera_p2i(), (20.0, 10.0))
    i2p = np.linalg.inv(p2i)
    cal = Calibrator(CalibratorConfig())

    def boxes_at(xy_m: np.ndarray) -> np.ndarray:
        uv = apply_homography(p2i, xy_m)
        return np.column_stack([uv[:, 0] - 4, uv[:, 1] - 20, uv[:, 0] + 4, uv[:, 1]])

    rng = np.random.default_rng(2)
    players = boxes_at(np.column_stack([rng.uniform(-30, 30, 12), rng.uniform(-30, 20, 12)]))
    staff = boxes_at(np.column_stack([rng.uniform(-30, 30, 6), np.full(6, -pitch_model.HALF_WIDTH_M - 6.0)]))
    assert cal._players_score(i2p, np.vstack([players, staff])) == 1.0
    stands = boxes_at(np.column_stack([rng.uniform(-30, 30, 12), np.full(12, pitch_model.HALF_WIDTH_M + 25.0)]))
    assert cal._players_score(i2p, np.vstack([players[:6], stands])) == 0.0


def test_first_wide_frame_after_a_cut_passes_the_player_checks():
    """Real boxes of the cuts clip's first wide frame (half of them segmenter fragments) through
    the homography of that frame's labelled pitch points: a right fit, so the players and heights
    checks must trust it (they scored 0.33 / 0.0 when fragments set the reference height)."""
    import json
    from pathlib import Path

    from streamer.soccer.homography import fit_homography

    data = Path(__file__).resolve().parent / "data"
    boxes = np.array(json.loads((data / "detections" / "broadcast_cuts_pitchside_0208.json").read_text())["boxes"])
    labels = json.loads((data / "pitch_points" / "broadcast_cuts_pitchside.json").read_text())
    points = next(f for f in labels["frames"] if f["frame"] == 208)["points"]
    known = pitch_model.landmarks()
    h = fit_homography(np.array([[p["u"], p["v"]] for p in points]), np.array([known[p["name"]] for p in points]))
    height = boxes[:, 3] - boxes[:, 1]
    assert (height[height <= 2.5 * np.median(height)] >= 68).sum() < 10  # a median's filter keeps fragments
    cal = Calibrator(CalibratorConfig())
    assert len(cal._player_boxes(boxes)) >= 15
    assert cal._players_score(h, boxes) == 1.0
    assert cal._heights_score(h, boxes, (1920, 1080)) == 1.0

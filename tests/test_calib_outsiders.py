"""People beside the pitch (streamer.soccer.outsiders) and the calibrate stage taking them out of the tracks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streamer.errors import ConfigError
from streamer.records import Frame, Packet, Tracks
from streamer.soccer import pitch_model
from streamer.soccer.calibrator import Calibrator, CalibratorConfig
from streamer.soccer.homography import apply_homography
from streamer.soccer.outsiders import OutsiderConfig, OutsiderJudge, beyond_lines_m
from streamer.stages.calibrate import CalibrateStage

# a top-down "camera": 10 px per metre, pitch centre at (600, 400); y grows downward in the image
IMAGE_TO_PITCH = np.array([[0.1, 0.0, -60.0], [0.0, -0.1, 40.0], [0.0, 0.0, 1.0]])
NEAR = -pitch_model.HALF_WIDTH_M  # the near touchline's y


def box_at(x_m: float, y_m: float) -> list[float]:
    """A 2 m tall box standing at pitch point (x_m, y_m)."""
    u, v = apply_homography(np.linalg.inv(IMAGE_TO_PITCH), np.array([[x_m, y_m]]))[0]
    return [u - 4, v - 20, u + 4, v]


def judge_run(paths: dict[int, list[float | None]], fps: float = 25.0,
              calibrated: list[bool] | None = None) -> dict[int, list[bool]]:  # fmt: skip
    """Each track's y (m; None: not seen) per frame at x = 0 -> whether it is an outsider per frame."""
    frames = len(next(iter(paths.values())))
    judge = OutsiderJudge(OutsiderConfig())
    rows = []
    for k in range(frames):
        ids = [t for t, ys in paths.items() if ys[k] is not None]
        boxes = np.array([box_at(0.0, paths[t][k]) for t in ids], np.float64).reshape(-1, 4)
        cal = IMAGE_TO_PITCH if calibrated is None or calibrated[k] else None
        judge.observe(k / fps, np.array(ids, np.int64), boxes, cal)
        rows.append(ids)
    out: dict[int, list[bool]] = {t: [] for t in paths}
    for k, ids in enumerate(rows):
        for t, away in zip(ids, judge.outsiders(k / fps, np.array(ids, np.int64)), strict=True):
            out[t].append(bool(away))
    return out


def test_beyond_lines():
    xy = np.array([[0.0, 0.0], [0.0, NEAR - 3.0], [pitch_model.HALF_LENGTH_M + 4.0, 0.0],
                   [pitch_model.HALF_LENGTH_M + 3.0, -pitch_model.HALF_WIDTH_M - 4.0]])  # fmt: skip
    np.testing.assert_allclose(beyond_lines_m(xy), [0.0, 3.0, 4.0, 5.0], atol=1e-9)


def test_a_steward_beside_the_touchline_is_an_outsider_and_officials_on_it_are_not():
    n = 40
    paths = {
        1: [NEAR - 5.5] * n,  # a steward 5.5 m past the near touchline
        2: [NEAR - 1.5 + 0.5 * np.sin(k / 5) for k in range(n)],  # an assistant referee running along it
        3: [NEAR - 0.7] * n,  # a throw-in taker
        4: [NEAR + 10.0] * n,  # a player
    }
    out = judge_run(paths)
    assert all(out[1]) and not any(out[2]) and not any(out[3]) and not any(out[4])


def test_one_far_frame_is_a_glitch_not_an_outsider():
    n = 30
    ys = [NEAR + 2.0] * n
    ys[10] = NEAR - 20.0  # the box bottom jumped (a merged box, a bad foot point)
    assert not any(judge_run({1: ys})[1])


def test_a_player_walking_off_becomes_an_outsider_only_once_most_of_the_window_is_off():
    n = 100
    ys = [NEAR + 3.0 - 0.25 * k for k in range(n)]  # 6.25 m/s toward and past the touchline (t = 0.04 k)
    out = judge_run({1: ys})[1]
    first = out.index(True)
    # the median over the centred 1 s window passes the 4 m margin when the frame itself does
    assert ys[first] < NEAR - 4.0 + 0.5 and all(out[first:]) and not any(out[:first])


def test_a_briefly_tracked_steward_is_judged_on_his_own_frames():
    """A fragment of a group beside the pitch, tracked 4 frames of the window: still an outsider."""
    ys: list[float | None] = [None] * 30
    ys[10:14] = [NEAR - 6.0] * 4
    assert judge_run({1: ys, 2: [NEAR + 5.0] * 30})[1] == [True] * 4


def test_no_evidence_without_a_calibration():
    n = 30
    assert not any(judge_run({1: [NEAR - 8.0] * n}, calibrated=[False] * n)[1])
    # seen calibrated on too few of the window's frames (min_seen 0.5): kept
    few = [k % 4 == 0 for k in range(n)]
    assert not any(judge_run({1: [NEAR - 8.0] * n}, calibrated=few)[1])


def test_too_little_evidence_keeps_the_last_verdict():
    """A steward judged on calibrated frames stays out through the refused frames that follow
    (before: he came back as a player there); a player stays in the same way."""
    n = 60
    calibrated = [k < 30 for k in range(n)]
    out = judge_run({1: [NEAR - 8.0] * n, 2: [NEAR + 5.0] * n}, calibrated=calibrated)
    assert all(out[1]) and not any(out[2])


def test_config_is_checked():
    with pytest.raises(ConfigError):
        OutsiderConfig(window_s=0.0)
    with pytest.raises(ConfigError):
        OutsiderConfig(min_seen=1.5)


def stage_packets(n: int = 30) -> list[Packet]:
    """Frames with a player on the pitch (id 1) and a steward 6 m past the near touchline (id 2)."""
    image = np.zeros((900, 1200, 3), np.uint8)  # the steward stands at row 800: above the bottom edge
    boxes = np.array([box_at(-10.0, 0.0), box_at(5.0, NEAR - 6.0)], np.float32)
    tracks = Tracks(np.array([1, 2]), boxes, np.ones(2, np.float32))
    return [Packet(Frame(k, k, k * 0.04, image), tracks=tracks, camera_motion=np.eye(2, 3)) for k in range(n)]


def manual_stage(outsiders: OutsiderConfig) -> CalibrateStage:
    """A stage calibrated by hand on frame 0 (no line fits) and carried through a still camera."""
    corners = [(-52.5, -34.0), (52.5, -34.0), (52.5, 34.0), (-52.5, 34.0)]
    uv = apply_homography(np.linalg.inv(IMAGE_TO_PITCH), np.array(corners))
    rows = tuple((float(u), float(v), x, y) for (u, v), (x, y) in zip(uv, corners, strict=True))
    cfg = CalibratorConfig(manual_frame=0, manual_points=rows, auto=False)
    return CalibrateStage(Calibrator(cfg), outsiders=outsiders)


def test_stage_takes_the_steward_out_of_the_tracks_and_counts_him():
    stage = manual_stage(OutsiderConfig())
    packets = stage_packets()
    out = stage.process(packets[:20])
    assert len(out) < 20  # a file run holds half a window for the frames' later evidence
    out += stage.process(packets[20:]) + stage.flush()
    assert [p.frame.index for p in out] == list(range(30))
    assert all(p.calibration is not None for p in out)
    assert all(p.tracks.track_id.tolist() == [1] for p in out)
    report = stage.report()["outsiders"]
    assert report == {"kept": False, "tracks": 1, "rows": 30}
    # calibrate.outsiders.keep: the tracks pass as they are
    keep = manual_stage(OutsiderConfig(keep=True))
    kept = keep.process(packets) + keep.flush()
    assert all(p.tracks.track_id.tolist() == [1, 2] for p in kept)
    assert keep.report()["outsiders"]["rows"] == 0


def test_live_stage_decides_from_the_past_and_holds_nothing():
    stage = manual_stage(OutsiderConfig())
    stage.hold = False
    out = stage.process(stage_packets())
    assert len(out) == 30
    assert out[0].tracks.track_id.tolist() == [1, 2]  # one frame of evidence is not enough
    assert all(p.tracks.track_id.tolist() == [1] for p in out[2:])


def test_uncalibrated_frames_keep_everyone():
    stage = manual_stage(OutsiderConfig())
    packets = [p.replace(frame=dataclasses.replace(p.frame, index=p.frame.index + 5)) for p in stage_packets(10)]
    out = stage.process(packets) + stage.flush()  # the manual frame (0) never comes: no calibration
    assert all(p.calibration is None for p in out)
    assert all(p.tracks.track_id.tolist() == [1, 2] for p in out)


def test_a_box_cut_by_the_bottom_edge_is_no_evidence():
    """A steward whose box runs off the bottom of the frame has no visible ground point: his
    box's bottom (the frame's edge) says nothing of where he stands, so it does not count."""
    stage = manual_stage(OutsiderConfig())
    packets = [p.replace(frame=dataclasses.replace(p.frame, image=p.frame.image[:800])) for p in stage_packets()]
    out = stage.process(packets) + stage.flush()
    assert all(p.tracks.track_id.tolist() == [1, 2] for p in out)
    assert stage.report()["outsiders"]["rows"] == 0

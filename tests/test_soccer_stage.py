"""The soccer stage on generated broadcast clips with ground truth, its report, and the real clip."""

from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest

from streamer.config import load_config
from streamer.io.report import SUMMARY_COLUMNS
from streamer.io.report_sink import ReportSink
from streamer.pose.layouts import get_layout
from streamer.records import BodyParams, Detections, Frame, Keypoints, Packet, PitchCalibration, Tracks
from streamer.soccer import kinematics
from streamer.soccer.angles import ANGLE_NAMES, JOINT
from streamer.soccer.teams import TeamConfig, torso_quads
from streamer.stages import StageContext, build_stage
from streamer.stages.soccer import (
    FLAG_GROUND_FROM_MESH,
    FLAG_NO_CALIBRATION,
    SoccerConfig,
    SoccerStage,
)

FPS = 10.0


@functools.cache
def generated_clip(seed: int) -> list:
    """3 s of a generated broadcast clip (two kits and a referee) with its truth."""
    from streamer import synth

    cfg = synth.SynthConfig(width=640, height=360, fps=FPS, seconds=3.0, seed=seed, overlay=False)
    return list(synth.generate(cfg))


@pytest.fixture(scope="module")
def synth_clip():
    return generated_clip(5)


def packets_from_truth(clip, *, calibrated: bool = True, bodies: bool = True) -> list[Packet]:
    """Packets as the earlier stages would fill them, from the generator's truth."""
    out = []
    for image, truth in clip:
        seen = (truth.visible_px >= 40) & np.isfinite(truth.xyxy_visible_px).all(axis=1)
        tracks = Tracks(
            truth.track_id[seen].astype(np.int64),
            truth.xyxy_visible_px[seen].astype(np.float32),
            np.ones(int(seen.sum()), np.float32),
        )
        cal = None
        if calibrated:
            cal = PitchCalibration(np.linalg.inv(truth.homography), 0.0, "manual", truth.cam_K)
        body = None
        if bodies:
            n = int(seen.sum())
            body = BodyParams(
                truth.track_id[seen].astype(np.int64),
                truth.betas[seen],
                truth.global_orient_cam[seen],
                truth.body_pose[seen],
                truth.transl_cam[seen],
                truth.cam_K.astype(np.float32),
                np.ones((n, 22), np.float32),
                joints_cam_m=truth.joints_cam_m[seen],
            )
        frame = Frame(truth.index, truth.index, truth.time_s, image)
        out.append(Packet(frame, Detections.empty(), tracks, None, cal, None, body))
    return out


def run_stage(stage: SoccerStage, packets: list[Packet], window: int = 4) -> list[Packet]:
    out: list[Packet] = []
    for k in range(0, len(packets), window):
        out += stage.process(packets[k : k + window])
    return out + stage.flush()


def team_accuracy(out: list[Packet], clip) -> float:
    """Share of (frame, player) rows whose team is right, under the best 0/1 naming."""
    rows = []
    for packet, (_, truth) in zip(out, clip, strict=True):
        truth_team = dict(zip(truth.track_id.tolist(), truth.team.tolist(), strict=True))
        m = packet.metrics
        rows += [(truth_team[int(t)], int(p)) for t, p in zip(m.track_id, m.team, strict=True)]
    truth_t, pred = np.array(rows).T
    swapped = np.where(pred == 0, 1, np.where(pred == 1, 0, pred))
    return max(float(np.mean(truth_t == pred)), float(np.mean(truth_t == swapped)))


@pytest.mark.parametrize("seed", [5, 11])
def test_teams_on_generated_clip_are_at_least_95_percent_right(seed):
    synth_clip = generated_clip(seed)
    stage = SoccerStage(dataclasses.replace(SoccerConfig(), report=False), TeamConfig())
    out = run_stage(stage, packets_from_truth(synth_clip))
    assert [p.frame.index for p in out] == [t.index for _, t in synth_clip]
    assert team_accuracy(out, synth_clip) >= 0.95
    # the referee is set aside, not put in a team
    referee = [
        int(t) for t, team in zip(synth_clip[0][1].track_id, synth_clip[0][1].team, strict=True) if team == 2
    ]
    assert all(stage.teams.team_of(r) == 2 for r in referee if r in stage.teams.tracks)


def test_torso_from_keypoints(synth_clip):
    """Shoulders and hips (here the truth's, as a COCO-17 record) give the torso region."""
    coco = get_layout("coco17")
    smplx = {"left_shoulder": 16, "right_shoulder": 17, "left_hip": 1, "right_hip": 2}
    packets = []
    for packet, (_, truth) in zip(packets_from_truth(synth_clip, bodies=False), synth_clip, strict=True):
        rows = {int(t): i for i, t in enumerate(truth.track_id)}
        idx = [rows[int(t)] for t in packet.tracks.track_id]
        xy = np.zeros((len(idx), coco.num_keypoints, 2), np.float32)
        conf = np.zeros((len(idx), coco.num_keypoints), np.float32)
        for name, j in smplx.items():
            xy[:, coco.index(name)] = truth.joints_px[idx, j]
            conf[:, coco.index(name)] = 0.9
        conf[::4] = 0.0  # every fourth player: not confident, the box is used
        packets.append(packet.replace(keypoints=Keypoints(packet.tracks.track_id, xy, conf, "coco17")))
    quads = torso_quads(
        packets[5].tracks.xyxy_px,
        packets[5].keypoints.xy_px,
        packets[5].keypoints.conf,
        coco.indices("left_shoulder", "right_shoulder", "right_hip", "left_hip"),
        0.3,
    )
    centre = quads.mean(axis=1)
    boxes = packets[5].tracks.xyxy_px
    assert ((centre[:, 0] > boxes[:, 0]) & (centre[:, 0] < boxes[:, 2])).all()
    stage = SoccerStage(dataclasses.replace(SoccerConfig(), report=False), TeamConfig())
    assert team_accuracy(run_stage(stage, packets), synth_clip) >= 0.95


def test_mesh_ground_points_and_speeds_follow_the_truth(synth_clip):
    stage = SoccerStage(dataclasses.replace(SoccerConfig(), report=False), TeamConfig())
    out = run_stage(stage, packets_from_truth(synth_clip))
    errors, speed_err, body_err = [], [], []
    truth_xy: dict[int, list] = {}
    for packet, (_, truth) in zip(out, synth_clip, strict=True):
        m = packet.metrics
        assert ((m.flags & FLAG_GROUND_FROM_MESH) > 0).all()
        pelvis = dict(zip(truth.track_id.tolist(), truth.joints_pitch_m[:, JOINT["pelvis"], :2], strict=True))
        for t, xy in zip(m.track_id, m.pitch_xy_m, strict=True):
            errors.append(np.linalg.norm(xy - pelvis[int(t)]))
        # the whole body on the pitch: pelvis over the ground point, every joint near the truth
        np.testing.assert_allclose(m.joints_pitch_m[:, JOINT["pelvis"], :2], m.pitch_xy_m, atol=1e-4)
        rows = {int(t): i for i, t in enumerate(truth.track_id)}
        true_joints = truth.joints_pitch_m[[rows[int(t)] for t in m.track_id]]
        body_err.append(np.linalg.norm(m.joints_pitch_m[:, :22] - true_joints, axis=2).ravel())
        for t, p in pelvis.items():
            truth_xy.setdefault(t, []).append((truth.time_s, *p))
    assert np.median(errors) < 0.15 and np.percentile(errors, 95) < 0.4
    assert np.median(np.concatenate(body_err)) < 0.2
    # the stage's speeds follow the true pelvis speed: finite differences of the true path,
    # averaged over 1 s (a stride's sway is not running speed)
    for t, rows in truth_xy.items():
        arr = np.array(rows)
        step = np.linalg.norm(np.gradient(arr[:, 1:], arr[:, 0], axis=0), axis=1)
        half = np.searchsorted(arr[:, 0], arr[:, 0] + 0.5) - np.arange(len(arr))
        true_speed = np.array([step[max(0, i - h):i + h].mean() if i - h >= 0 and i + h <= len(arr) else np.nan
                               for i, h in enumerate(half)])
        ours = {
            p.frame.time_s: float(p.metrics.speed_mps[k])
            for p in out
            for k in np.flatnonzero(p.metrics.track_id == t)
        }
        for time_s, s in zip(arr[:, 0], true_speed, strict=True):
            if time_s in ours and np.isfinite(ours[time_s]) and np.isfinite(s):
                speed_err.append(abs(ours[time_s] - s))
    assert len(speed_err) > 100 and np.median(speed_err) < 0.3


def report_from(packets: list[Packet], out_dir: Path, final: dict[int, int] | None = None) -> ReportSink:
    """The report sink fed with the stage's released packets, closed (or written under ``final``)."""
    cfg = SoccerConfig()
    sink = ReportSink(out_dir, cfg.kinematics(), cfg.report_min_s)
    if final is not None:
        sink.defer()
    for packet in packets:
        sink.write(packet)
    sink.close()
    if final is not None:
        sink.write_final(final)
    return sink


def test_report_files(synth_clip, tmp_path):
    stage = SoccerStage(SoccerConfig(), TeamConfig())
    out = run_stage(stage, packets_from_truth(synth_clip))
    assert not list(tmp_path.iterdir())  # the stage writes nothing
    sink = report_from(out, tmp_path)
    names = {p.name for p in sink.files}
    assert names == {
        "summary.csv",
        "angles.csv",
        "speed_profiles.png",
        "heatmap.png",
        "joint_angles.png",
    }
    assert not list(tmp_path.glob("*.partial"))
    with open(tmp_path / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert len({r["player_id"] for r in rows}) == len(rows) >= 10
    assert {r["team"] for r in rows} >= {"0", "1"}
    assert all(0 <= float(r["max_speed_mps"]) <= 12 for r in rows)
    with open(tmp_path / "angles.csv", newline="") as fh:
        angles = list(csv.DictReader(fh))
    assert angles and all(0 <= float(a["left_knee_flexion_deg"]) < 150 for a in angles)
    assert all(float(a["trunk_lean_deg"]) < 60 for a in angles)
    assert set(ANGLE_NAMES) <= set(angles[0])
    for png in ("speed_profiles.png", "heatmap.png", "joint_angles.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_under_final_ids_merges_tracklets(synth_clip, tmp_path):
    """A player cut into two tracklets (ids a, then 999): deferred, the sink writes nothing at
    close; under final ids {999: a} the report gives him back his whole time and distance."""
    out = run_stage(SoccerStage(SoccerConfig(), TeamConfig()), packets_from_truth(synth_clip))
    a = int(out[0].metrics.track_id[0])
    half = len(out) // 2

    def cut(packet: Packet, k: int) -> Packet:
        m = packet.metrics
        if k < half:
            return packet
        ids = np.where(m.track_id == a, 999, m.track_id)
        return packet.replace(metrics=dataclasses.replace(m, track_id=ids))

    split = [cut(p, k) for k, p in enumerate(out)]
    dirs = {name: tmp_path / name for name in ("whole", "split", "merged")}
    for d in dirs.values():
        d.mkdir()
    report_from(out, dirs["whole"])
    report_from(split, dirs["split"])
    sink = report_from(split, dirs["merged"], final={999: a})
    assert {p.name for p in sink.files} >= {"summary.csv", "angles.csv"}

    def rows(name: str) -> dict[str, dict[str, str]]:
        with open(dirs[name] / "summary.csv", newline="") as fh:
            return {r["player_id"]: r for r in csv.DictReader(fh)}

    whole, parts, merged = rows("whole"), rows("split"), rows("merged")
    assert "999" in parts and "999" not in merged and set(merged) == set(whole)
    assert float(parts[str(a)]["tracked_s"]) < 0.6 * float(whole[str(a)]["tracked_s"])
    for key in ("tracked_s", "distance_m", "max_speed_mps"):
        assert float(merged[str(a)][key]) == pytest.approx(float(whole[str(a)][key]), rel=0.05, abs=0.2)
    assert merged[str(a)]["team"] == whole[str(a)]["team"]
    with open(dirs["merged"] / "angles.csv", newline="") as fh:
        assert "999" not in {r["player_id"] for r in csv.DictReader(fh)}


def test_stage_history_stays_bounded(synth_clip):
    """The stage keeps only the samples speeds still need: memory flat in clip length."""
    stage = SoccerStage(dataclasses.replace(SoccerConfig(), team_warmup_s=0.0), TeamConfig())
    clip = packets_from_truth(synth_clip)
    loops = [  # the clip five times over, one after the other
        p.replace(frame=dataclasses.replace(p.frame, index=p.frame.index + k * len(clip),
                                            time_s=p.frame.time_s + k * len(clip) / FPS))
        for k in range(5) for p in clip
    ]
    out = run_stage(stage, loops)
    assert len(out) == len(loops)
    reach_frames = kinematics.reach_s(stage.kin) * FPS
    assert len(loops) > 4 * reach_frames
    assert max(len(h) for h in stage.history.values()) <= 2 * (reach_frames + 8) + 2


def test_without_calibration_teams_still_come_and_positions_stay_empty(synth_clip):
    stage = build_stage("soccer", load_config(), StageContext("cpu", FPS))
    out = run_stage(stage, packets_from_truth(synth_clip, calibrated=False, bodies=False), window=8)
    assert len(out) == len(synth_clip)
    m = out[-1].metrics
    assert ((m.flags & FLAG_NO_CALIBRATION) > 0).all()
    assert np.isnan(m.pitch_xy_m).all() and np.isnan(m.speed_mps).all()
    assert team_accuracy(out, synth_clip) >= 0.95


def test_packets_are_held_only_as_long_as_the_speed_needs():
    rng = np.random.default_rng(0)
    image = np.full((120, 200, 3), (60, 140, 60), np.uint8)
    cal = PitchCalibration(np.diag([0.1, 0.1, 1.0]), 0.0, "manual")
    stage = SoccerStage(dataclasses.replace(SoccerConfig(), team_warmup_s=0.0, report=False), TeamConfig())
    released = []
    lag = round(kinematics.reach_s(stage.kin) * 25)  # 1.8 s at the defaults
    for k in range(80):
        x = 50 + 2.0 * k + rng.normal(0, 0.1)
        tracks = Tracks(np.array([1]), np.array([[x - 3, 40, x + 3, 60]], np.float32), np.ones(1, np.float32))
        released += stage.process([Packet(Frame(k, k, k / 25.0, image), tracks=tracks, calibration=cal)])
        # a frame comes out once the stream is as far past it as its speed can look
        assert len(released) == max(0, k + 1 - lag)
    released += stage.flush()
    speeds = np.array([p.metrics.speed_mps[0] for p in released])
    # 2 px per frame at 0.1 m/px and 25 fps: 5 m/s
    assert np.nanmedian(speeds) == pytest.approx(5.0, rel=0.02)
    teams_seen = np.concatenate([p.metrics.team for p in released])
    assert teams_seen.dtype == np.int64 and set(teams_seen.tolist()) <= {-1, 0, 1, 2}  # -1 when unknown


def test_causal_mode_holds_nothing_and_measures_speed_from_the_past():
    """Live runs: every frame leaves the stage in the call it arrived with; the speed uses past
    samples only, so it is known once a window's worth of them exists."""
    rng = np.random.default_rng(1)
    image = np.full((120, 200, 3), (60, 140, 60), np.uint8)
    cal = PitchCalibration(np.diag([0.1, 0.1, 1.0]), 0.0, "manual")
    stage = SoccerStage(dataclasses.replace(SoccerConfig(), report=False, causal=True), TeamConfig())
    speeds = []
    for k in range(80):
        x = 50 + 2.0 * k + rng.normal(0, 0.1)
        tracks = Tracks(np.array([1]), np.array([[x - 3, 40, x + 3, 60]], np.float32), np.ones(1, np.float32))
        out = stage.process([Packet(Frame(k, k, k / 25.0, image), tracks=tracks, calibration=cal)])
        assert [p.frame.index for p in out] == [k]
        speeds.append(out[0].metrics.speed_mps[0])
    assert stage.flush() == []
    # 2 px per frame at 0.1 m/px and 25 fps: 5 m/s, once a second of past samples exists
    assert np.nanmedian(speeds[25:]) == pytest.approx(5.0, rel=0.03)
    assert np.isfinite(speeds[25:]).mean() > 0.9


def test_real_clip_calibrated_teams_and_plausible_speeds(shared_data, tmp_path):
    """The shipped Bundesliga config on the first 2.4 s: calibrated every frame, two teams, no
    outfield speed above 12 m/s."""
    from streamer.io.source import open_source

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "bundesliga_08fd33_4.yaml")
    context = StageContext("cpu", 25.0)
    stages = [build_stage(n, config, context) for n in config["pipeline"]["stages"]]
    source = open_source(
        str(shared_data / "clips" / "bundesliga_08fd33_4.mp4"), {**config["source"], "max_frames": 60}
    )
    out, window = [], []
    try:
        for frame in source:
            window.append(Packet(frame))
            if len(window) == 8:
                for stage in stages:
                    window = stage.process(window)
                out += window
                window = []
    finally:
        source.close()
    for k, stage in enumerate(stages):
        window = stage.process(window) + stage.flush()
        for later in stages[k + 1 :]:
            window = later.process(window)
    out += window
    assert len(out) == 60
    cal = [p.calibration for p in sorted(out, key=lambda p: p.frame.index)]
    assert all(c is not None for c in cal)
    assert cal[0].source in ("manual", "auto")
    refined = [c.reprojection_error_px for c in cal if c.source == "auto"]
    # the lines are fitted on every refit_every-th frame, carried through the camera motion between
    assert len(refined) > 0.8 * 60 / config["calibrate"]["refit_every"] and np.median(refined) < 1.5
    teams = np.concatenate([p.metrics.team for p in out])
    assert (teams == 0).sum() > 300 and (teams == 1).sum() > 300
    speeds = np.concatenate([p.metrics.speed_mps for p in out])
    assert np.nanmax(speeds) <= 12.0 and np.nanmedian(speeds) < 5.0


def test_player_history_grows_and_windows():
    from streamer.soccer.history import PlayerHistory

    hist = PlayerHistory(3, capacity=4)
    for k in range(600):
        angles = None if k % 2 else dict.fromkeys(ANGLE_NAMES, float(k))
        hist.append(k, k / 25.0, np.array([k * 0.1, -1.0]), angles)
    assert len(hist) == 600 and hist.frames()[-1] == 599
    t, xy = hist.window(2.0, 2.2)
    np.testing.assert_allclose(t, np.arange(50, 56) / 25.0)
    np.testing.assert_allclose(xy[:, 0], np.arange(50, 56) * 0.1)
    knee = hist.angle_array("left_knee_flexion_deg")
    assert knee[10] == 10.0 and np.isnan(knee[11])


def test_flag_names():
    from streamer.records import FLAG_IMPLAUSIBLE_SPEED, FLAG_NAMES, FLAG_OFF_PITCH, describe_flags

    assert describe_flags(0) == ""
    assert describe_flags(FLAG_IMPLAUSIBLE_SPEED | FLAG_OFF_PITCH) == "implausible_speed|off_pitch"
    assert len(set(FLAG_NAMES)) == len(FLAG_NAMES) and all(bin(b).count("1") == 1 for b in FLAG_NAMES)


def test_live_sources_hold_nothing_back():
    """A live source (camera, stream) gets the causal soccer stage and forward smoothing from
    its context alone, not only when streamer preview asks for them."""
    config = load_config()
    assert not config["soccer"]["causal"] and config["smooth"]["mode"] == "rts"
    live = StageContext("cpu", FPS, live=True)
    assert build_stage("soccer", config, live).cfg.causal
    assert build_stage("smooth", config, live).params.mode == "forward"
    assert not build_stage("soccer", config, StageContext("cpu", FPS)).cfg.causal


def _jersey_colours_by_masks(image, boxes, quads, cfg):
    """The straightforward form of ``jersey_colours``: ring and torso as masks over each patch."""
    import cv2

    from streamer.soccer.teams import _to_lab

    h, w = image.shape[:2]
    out = np.full((len(boxes), 3), np.nan, np.float32)
    for i, ((x1, y1, x2, y2), quad) in enumerate(zip(boxes, quads, strict=True)):
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        ox1, oy1 = int(max(0, x1 - 0.5 * bw)), int(max(0, y1 - 0.1 * bh))
        ox2, oy2 = int(min(w, np.ceil(x2 + 0.5 * bw))), int(min(h, np.ceil(y2 + 0.1 * bh)))
        if ox2 - ox1 < 2 or oy2 - oy1 < 2:
            continue
        patch = image[oy1:oy2, ox1:ox2]
        inner = np.zeros(patch.shape[:2], bool)
        inner[int(max(0, y1 - oy1)):int(np.ceil(y2 - oy1)), int(max(0, x1 - ox1)):int(np.ceil(x2 - ox1))] = True
        torso = np.zeros(patch.shape[:2], np.uint8)
        cv2.fillConvexPoly(torso, np.rint(quad - [ox1, oy1]).astype(np.int32), 1)
        ring, pixels = _to_lab(patch[~inner]), _to_lab(patch[torso > 0])
        if len(ring) >= 8 and len(pixels):
            pixels = pixels[np.linalg.norm(pixels - np.median(ring, axis=0), axis=1) >= cfg.grass_delta_e]
        if len(pixels) >= cfg.min_pixels:
            out[i] = np.median(pixels, axis=0)
    return out


def test_jersey_colours_equal_the_mask_form_also_at_the_frame_edges():
    from streamer.soccer.teams import jersey_colours

    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (120, 200, 3), np.uint8)
    image[:, :, 1] = np.maximum(image[:, :, 1], 150)  # greenish noise
    image[30:70, 40:60] = (200, 30, 30)  # a red shirt
    boxes = np.array([[38.2, 20.5, 61.7, 90.1],  # inside
                      [-5.0, 10.0, 12.3, 60.0],  # past the left edge
                      [185.5, 80.2, 204.0, 125.0],  # past the bottom right corner
                      [100.0, 50.0, 100.5, 50.5],  # a speck
                      [60.0, 40.0, 90.0, 101.0]], np.float64)  # even pixel counts
    cfg = TeamConfig()
    quads = torso_quads(boxes, None, None, None, cfg.keypoint_min_conf)
    quads[4] = [[62.5, 45.5], [80.5, 44.0], [79.0, 70.5], [63.5, 69.0]]  # keypoint-like, halves
    quads[1] = [[-8.0, 15.0], [8.0, 15.0], [8.0, 40.0], [-8.0, 40.0]]  # reaching past the frame
    got = jersey_colours(image, boxes, quads, cfg)
    want = _jersey_colours_by_masks(image, boxes, quads, cfg)
    assert np.isfinite(got[0]).all() and got[0, 1] > 40  # the red shirt: a > 40
    np.testing.assert_array_equal(got, want)


def test_a_box_cut_by_the_bottom_edge_gets_no_pitch_position(synth_clip):
    """A person whose box reaches the frame's bottom edge may stand below it: no ground point,
    so no pitch position (flag feet_cut), whatever the mesh says; the others keep theirs."""
    from streamer.records import FLAG_FEET_CUT

    packets = packets_from_truth(synth_clip)
    rows = packets[0].frame.image.shape[0]

    def cut(packet: Packet) -> Packet:
        boxes = packet.tracks.xyxy_px.copy()
        boxes[0, 3] = rows  # the first player now runs off the bottom of the frame
        boxes[1, 3] = min(boxes[1, 3], rows - 4.0)  # ...the second ends just above it
        return packet.replace(tracks=Tracks(packet.tracks.track_id, boxes, packet.tracks.score))

    stage = build_stage("soccer", load_config(), StageContext("cpu", FPS))
    out = run_stage(stage, [cut(p) for p in packets], window=8)
    for p in out:
        m = p.metrics
        assert m.flags[0] & FLAG_FEET_CUT and np.isnan(m.pitch_xy_m[0]).all() and np.isnan(m.speed_mps[0])
        assert not (m.flags[1:] & FLAG_FEET_CUT).any() and np.isfinite(m.pitch_xy_m[1:]).all()

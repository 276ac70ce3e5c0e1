"""Stills and short inputs (tentative frames back-filled, a photo's people confirmed) and camera
cuts in the pipeline (no id across a cut, stages restarted, shots in tracks.csv and run.json)."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import shot_scenes as sc
import stage_fakes

from streamer.config import load_config
from streamer.pipeline import Pipeline
from streamer.records import Detections, Frame, Packet
from streamer.stages import STAGE_FACTORIES, end_shot
from streamer.stages.track import TrackStage
from streamer.tracking.tracker import TrackerConfig

import media

BOX = np.array([[100, 40, 140, 160]], np.float32)


def packets(n: int, boxes: np.ndarray = BOX, scores: tuple[float, ...] = (0.9,), start: int = 0) -> list[Packet]:
    """``n`` frames (25 fps) of a grey picture, each with the same detections."""
    image = np.full((240, 320, 3), 90, np.uint8)
    found = Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32))
    return [Packet(Frame(i, i, i / 25, image), detections=found) for i in range(start, start + n)]


def ids_per_frame(out: list[Packet]) -> list[list[int]]:
    return [sorted(int(t) for t in p.tracks.track_id) for p in out]  # type: ignore[union-attr]


def run_stage(stage: TrackStage, pkts: list[Packet], window: int = 4) -> list[Packet]:
    out = []
    for i in range(0, len(pkts), window):
        out += stage.process(pkts[i : i + window])
    return out + stage.flush()


def test_file_runs_give_a_track_its_tentative_frames():
    cfg = TrackerConfig(min_hits=3, camera_motion=False)
    out = run_stage(TrackStage(cfg, hold=True), packets(6))
    assert [p.frame.index for p in out] == list(range(6))  # every packet, in order
    assert ids_per_frame(out) == [[1]] * 6  # the first two frames back-filled
    np.testing.assert_allclose(out[0].tracks.xyxy_px, BOX)  # the box it was matched to then
    # live: nothing held, the tentative frames keep no id
    out = run_stage(TrackStage(cfg, hold=False), packets(6))
    assert ids_per_frame(out) == [[], [], [1], [1], [1], [1]]


def test_stills_and_short_streams_confirm_their_tracks():
    cfg = TrackerConfig(min_hits=3, camera_motion=False)
    stage = TrackStage(cfg, hold=True)
    assert stage.process(packets(1)) == []  # held: it might be confirmed later
    out = stage.flush()
    assert ids_per_frame(out) == [[1]]
    assert ids_per_frame(run_stage(TrackStage(cfg), packets(2))) == [[1], [1]]
    # a detection too weak to start a track is no player, even in a photo
    assert ids_per_frame(run_stage(TrackStage(cfg), packets(1, scores=(0.55,)))) == [[]]
    # two frames, the second under new_track_score (but matched): not confirmed
    weak = packets(1) + packets(1, scores=(0.55,), start=1)
    assert ids_per_frame(run_stage(TrackStage(cfg), weak)) == [[], []]
    # a stream of min_hits frames or more confirms only what the tracker confirmed
    late = packets(3, boxes=np.zeros((0, 4)), scores=()) + packets(2, start=3)
    assert ids_per_frame(run_stage(TrackStage(cfg), late)) == [[], [], [], [], []]


def test_a_cut_ends_every_track_and_no_id_is_reused():
    cfg = TrackerConfig(min_hits=3, camera_motion=False)
    stage = TrackStage(cfg, hold=True)
    out = stage.process(packets(5))
    out += end_shot(stage)  # the same player, seen on both sides of the cut
    out += stage.process(packets(5, start=5)) + end_shot(stage)
    assert ids_per_frame(out) == [[1]] * 5 + [[2]] * 5
    stage.process(packets(1, start=10))
    assert ids_per_frame(end_shot(stage)) == [[3]]  # a one-frame shot is a still


@pytest.fixture
def fakes(monkeypatch):
    monkeypatch.setitem(STAGE_FACTORIES, "fixed_boxes", "stage_fakes:build_fixed_boxes")
    monkeypatch.setitem(STAGE_FACTORIES, "spy", "stage_fakes:build_spy")
    monkeypatch.setattr(stage_fakes, "BOXES", np.array([[250, 120, 290, 240]], np.float32))
    monkeypatch.setattr(stage_fakes, "SCORES", np.array([0.9], np.float32))
    return stage_fakes


def fake_config(*stages: str, **extra: str):
    sets = [f"pipeline.stages=[{','.join(stages)}]", "outputs.overlay.enabled=false", "progress=off",
            "pipeline.window=4"] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(overrides=sets)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_one_frame_image_gives_rows(fakes, tmp_path):
    image = media.make_image(tmp_path / "still.png", size=(480, 320))
    result = Pipeline(fake_config("fixed_boxes", "track", "calibrate", "soccer")).run(str(image), tmp_path / "out")
    assert result.status == "completed"
    rows = read_rows(tmp_path / "out" / "tracks.csv")
    assert [(r["frame"], r["player_id"], r["shot"]) for r in rows] == [("0", "1", "0")]
    report = json.loads((tmp_path / "out" / "run.json").read_text())
    assert report["shots"] == [{"shot": 0, "first_frame": 0, "time_s": 0.0}]


def write_video(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    with av.open(str(path), "w") as container:
        stream = media._add_video(container, "libx264", Fraction(fps), (frames[0].shape[1], frames[0].shape[0]),
                                  time_base=Fraction(1, fps))
        media._encode(container, stream, frames, list(range(len(frames))))
    return path


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory) -> Path:
    """25 frames of a wide shot, a cut to a close-up for 15 frames, a cut back to 20 wide."""
    stadium = sc.world(1)
    frames = (sc.pan(stadium, 25, 500, 500, 0.5, 10) + sc.pan(sc.closeup(2), 15, 560, 360, 1.0, 4)
              + sc.pan(stadium, 20, 1500, 560, 0.6, 10))
    return write_video(tmp_path_factory.mktemp("cuts") / "cuts.mp4", frames)


def test_cuts_split_ids_and_restart_stages(fakes, cut_clip, tmp_path):
    out = tmp_path / "out"
    result = Pipeline(fake_config("fixed_boxes", "track", "spy")).run(str(cut_clip), out)
    assert result.status == "completed"
    report = json.loads((out / "run.json").read_text())
    assert [s["first_frame"] for s in report["shots"]] == [0, 25, 40]
    assert report["shots"][1]["time_s"] == pytest.approx(1.0)
    rows = read_rows(out / "tracks.csv")
    # the person is in every frame: one row each, back-filled from each shot's first frame
    assert [int(r["frame"]) for r in rows] == list(range(60))
    shot_of = {int(r["frame"]): int(r["shot"]) for r in rows}
    assert [shot_of[i] for i in (0, 24, 25, 39, 40, 59)] == [0, 0, 1, 1, 2, 2]
    ids = {int(r["shot"]): {int(r["player_id"]) for r in rows if int(r["shot"]) == s} for r in rows
           for s in [int(r["shot"])]}
    assert ids == {0: {1}, 1: {2}, 2: {3}}  # a new id in each shot, never reused
    # windows never mix shots, each shot ends with end_shot (the held packet handed over), the run with flush
    log = stage_fakes.SPY_LOG
    assert all(len(set(shots)) == 1 for kind, shots in log if kind == "window")
    assert [entry for entry in log if entry[0] != "window"] == [("end_shot", 1), ("end_shot", 1), ("flush", 1)]
    windows = [shots[0] for kind, shots in log if kind == "window"]
    assert windows == sorted(windows)


def test_shots_can_be_turned_off(fakes, cut_clip, tmp_path):
    out = tmp_path / "out"
    Pipeline(fake_config("fixed_boxes", "track", **{"shots.enabled": "false"})).run(str(cut_clip), out)
    report = json.loads((out / "run.json").read_text())
    assert report["shots"] == [{"shot": 0, "first_frame": 0, "time_s": 0.0}]
    assert {r["shot"] for r in read_rows(out / "tracks.csv")} == {"0"}


MESSI_BOX = [[68, 60, 458, 337]]  # the player, head to boot and hand to hand (checked on the image)


def test_messi_photo_gives_keypoints_mesh_and_a_player_file(fakes, shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(stage_fakes, "BOXES", np.array(MESSI_BOX, np.float32))
    config = fake_config("fixed_boxes", "track", "calibrate", "keypoints", "mesh", "smooth", "soccer")
    out = tmp_path / "out"
    result = Pipeline(config).run(str(shared_data / "images" / "messi5.jpg"), out)
    assert result.status == "completed"
    tracks = read_rows(out / "tracks.csv")
    assert [(r["frame"], r["player_id"]) for r in tracks] == [("0", "1")]
    joints = read_rows(out / "joints.csv")
    assert joints and {r["player_id"] for r in joints} == {"1"}
    with np.load(out / "players" / "player_1.npz") as player:
        assert player["transl"].shape == (1, 3)
        keypoints = player["keypoints2d"]
    # the keypoints lie on the player: most confident ones inside his box
    confident = keypoints[0, keypoints[0, :, 2] > 0.5, :2]
    x1, y1, x2, y2 = MESSI_BOX[0]
    inside = (confident[:, 0] >= x1) & (confident[:, 0] <= x2) & (confident[:, 1] >= y1) & (confident[:, 1] <= y2)
    assert len(confident) >= 10 and inside.mean() > 0.9

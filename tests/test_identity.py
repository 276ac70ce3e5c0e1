"""Offline identity pass: tracklet linking, the output rewrite, and the pipeline hook."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from streamer.config import load_config
from streamer.io.relabel import relabel_outputs
from streamer.pipeline import Pipeline
from streamer.tracking.appearance import DIM
from streamer.tracking.identity import IdentityConfig, TrackletCollector, link_tracklets

FPS = 25.0
RED, BLUE = np.zeros(DIM, np.float32), np.zeros(DIM, np.float32)
RED[5], BLUE[70] = 1.0, 1.0


def feed(collector: TrackletCollector, people: dict[int, list[tuple[int, float, np.ndarray]]],
         n_frames: int, pan_px: float = 0.0) -> None:
    """people: track id -> [(frame, foot x in the scene, kit)]; the camera pans ``pan_px`` per frame."""
    for f in range(n_frames):
        ids, boxes, hists = [], [], []
        for tid, samples in people.items():
            for frame, x, kit in samples:
                if frame == f:
                    x_img = x - pan_px * f
                    ids.append(tid)
                    boxes.append([x_img - 6, 170, x_img + 6, 200])  # 30 px tall: 1 m = 16.7 px
                    hists.append(kit)
        motion = np.array([[1.0, 0, -pan_px], [0, 1.0, 0]])  # previous frame's pixels -> this frame's
        collector.observe(f, f / FPS, np.array(ids, np.int64), np.array(boxes, np.float64).reshape(-1, 4),
                          np.ones(len(ids)), camera_motion=motion, hists=np.array(hists).reshape(-1, DIM))


def walk(frames: range, x0: float, speed_px: float, kit: np.ndarray) -> list[tuple[int, float, np.ndarray]]:
    return [(f, x0 + speed_px * (f - frames.start), kit) for f in frames]


def test_a_player_lost_for_a_moment_keeps_one_id_and_overlapping_tracklets_never_merge():
    col = TrackletCollector()
    feed(col, {
        1: walk(range(0, 40), 100, 2.0, RED),
        2: walk(range(50, 100), 100 + 2.0 * 50, 2.0, RED),  # player 1 again after 0.4 s, where he ran to
        3: walk(range(0, 100), 400, -1.0, RED),  # a team-mate the whole time: overlaps both
    }, 100)
    final, links = link_tracklets(list(col.tracklets.values()))
    assert final[1] == final[2] != final[3]
    assert [(link.before, link.after) for link in links] == [(1, 2)]


def test_camera_pan_is_undone_before_motion_is_compared():
    """A player standing still while the camera pans 8 px a frame reappears 80 px away in the image."""
    col = TrackletCollector()
    feed(col, {1: walk(range(0, 30), 300, 0.0, RED), 2: walk(range(40, 70), 300, 0.0, RED)}, 70, pan_px=8.0)
    final, _ = link_tracklets(list(col.tracklets.values()))
    assert final[1] == final[2]
    assert col.tracklets[2].head[0][1] == pytest.approx(300, abs=1e-6)  # the scene x of frame 0


def test_no_link_across_kits_teams_or_impossible_runs():
    col = TrackletCollector()
    feed(col, {
        1: walk(range(0, 30), 100, 0.0, RED),
        2: walk(range(35, 60), 100, 0.0, BLUE),  # same place, other kit
        3: walk(range(0, 30), 600, 0.0, RED),
        4: walk(range(32, 60), 900, 0.0, RED),  # 300 px = 18 m in 0.08 s: nobody runs that fast
    }, 60)
    final, links = link_tracklets(list(col.tracklets.values()))
    assert links == [] and len(set(final.values())) == 4
    col2 = TrackletCollector()
    feed(col2, {1: walk(range(0, 30), 100, 0.0, RED), 2: walk(range(35, 60), 100, 0.0, RED)}, 60)
    col2.tracklets[1].team_votes, col2.tracklets[2].team_votes = {0: 30}, {1: 25}
    assert link_tracklets(list(col2.tracklets.values()))[1] == []


def test_an_ambiguous_reentry_is_left_unlinked():
    """Player 1 leaves; 3 s later two look-alikes appear near where he left: neither gets his id."""
    col = TrackletCollector()
    feed(col, {
        1: walk(range(0, 25), 300, 0.0, RED),
        2: walk(range(100, 150), 310, 0.0, RED),
        3: walk(range(100, 150), 290, 0.0, RED),
    }, 150)
    final, _ = link_tracklets(list(col.tracklets.values()))
    assert len(set(final.values())) == 3
    # alone, the same re-entry is linked
    col2 = TrackletCollector()
    feed(col2, {1: walk(range(0, 25), 300, 0.0, RED), 2: walk(range(100, 150), 310, 0.0, RED)}, 150)
    final2, links2 = link_tracklets(list(col2.tracklets.values()))
    assert final2[1] == final2[2] and links2[0].gap_s > IdentityConfig().reentry_gap_s


def test_two_reentries_each_with_a_close_rival_are_paired_jointly():
    """Two look-alikes leave side by side and come back 3 s later: each return is nearly as close
    to the other player, so one by one neither is unambiguous; only one pairing of both is cheap."""
    people = {
        1: walk(range(0, 25), 300, 0.0, RED),
        2: walk(range(0, 25), 330, 0.0, RED),
        3: walk(range(100, 150), 312, 0.0, RED),
        4: walk(range(100, 150), 345, 0.0, RED),
    }
    col = TrackletCollector()
    feed(col, people, 150)
    final, links = link_tracklets(list(col.tracklets.values()))
    assert final[1] == final[3] and final[2] == final[4] and final[1] != final[2]
    assert sorted((link.before, link.after) for link in links) == [(1, 3), (2, 4)]
    col2 = TrackletCollector()
    feed(col2, people, 150)
    final2, links2 = link_tracklets(list(col2.tracklets.values()), IdentityConfig(joint=False))
    assert links2 == [] and len(set(final2.values())) == 4  # one by one: ambiguous


def test_final_ids_follow_first_appearance_and_shots_are_never_crossed():
    col = TrackletCollector()
    for f in range(60):
        shot = 0 if f < 30 else 1
        tid = 7 if f < 25 else 9
        if 25 <= f < 33:
            continue
        col.observe(f, f / FPS, np.array([tid]), np.array([[100.0, 170, 112, 200]]), np.ones(1), shot=shot,
                    hists=RED[None])
    final, links = link_tracklets(list(col.tracklets.values()))
    assert links == [] and final == {7: 1, 9: 2}


def test_relabel_rewrites_csvs_and_merges_player_files(tmp_path):
    with open(tmp_path / "tracks.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["frame", "time_s", "player_id", "team", "x1"])
        w.writerows([[0, "0.0", 1, "", 1], [0, "0.0", 2, 1, 2], [5, "0.2", 3, 0, 3]])
    players = tmp_path / "players"
    players.mkdir()
    for tid, frames in ((1, [0, 1, 2]), (2, [0, 1]), (3, [5, 6])):
        np.savez(players / f"player_{tid}.npz", frame_index=np.array(frames, np.int64),
                 transl=np.full((len(frames), 3), tid, np.float32), betas=np.full(10, tid, np.float32),
                 fps=np.float32(25), player_id=np.int64(tid))
    col = TrackletCollector()
    col.observe(0, 0.0, np.array([1, 3]), np.zeros((2, 4)), np.ones(2), teams=np.array([0, 0]))
    done = relabel_outputs(tmp_path, {1: 1, 2: 2, 3: 1}, list(col.tracklets.values()))
    assert list(done) == ["tracks.csv", "players"]
    with open(tmp_path / "tracks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["player_id"], r["tracklet_id"], r["team"]) for r in rows] == [("1", "1", "0"), ("2", "2", "1"),
                                                                            ("1", "3", "0")]
    assert sorted(p.name for p in players.iterdir()) == ["player_1.npz", "player_2.npz"]
    with np.load(players / "player_1.npz") as data:
        assert data["frame_index"].tolist() == [0, 1, 2, 5, 6]  # the gap stays a gap
        assert data["tracklet_id"].tolist() == [1, 1, 1, 3, 3]
        assert data["segment_start"].tolist() == [True, False, False, True, False]
        assert int(data["player_id"]) == 1 and data["betas"][0] == pytest.approx(1.8)


def test_pipeline_runs_the_pass_on_files_only(clip, tmp_path):
    cfg = load_config(overrides=["pipeline.stages=[]", "outputs.overlay.enabled=false", "progress=off"])
    report = Pipeline(cfg).run(str(clip.path), tmp_path / "file").report
    assert report["status"] == "completed" and "tracks.csv" in report["identity"]["rewritten"]
    assert (tmp_path / "file" / "tracks.csv").read_text().splitlines()[0].endswith(",tracklet_id")
    off = load_config(overrides=["pipeline.stages=[]", "outputs.overlay.enabled=false", "progress=off",
                                 "identity.enabled=false"])
    report = Pipeline(off).run(str(clip.path), tmp_path / "off").report
    assert report["identity"] == {}
    assert "tracklet_id" not in (tmp_path / "off" / "tracks.csv").read_text().splitlines()[0]

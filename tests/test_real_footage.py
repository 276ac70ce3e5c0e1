"""The default pipeline on real players (a shared broadcast clip): every output has rows, and a
player file's parameters pose the body model onto its own joints."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from streamer.body import load_body_model
from streamer.cli import main
from streamer.records import NUM_BODY_JOINTS_WITH_ROOT


@pytest.fixture(scope="module")
def bundesliga_run(tmp_path_factory):
    from conftest import SHARED

    clip = SHARED / "data" / "clips" / "bundesliga_08fd33_4.mp4"
    if not clip.is_file():
        pytest.skip("../shared/data is absent")
    out = tmp_path_factory.mktemp("real") / "out"
    rc = main(["run", str(clip), "-o", str(out), "--max-frames", "40", "--set", "outputs.overlay.enabled=false"])
    assert rc == 0
    return out


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_default_run_on_real_players_fills_every_output(bundesliga_run):
    out = bundesliga_run
    report = json.loads((out / "run.json").read_text())
    assert report["status"] == "completed" and report["counts"]["frames_processed"] == 40
    tracks = rows(out / "tracks.csv")
    ids = {r["player_id"] for r in tracks}
    assert len(tracks) >= 40 * 10 and len(ids) >= 10  # ~22 players in view
    joints = rows(out / "joints.csv")
    assert len(joints) >= len(tracks) // 2 * NUM_BODY_JOINTS_WITH_ROOT
    assert {r["joint"] for r in joints} >= {"pelvis", "left_knee", "right_wrist"}
    players = sorted((out / "players").glob("player_*.npz"))
    assert len(players) >= 10
    summary = rows(out / "summary.csv")
    assert summary and all(r["player_id"] in ids for r in summary)


def test_a_player_file_poses_the_body_model_onto_its_joints(bundesliga_run):
    longest = max((bundesliga_run / "players").glob("player_*.npz"), key=lambda p: len(np.load(p)["transl"]))
    with np.load(longest) as d:
        model = load_body_model(str(d["body_model"]))
        t = len(d["transl"])
        assert t >= 20 and d["body_pose"].shape == (t, 63)
        with torch.no_grad():
            joints = model.joints(
                betas=torch.from_numpy(d["betas_per_frame"]),
                global_orient=torch.from_numpy(d["global_orient"]),
                body_pose=torch.from_numpy(d["body_pose"]).reshape(t, -1, 3),
                transl=torch.from_numpy(d["transl"]),
            )[:, :NUM_BODY_JOINTS_WITH_ROOT].numpy()
        err = np.abs(joints - d["joints3d"][:, :NUM_BODY_JOINTS_WITH_ROOT])
    assert err.max() < 1e-3, f"max joint error {1000 * err.max():.2f} mm"

"""BVH export: parse it back, run forward kinematics, match the body model's joints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamer.body import BODY_JOINT_NAMES, load_body_model
from streamer.body.synthetic_smplx import write_synthetic_smplx
from streamer.export import export_bvh
from streamer.io.bvh import CAMERA_TO_WORLD, read_bvh

from conftest import run_cli


def player_npz(path, body_model: str, t: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    go = np.tile([np.pi, 0.0, 0.0], (t, 1)) + rng.normal(0, 0.3, (t, 3))
    np.savez(
        path, betas=rng.normal(0, 1, 10).astype(np.float32),
        global_orient=go.astype(np.float32),
        body_pose=rng.normal(0, 0.4, (t, 63)).astype(np.float32),
        transl=(rng.normal(0, 1, (t, 3)) + [0, 0, 12]).astype(np.float32),
        time_s=np.arange(t) / 30.0, body_model=np.str_(body_model),
    )
    return path


def expected_joints(model, npz) -> np.ndarray:
    """(T, 22, 3) the body model's joints for a player file, turned into the BVH's Y-up frame."""
    with np.load(npz) as d, torch.no_grad():
        joints = model.joints(
            betas=torch.from_numpy(d["betas"])[None].expand(len(d["transl"]), -1),
            global_orient=torch.from_numpy(d["global_orient"]),
            body_pose=torch.from_numpy(d["body_pose"]).reshape(-1, 21, 3),
            transl=torch.from_numpy(d["transl"]),
        )[:, : len(BODY_JOINT_NAMES)].numpy().astype(np.float64)
    return joints @ CAMERA_TO_WORLD.T


@pytest.mark.parametrize("backend", ["mannequin", "smplx"])
def test_bvh_round_trip_matches_body_model_within_1mm(tmp_path, backend):
    smplx_path = write_synthetic_smplx(tmp_path / "SMPLX_NEUTRAL.npz") if backend == "smplx" else None
    npz = player_npz(tmp_path / "player_1.npz", backend)
    out = export_bvh(npz, tmp_path / "p1.bvh", smplx_path=smplx_path)
    motion = read_bvh(out)
    assert motion.frame_time_s == pytest.approx(1 / 30, abs=1e-6)
    assert set(motion.names) == set(BODY_JOINT_NAMES)
    model = load_body_model(backend, smplx_path=smplx_path)
    expected = expected_joints(model, npz)
    got = motion.joint_positions()
    order = [motion.names.index(n) for n in BODY_JOINT_NAMES]
    err = np.abs(got[:, order] - expected).max()
    assert err < 1e-3, f"max joint error {err * 1000:.3f} mm"
    # upright: the head is above the pelvis in the Y-up file
    head, pelvis = motion.names.index("head"), motion.names.index("pelvis")
    assert (got[:, head, 1] > got[:, pelvis, 1]).mean() > 0.5


def test_an_independent_bvh_parser_reads_the_body_model_joints(tmp_path):
    """bvhio (PyPI) parses the file and runs its own forward kinematics: same joints as the body model."""
    import bvhio

    npz = player_npz(tmp_path / "player_2.npz", "mannequin", t=6, seed=3)
    out = export_bvh(npz, tmp_path / "p2.bvh")
    model = load_body_model("mannequin")
    expected = expected_joints(model, npz)
    assert bvhio.readAsBvh(str(out)).FrameTime == pytest.approx(1 / 30, abs=1e-5)
    root = bvhio.readAsHierarchy(str(out))
    names = [joint.Name for joint, _, _ in root.layout()]
    assert sorted(names) == sorted(BODY_JOINT_NAMES)
    for f in range(len(expected)):
        root.loadPose(f)
        got = {joint.Name: np.array(joint.PositionWorld, np.float64) for joint, _, _ in root.layout()}
        err = max(np.abs(got[n] - expected[f, i]).max() for i, n in enumerate(BODY_JOINT_NAMES))
        assert err < 1e-3, f"frame {f}: max joint error {err * 1000:.3f} mm"


def test_export_refuses_a_body_pose_off_the_contract(tmp_path):
    npz = player_npz(tmp_path / "player_5.npz", "mannequin", t=4)
    with np.load(npz) as d:
        arrays = dict(d)
    arrays["body_pose"] = arrays["body_pose"].reshape(4, 21, 3)
    np.savez(npz, **arrays)
    proc = run_cli("export", "bvh", str(npz), "-o", str(tmp_path / "p5.bvh"))
    assert proc.returncode == 2 and "body_pose (T, 63)" in proc.stderr
    assert not (tmp_path / "p5.bvh").exists()


def test_export_cli(tmp_path):
    npz = player_npz(tmp_path / "player_4.npz", "mannequin", t=5)
    proc = run_cli("export", "bvh", str(npz), "-o", str(tmp_path / "p4.bvh"))
    assert proc.returncode == 0, proc.stderr
    assert read_bvh(tmp_path / "p4.bvh").rotations.shape == (5, 22, 3, 3)
    proc = run_cli("export", "bvh", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "x.bvh"))
    assert proc.returncode == 2 and "player file not found" in proc.stderr


def test_a_player_with_a_gap_keeps_real_time(tmp_path):
    """Two tracklets joined by the identity pass, 1 s apart: the BVH holds the last pose over
    the gap instead of playing the second tracklet straight after the first."""
    from streamer.export import on_time_grid

    times = np.concatenate([np.arange(10), np.arange(40, 50)]) / 30.0
    slots = on_time_grid(times, 1 / 30.0)
    assert len(slots) == 50
    assert (slots[:10] == np.arange(10)).all() and (slots[10:40] == 9).all()
    assert (slots[40:] == np.arange(10, 20)).all()
    npz = player_npz(tmp_path / "player_7.npz", "mannequin", t=20)
    with np.load(npz) as d:
        arrays = dict(d)
    arrays["time_s"] = times
    np.savez(npz, **arrays)
    export_bvh(npz, tmp_path / "p7.bvh")
    bvh = read_bvh(tmp_path / "p7.bvh")
    assert bvh.rotations.shape[0] == 50
    np.testing.assert_allclose(bvh.rotations[25], bvh.rotations[9], atol=1e-6)
    assert not np.allclose(bvh.rotations[40], bvh.rotations[9], atol=1e-3)

"""Per-player npz and joints.csv sinks on hand-made body parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from streamer.body import load_body_model
from streamer.body.synthetic_smplx import write_synthetic_smplx
from streamer.io.csv_sink import JOINTS_COLUMNS, JointsCsvSink
from streamer.io.players_sink import PlayersNpzSink
from streamer.records import BodyParams, Frame, Packet, Tracks

K = np.array([[1000.0, 0, 320], [0, 1000.0, 240], [0, 0, 1]], np.float32)


def body_for(track_ids, t: float, rng, joints=True) -> BodyParams:
    n = len(track_ids)
    pose = rng.normal(0, 0.2, (n, 21, 3)).astype(np.float32)
    transl = np.tile(np.array([[0.0, 0.2, 10.0]], np.float32), (n, 1)) + t
    joints_cam = (rng.normal(0, 0.3, (n, 22, 3)) + transl[:, None]).astype(np.float32) if joints else None
    return BodyParams(
        np.asarray(track_ids, np.int64), np.full((n, 10), 0.5, np.float32),
        np.tile(np.array([[np.pi, 0, 0]], np.float32), (n, 1)), pose, transl, K,
        np.full((n, 22), 0.9, np.float32), joints_cam, body_model="mannequin",
    )


def packets(rng, n_frames=12):
    image = np.zeros((480, 640, 3), np.uint8)
    out = []
    for f in range(n_frames):
        ids = [3, 7] if f < 8 else [3]
        body = body_for(ids, 0.01 * f, rng)
        raw = body_for(ids, 0.01 * f, rng)
        boxes = np.tile(np.array([[300, 150, 340, 330]], np.float32), (len(ids), 1))
        tracks = Tracks(np.asarray(ids, np.int64), boxes, np.ones(len(ids), np.float32))
        out.append(Packet(Frame(f, f * 512, f / 25, image), tracks=tracks, body=body, body_raw=raw))
    return out


def test_players_npz_per_track_with_chunk_spills(tmp_path):
    rng = np.random.default_rng(0)
    sink = PlayersNpzSink(tmp_path, fps=25.0, chunk_frames=5)
    frames = packets(rng)
    for p in frames:
        sink.write(p)
    assert (tmp_path / "players" / ".parts").is_dir()  # player 3 spilled to disk
    sink.close()
    assert sorted(x.name for x in (tmp_path / "players").iterdir()) == ["player_3.npz", "player_7.npz"]
    with np.load(tmp_path / "players" / "player_3.npz") as data:
        assert data["body_pose"].shape == (12, 63) and data["global_orient"].shape == (12, 3)
        assert data["betas"].shape == (10,) and data["transl"].shape == (12, 3)
        assert data["frame_index"].tolist() == list(range(12))
        np.testing.assert_allclose(data["time_s"], np.arange(12) / 25)
        assert data["joints3d"].shape == (12, 22, 3) and data["raw_joints3d"].shape == (12, 22, 3)
        assert data["raw_body_pose"].shape == (12, 63) and data["cam_K"].shape == (12, 3, 3)
        assert str(data["body_model"]) == "mannequin" and float(data["fps"]) == 25.0
        expected = np.concatenate([p.body.body_pose[0].reshape(1, -1) for p in frames])
        np.testing.assert_allclose(data["body_pose"], expected)
    with np.load(tmp_path / "players" / "player_7.npz") as data:
        assert data["body_pose"].shape == (8, 63)


@pytest.mark.parametrize("backend", ["mannequin", "smplx"])
def test_player_npz_loads_into_body_models(tmp_path, backend):
    rng = np.random.default_rng(1)
    sink = PlayersNpzSink(tmp_path, fps=25.0)
    for p in packets(rng, 4):
        sink.write(p)
    sink.close()
    path = None
    if backend == "smplx":
        path = write_synthetic_smplx(tmp_path / "SMPLX_NEUTRAL.npz")
    model = load_body_model(backend, smplx_path=path)
    with np.load(tmp_path / "players" / "player_3.npz") as data:
        out = model(
            betas=torch.from_numpy(data["betas"])[None].expand(len(data["transl"]), -1),
            global_orient=torch.from_numpy(data["global_orient"]),
            body_pose=torch.from_numpy(data["body_pose"]).reshape(-1, 21, 3),
            transl=torch.from_numpy(data["transl"]),
        )
    assert out.joints.shape[0] == 4 and out.vertices.shape[0] == 4
    assert torch.isfinite(out.joints).all()


def test_joints_csv_rows_flags_and_pandas(tmp_path):
    rng = np.random.default_rng(2)
    sink = JointsCsvSink(tmp_path / "joints.csv", low_conf=0.95)
    frames = packets(rng, 3)
    for p in frames:
        sink.write(p)
    sink.close()
    table = pd.read_csv(tmp_path / "joints.csv")
    assert tuple(table.columns) == JOINTS_COLUMNS
    assert len(table) == 3 * 2 * 22
    assert table["joint"].iloc[0] == "pelvis" and "left_knee" in set(table["joint"])
    row = table[(table.frame == 0) & (table.player_id == 3) & (table.joint == "pelvis")].iloc[0]
    x, y, z = frames[0].body.joints_cam_m[0, 0]
    assert row.x == pytest.approx(x, abs=1e-4) and row.z == pytest.approx(z, abs=1e-4)
    assert row.u == pytest.approx(1000 * x / z + 320, abs=0.01)
    assert row.v == pytest.approx(1000 * y / z + 240, abs=0.01)
    assert "low_confidence" in row["flags"]  # 0.9 < 0.95
    assert table["pitch_x"].isna().all()  # no calibration in this run
    assert table["flags"].str.contains("filter_outlier").any()  # raw and smoothed differ a lot here


def test_overlay_mesh_layer_draws_the_body_where_its_joints_project():
    from streamer.io.overlay_sink import MeshLayer

    image = np.zeros((480, 640, 3), np.uint8)
    body = BodyParams(
        np.array([1]), np.zeros((1, 10), np.float32), np.array([[np.pi, 0, 0]], np.float32),
        np.zeros((1, 21, 3), np.float32), np.array([[0.0, 0.0, 5.0]], np.float32), K,
        np.ones((1, 22), np.float32), body_model="mannequin",
    )
    layer = MeshLayer("convex", alpha=1.0)
    out = layer(image, Packet(Frame(0, 0, 0.0, image), body=body))
    drawn = np.argwhere(out.any(axis=2))
    assert len(drawn) > 500
    model = layer._body()
    with torch.no_grad():
        joints = model.joints(global_orient=torch.from_numpy(body.global_orient),
                              transl=torch.from_numpy(body.transl))[0, :22].numpy()
    uv = joints @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    (v0, u0), (v1, u1) = drawn.min(0), drawn.max(0)
    assert (uv[:, 0] >= u0 - 2).all() and (uv[:, 0] <= u1 + 2).all()
    assert (uv[:, 1] >= v0 - 2).all() and (uv[:, 1] <= v1 + 2).all()
    head, ankle = uv[15], uv[7]
    assert head[1] < ankle[1]  # upright in the image: y down, global_orient = pi about x


def test_overlay_meshes_in_windows_match_one_full_frame_render():
    """Overlapping and separate bodies: per-window rendering gives the full-frame render's pixels."""
    from streamer.io.overlay_sink import MeshLayer, render_in_windows
    from streamer.render.camera import PinholeCamera
    from streamer.render.mesh_renderer import MeshInstance, render_meshes

    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    transl = np.array([[0.0, 0.0, 6.0], [0.3, 0.1, 7.0], [-2.0, 0.0, 8.0], [2.5, 0.5, 30.0]], np.float32)
    model = MeshLayer("convex")._body()
    with torch.no_grad():
        vertices = model(global_orient=torch.tensor([[np.pi, 0, 0]] * 4, dtype=torch.float32),
                         transl=torch.from_numpy(transl)).vertices.numpy().astype(np.float64)
    meshes = [MeshInstance(v, np.asarray(model.faces), np.array([200, 80, 80], np.uint8), i + 1)
              for i, v in enumerate(vertices)]
    full = render_meshes(PinholeCamera(K.astype(np.float64), np.eye(3), np.zeros(3), 640, 480), meshes, image,
                         alpha=0.7).image
    windowed = render_in_windows(image, K.astype(np.float64), meshes, 0.7)
    assert (full != image).any(axis=2).sum() > 1000
    np.testing.assert_array_equal(windowed, full)


def test_overlay_mesh_layer_skips_players_below_the_height_limit():
    from streamer.io.overlay_sink import MeshLayer

    image = np.zeros((480, 640, 3), np.uint8)
    body = BodyParams(
        np.array([1, 2]), np.zeros((2, 10), np.float32), np.array([[np.pi, 0, 0]] * 2, np.float32),
        np.zeros((2, 21, 3), np.float32), np.array([[-1.0, 0.0, 5.0], [1.0, 0.0, 5.0]], np.float32), K,
        np.ones((2, 22), np.float32), body_model="mannequin",
    )
    tracks = Tracks(np.array([1, 2]), np.array([[0, 0, 50, 30], [300, 100, 400, 400]], np.float32),
                    np.ones(2, np.float32))
    packet = Packet(Frame(0, 0, 0.0, image), tracks=tracks, body=body)
    all_drawn = MeshLayer("convex", alpha=1.0)(image, packet).any(axis=2)
    tall_only = MeshLayer("convex", alpha=1.0, min_height_px=40)(image, packet).any(axis=2)
    cols = np.flatnonzero(all_drawn.any(axis=0))
    assert cols.min() < 320 < cols.max()  # both bodies drawn
    assert tall_only.sum() > 500 and not tall_only[:, :320].any()  # the 30 px tall player gets none


def test_overlay_mesh_layer_keeps_a_tracks_shape_until_it_drifts_past_the_tolerance():
    from streamer.io.overlay_sink import SHAPE_TOLERANCE, MeshLayer

    layer = MeshLayer("convex")
    ids = np.array([1, 2])
    first = np.zeros((2, 10), np.float32)
    np.testing.assert_array_equal(layer.shapes(ids, first), first)
    small = first.copy()
    small[:, 3] = 0.5 * SHAPE_TOLERANCE  # a small drift: both keep the shape they were drawn with
    np.testing.assert_array_equal(layer.shapes(ids, small), first)
    moved = small.copy()
    moved[1, 0] = 2.0 * SHAPE_TOLERANCE  # track 2 drifts past the tolerance: drawn with its new shape
    out = layer.shapes(ids, moved)
    np.testing.assert_array_equal(out[0], first[0])
    np.testing.assert_array_equal(out[1], moved[1])
    np.testing.assert_array_equal(layer.shapes(np.array([3]), moved[1:]), moved[1:])  # a new track: its own

"""The ``mesh`` stage: config, cameras, packets in and out, and a real photo end to end."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from streamer.config import defaults
from streamer.errors import ConfigError
from streamer.fitting.camera import default_focal_px
from streamer.records import Frame, Keypoints, Packet, PitchCalibration, Tracks
from streamer.stages import StageContext, build_stage
from testkit import mesh_fit as syn

CONTEXT = StageContext(device="cpu", fps=25.0)
WIDTH, HEIGHT = 1920, 1080


def mesh_config(**changes) -> dict:
    config = copy.deepcopy(defaults())
    config["mesh"]["body_model"] = "mannequin"
    config["mesh"]["fit"]["iterations"] = 15
    for key, value in changes.items():
        section = config["mesh"]
        *path, last = key.split(".")
        for part in path:
            section = section[part]
        section[last] = value
    return config


@pytest.fixture(scope="module")
def stage():
    return build_stage("mesh", mesh_config(), CONTEXT)


@pytest.fixture(scope="module")
def players():
    from streamer.body import load_body_model

    focal = default_focal_px(WIDTH)
    truth = syn.random_bodies(np.random.default_rng(0), 3, (80.0, 160.0), focal_px=focal)
    return truth, syn.observe(load_body_model("mannequin"), truth)


def packet(index: int, keypoints: Keypoints | None, calibration: PitchCalibration | None = None) -> Packet:
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    return Packet(Frame(index, index, index * 0.04, image), keypoints=keypoints, calibration=calibration)


def keypoints(obs: syn.Observation, rows: list[int]) -> Keypoints:
    ids = np.array(rows, np.int64) + 7
    return Keypoints(ids, obs.xy_px[rows], obs.conf[rows], "blazepose33", obs.world_m[rows])


def test_window_of_packets_gets_bodies(stage, players):
    truth, obs = players
    window = [packet(0, keypoints(obs, [0, 1, 2])), packet(1, keypoints(obs, [2, 0])),
              packet(2, keypoints(obs, [])), packet(3, keypoints(obs, [1]))]
    out = stage.process(window)
    assert [p.frame.index for p in out] == [0, 1, 2, 3]
    assert [list(p.body.track_id) for p in out] == [[7, 8, 9], [9, 7], [], [8]]
    first = out[0].body
    assert first.joint_conf.shape == (3, 22) and first.joints_cam_m.shape == (3, 22, 3)
    assert np.allclose(first.cam_K, truth.K, atol=1e-3)  # the default field of view
    assert len(out[2].body) == 0 and out[2].body.cam_K.shape == (3, 3)
    assert {p.body.body_model for p in out} == {"mannequin"}
    assert syn.mpjpe_mm(first.joints_cam_m, obs.joints_cam_m).mean() < 60.0
    assert out[0].keypoints is window[0].keypoints  # other fields pass through


def test_camera_from_calibration_then_config(players):
    _, obs = players
    calibrated = np.array([[2500.0, 0, 950], [0, 2500.0, 530], [0, 0, 1]])
    calibration = PitchCalibration(np.eye(3), 1.0, "auto", calibrated)
    uncalibrated = PitchCalibration(np.eye(3), 1.0, "auto", None)
    stage = build_stage("mesh", mesh_config(focal_px=4000.0), CONTEXT)
    out = stage.process([packet(0, keypoints(obs, [0]), calibration),
                         packet(1, keypoints(obs, [0]), uncalibrated)])
    assert np.allclose(out[0].body.cam_K, calibrated)
    assert np.allclose(out[1].body.cam_K, [[4000.0, 0, WIDTH / 2], [0, 4000.0, HEIGHT / 2], [0, 0, 1]])


def test_runs_before_the_smoother(stage, players):
    _, obs = players
    smooth = build_stage("smooth", defaults(), CONTEXT)
    bodies = stage.process([packet(i, keypoints(obs, [0, 1])) for i in range(4)])
    done = smooth.process(bodies) + smooth.flush()
    assert len(done) == 4 and all(p.body_raw is not None and len(p.body) == 2 for p in done)


@pytest.mark.parametrize(("changes", "match"), [
    ({"backend": "nerf"}, "mesh.backend"),
    ({"body_model": "skinny"}, "mesh.body_model"),
    ({"fit.iterations": -1}, "mesh.fit.iterations"),
    ({"default_hfov_deg": 0.0}, "mesh.default_hfov_deg"),
])
def test_bad_config_is_reported(changes, match):
    with pytest.raises(ConfigError, match=match):
        build_stage("mesh", mesh_config(**changes), CONTEXT)


def test_needs_the_keypoints_stage(stage):
    with pytest.raises(ConfigError, match="keypoints"):
        stage.process([packet(0, None)])


def test_real_photo_mesh_covers_the_keypoints(shared_data):
    """BlazePose on the player of messi5.jpg, then the fit: the mesh silhouette covers the keypoints."""
    import cv2

    from streamer.render import MeshInstance, PinholeCamera, render_meshes
    from streamer.stages.keypoints import KeypointsStage, build_backend

    path = shared_data / "images" / "messi5.jpg"
    if not path.is_file():
        pytest.skip("messi5.jpg is absent")
    image = np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])
    section = copy.deepcopy(defaults()["keypoints"])
    section["threads"] = 1
    keypoint_stage = KeypointsStage(build_backend(section, "cpu"))
    box = np.array([[60.0, 55.0, 465.0, 340.0]], np.float32)  # the whole player, outstretched limbs too
    tracks = Tracks(np.array([1]), box, np.ones(1, np.float32))
    with_keypoints = keypoint_stage.process([Packet(Frame(0, 0, 0.0, image), tracks=tracks)])
    mesh_stage = build_stage("mesh", mesh_config(**{"fit.iterations": 40}), CONTEXT)
    body = mesh_stage.process(with_keypoints)[0].body
    assert list(body.track_id) == [1]
    height, width = image.shape[:2]
    model = mesh_stage.backend.fitter.body
    vertices = model(body.betas, body.global_orient, body.body_pose, body.transl).vertices[0].numpy()
    camera = PinholeCamera(body.cam_K.astype(np.float64), np.eye(3), np.zeros(3), width, height)
    mesh = MeshInstance(vertices.astype(np.float64), model.faces, np.array([200, 200, 200], np.uint8), 1)
    mask = render_meshes(camera, [mesh]).instance_id > 0
    outside_px = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    kp = with_keypoints[0].keypoints
    confident = kp.conf[0] >= 0.5
    xy = np.clip(np.round(kp.xy_px[0][confident]).astype(int), 0, [width - 1, height - 1])
    miss = outside_px[xy[:, 1], xy[:, 0]]
    assert confident.sum() >= 25
    assert np.mean(miss == 0) >= 0.8 and miss.max() <= 6.0, miss  # ~2% of the 280 px player
    # the mesh stays on the player: its silhouette is mostly inside the player's box
    ys, xs = np.nonzero(mask)
    inside = (xs >= box[0, 0] - 10) & (xs <= box[0, 2] + 10) & (ys >= box[0, 1] - 10) & (ys <= box[0, 3] + 10)
    assert inside.mean() > 0.97
    assert 0.6 < body.joint_conf.mean() <= 1.0

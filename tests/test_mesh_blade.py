"""Mesh backend ``blade``: crops, acceptance, SMPL-X placement by the camera solve, errors.

A stub predictor answers with the exact SMPL-X parameters, depths and COCO keypoints of known
bodies seen by a known camera, so the backend must give back that camera and those bodies.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from streamer.body import load_body_model
from streamer.body.synthetic_smplx import write_synthetic_smplx
from streamer.config import defaults
from streamer.errors import ConfigError, InputError, MissingDependencyError
from streamer.fitting.camera import ray_rotation
from streamer.fitting.init import axis_angle_to_matrix_np, matrix_to_axis_angle
from streamer.fitting.targets import make_target_spec
from streamer.models.blade import BladeOutput
from streamer.models.blade.preprocess import POSENET_SIDE_PX
from streamer.records import Frame, Keypoints, Packet, PitchCalibration, Tracks
from streamer.render.camera import intrinsics
from streamer.stages import StageContext, build_stage
from streamer.stages.mesh import MeshStage
from streamer.stages.mesh_blade import (
    FILL_RGB,
    BladeBackend,
    BladeSettings,
    contains_centre,
    crop_to_image_px,
    cut_square,
    square_boxes,
)

from conftest import run_cli

WIDTH, HEIGHT = 1920, 1080
BODY_JOINTS = 22


@pytest.fixture(scope="module")
def smplx_path(tmp_path_factory):
    return write_synthetic_smplx(tmp_path_factory.mktemp("smplx") / "SMPLX_NEUTRAL.npz")


@pytest.fixture(scope="module")
def body(smplx_path):
    return load_body_model("smplx", smplx_path=smplx_path)


# ---- crops --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("xyxy", "margin", "square"), [
    ((10, 20, 30, 80), 1.25, (-18.0, 12.0, 57.0, 87.0)),
    ((0, 0, 40, 10), 1.0, (0.0, -15.0, 40.0, 25.0)),
])  # fmt: skip
def test_square_boxes_keep_the_centre_and_scale_the_longer_side(xyxy, margin, square):
    np.testing.assert_array_equal(square_boxes(np.array([xyxy], np.float32), margin)[0], square)


def test_cut_square_pads_outside_the_frame_and_maps_back():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    crop, scale = cut_square(image, np.array([-2.0, 1.0, 4.0, 7.0]))
    assert crop.shape == (6, 6, 3) and scale == 1.0
    np.testing.assert_array_equal(crop[0, :2], [FILL_RGB, FILL_RGB])
    np.testing.assert_array_equal(crop[:5, 2:], image[1:6, 0:4])
    np.testing.assert_array_equal(crop[5], [FILL_RGB] * 6)  # below the frame
    big, scale = cut_square(np.zeros((1200, 1200, 3), np.uint8), np.array([0.0, 0.0, 1036.0, 1036.0]))
    assert big.shape == (518, 518, 3) and scale == 0.5
    np.testing.assert_allclose(crop_to_image_px(np.array([[259.0, 100.0]]), np.array([0, 0, 1036, 1036]), 0.5),
                               [[518.0, 200.0]])


def test_contains_centre():
    boxes = np.array([[50, 50, 20, 20], [80, 50, 20, 20], [50, 59, 10, 20]], np.float64)
    assert contains_centre(boxes, np.full(3, 100.0)).tolist() == [True, False, True]


# ---- a stub BLADE that sees known bodies --------------------------------------------------------
def to_posenet_norm(xy_crop: np.ndarray, side: int) -> np.ndarray:
    """Inverse of posenet_xy_to_crop_px for an S x S crop."""
    scale = POSENET_SIDE_PX / side
    new = int(side * scale)
    offset = (POSENET_SIDE_PX - new) // 2
    return (xy_crop * new / side + offset) / POSENET_SIDE_PX


class Scene:
    """Players with known SMPL-X parameters in front of a camera of focal ``focal_px``."""

    def __init__(self, body, focal_px: float, depths_m: list[float], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        n = len(depths_m)
        self.K = intrinsics(focal_px, WIDTH, HEIGHT)
        facing = axis_angle_to_matrix_np(np.array([np.pi, 0.0, 0.0]))  # SMPL-X y up -> camera y down
        yaw = axis_angle_to_matrix_np(np.stack([np.zeros(n), rng.uniform(-1, 1, n), np.zeros(n)], 1))
        self.global_orient = matrix_to_axis_angle(facing @ yaw).astype(np.float32)
        self.body_pose = rng.normal(0.0, 0.15, (n, 21, 3)).astype(np.float32)
        self.betas = rng.normal(0.0, 0.5, (n, 10)).astype(np.float32)
        depth = np.array(depths_m)
        self.transl = np.stack([np.linspace(-0.25, 0.25, n) * depth * WIDTH / focal_px,
                                rng.uniform(-0.05, 0.05, n) * depth, depth], 1).astype(np.float32)
        self.joints = body.joints(self.betas, self.global_orient, self.body_pose, self.transl).numpy()
        cam = self.joints.astype(np.float64)
        self.xy_px = focal_px * cam[..., :2] / cam[..., 2:] + self.K[:2, 2]
        lo, hi = self.xy_px[:, :BODY_JOINTS].min(1), self.xy_px[:, :BODY_JOINTS].max(1)
        pad = 0.1 * (hi - lo)
        self.box_xyxy = np.concatenate([lo - pad, hi + pad], 1).astype(np.float32)
        self.spec = make_target_spec("coco17", tuple(body.joint_names), tuple(body.joint_names[:BODY_JOINTS]))
        names = list(body.joint_names)
        self.coco_xy = np.zeros((n, 17, 2))
        self.coco_xy[:, self.spec.keypoint_rows] = self.xy_px[:, [names.index(p) for p in self.spec.point_names]]
        self.pelvis_depth = cam[:, 0, 2]

    def tracks(self, ids: list[int] | None = None) -> Tracks:
        n = len(self.transl)
        ids = ids or list(range(1, n + 1))
        return Tracks(np.array(ids, np.int64), self.box_xyxy, np.ones(n, np.float32))

    def keypoints(self) -> Keypoints:
        n = len(self.transl)
        return Keypoints(np.arange(1, n + 1), self.coco_xy.astype(np.float32), np.ones((n, 17), np.float32), "coco17")


class StubPredictor:
    """Answers for the crops of one scene, in track order, as BLADE would for exact perception."""

    device = torch.device("cpu")

    def __init__(self, scene: Scene, margin: float = 1.25, score: float = 0.9, box_shift: float = 0.0,
                 depth_cap_m: float = 10.0) -> None:
        self.scene, self.margin, self.score, self.box_shift, self.cap = scene, margin, score, box_shift, depth_cap_m
        self.calls = 0

    def predict(self, images: list[np.ndarray]) -> BladeOutput:
        s = self.scene
        self.calls += 1
        assert len(images) == len(s.transl)
        boxes = square_boxes(s.box_xyxy, self.margin)
        side = boxes[:, 2] - boxes[:, 0]
        assert [im.shape[0] for im in images] == np.minimum(side, 518).astype(int).tolist()
        centre = 0.5 * (boxes[:, :2] + boxes[:, 2:])
        seen = ray_rotation(centre, s.K).transpose(0, 2, 1) @ axis_angle_to_matrix_np(s.global_orient)
        crop_scale = np.minimum(1.0, 518 / side)[:, None, None]
        kp = to_posenet_norm((s.coco_xy - boxes[:, None, :2]) * crop_scale, images[0].shape[0])
        kp = np.stack([to_posenet_norm((s.coco_xy[i] - boxes[i, :2]) * crop_scale[i], im.shape[0])
                       for i, im in enumerate(images)])
        box = np.concatenate([kp.mean(1) + self.box_shift, kp.max(1) - kp.min(1)], 1)
        n = len(images)

        def t(a) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a), dtype=torch.float32)

        return BladeOutput(
            global_orient=t(matrix_to_axis_angle(seen)), body_pose=t(s.body_pose),
            left_hand_pose=torch.zeros(n, 15, 3), right_hand_pose=torch.zeros(n, 15, 3), jaw_pose=torch.zeros(n, 3),
            betas=t(s.betas), expression=torch.zeros(n, 10),
            pelvis_depth_m=t(np.minimum(s.pelvis_depth, self.cap)), score=torch.full((n,), self.score),
            label=torch.zeros(n, dtype=torch.long), group_index=torch.zeros(n, dtype=torch.long),
            box_cxcywh=t(box), keypoints_xy=t(kp),
        )


def run(scene: Scene, predictor: StubPredictor, body, calibrated: bool = False, keypoints: bool = False,
        **settings) -> list[Packet]:
    stage = MeshStage(BladeBackend(predictor, body, BladeSettings(**settings)))
    calibration = PitchCalibration(np.eye(3), 0.5, "manual", scene.K) if calibrated else None
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    packet = Packet(Frame(0, 0, 0.0, image), tracks=scene.tracks(), calibration=calibration,
                    keypoints=scene.keypoints() if keypoints else None)
    return stage.process([packet])


def assert_recovered(body_params, scene: Scene, focal_px: float) -> None:
    assert body_params.body_model == "smplx"
    np.testing.assert_array_equal(body_params.track_id, np.arange(1, len(scene.transl) + 1))
    np.testing.assert_allclose(body_params.cam_K[0, 0], focal_px, rtol=1e-4)
    np.testing.assert_allclose(body_params.cam_K[:2, 2], [WIDTH / 2, HEIGHT / 2])
    np.testing.assert_allclose(body_params.transl, scene.transl, rtol=1e-4, atol=2e-3)
    np.testing.assert_allclose(axis_angle_to_matrix_np(body_params.global_orient.astype(np.float64)),
                               axis_angle_to_matrix_np(scene.global_orient.astype(np.float64)), atol=1e-4)
    np.testing.assert_allclose(body_params.joints_cam_m, scene.joints, atol=2e-3)
    np.testing.assert_array_equal(body_params.body_pose, scene.body_pose)
    assert body_params.joint_conf.shape == (len(scene.transl), BODY_JOINTS)


@pytest.mark.parametrize("keypoints", [False, True], ids=["blade-keypoints", "stage-keypoints"])
def test_free_focal_and_placement_are_recovered_from_depth_and_keypoints(body, keypoints):
    scene = Scene(body, focal_px=1600.0, depths_m=[4.0, 6.0, 8.5])
    (packet,) = run(scene, StubPredictor(scene), body, keypoints=keypoints)
    assert_recovered(packet.body, scene, 1600.0)
    np.testing.assert_allclose(packet.body.joint_conf, 0.9, atol=1e-6)


def test_calibrated_far_players_ignore_blades_capped_depth(body):
    scene = Scene(body, focal_px=4500.0, depths_m=[25.0, 40.0, 70.0], seed=1)
    (packet,) = run(scene, StubPredictor(scene), body, calibrated=True)
    assert_recovered(packet.body, scene, 4500.0)


def test_far_players_without_calibration_keep_the_configured_camera(body):
    scene = Scene(body, focal_px=4000.0, depths_m=[30.0, 50.0], seed=2)
    (packet,) = run(scene, StubPredictor(scene), body)  # all depths capped at 10 m: focal unobservable
    default = packet.body.cam_K[0, 0]
    np.testing.assert_allclose(default, WIDTH / (2 * np.tan(np.radians(15.0))), rtol=1e-5)
    # the keypoints still fix the depth for that focal: same pixels, depth scaled by the focal ratio
    np.testing.assert_allclose(packet.body.transl[:, 2], scene.transl[:, 2] * default / 4000.0, rtol=0.02)


@pytest.mark.parametrize(("predictor", "settings"), [
    ({"score": 0.1}, {"min_score": 0.2}),
    ({"box_shift": 0.4}, {}),
])  # fmt: skip
def test_unsure_or_off_centre_people_give_no_body(body, predictor, settings):
    scene = Scene(body, focal_px=1600.0, depths_m=[5.0, 7.0])
    (packet,) = run(scene, StubPredictor(scene, **predictor), body, **settings)
    assert len(packet.body) == 0 and packet.body.body_model == "smplx"


def test_small_players_are_not_cropped(body):
    scene = Scene(body, focal_px=1600.0, depths_m=[5.0])
    stub = StubPredictor(scene)
    (packet,) = run(scene, stub, body, min_box_height_px=2000.0)
    assert stub.calls == 0 and len(packet.body) == 0


def test_needs_tracks(body):
    stage = MeshStage(BladeBackend(StubPredictor(None), body, BladeSettings()))
    with pytest.raises(ConfigError, match="track"):
        stage.process([Packet(Frame(0, 0, 0.0, np.zeros((8, 8, 3), np.uint8)))])


# ---- configuration errors ------------------------------------------------------------------------
def blade_config(smplx_path, checkpoint, **changes) -> dict:
    config = copy.deepcopy(defaults())
    config["mesh"].update(backend="blade", smplx_path=str(smplx_path))
    config["mesh"]["blade"]["checkpoint"] = str(checkpoint)
    for key, value in changes.items():
        config["mesh"]["blade"][key] = value
    return config


def build(config: dict):
    return build_stage("mesh", config, StageContext(device="cpu", fps=25.0))


def write_text(path):
    path.write_text("not a checkpoint\n")
    return path


def write_wrong_keys(path):
    torch.save({"state_dict": {"backbone.weight": torch.zeros(3, 3)}}, path)
    return path


def write_bad_safetensors(path):
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    return path


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda p: p / "none.pth", InputError, "BLADE checkpoint not found"),
    (lambda p: write_text(p / "epoch_2.pth"), InputError, "cannot read"),
    (lambda p: write_wrong_keys(p / "epoch_2.pth"), InputError, "does not fit Blade.*missing"),
    (lambda p: write_bad_safetensors(p / "blade.safetensors"), InputError, "cannot read BLADE checkpoint"),
])  # fmt: skip
def test_bad_checkpoints_are_one_line_input_errors(tmp_path, smplx_path, make, error, match):
    with pytest.raises(error, match=match) as info:
        build(blade_config(smplx_path, make(tmp_path)))
    assert "\n" not in str(info.value)


def test_missing_smplx_model_is_reported_before_loading_weights(tmp_path):
    with pytest.raises(MissingDependencyError, match="SMPL-X model not found"):
        build(blade_config(tmp_path / "nowhere.npz", tmp_path / "none.pth"))


@pytest.mark.parametrize(("mesh", "blade", "match"), [
    ({"body_model": "mannequin"}, {}, "needs mesh.body_model smplx"),
    ({}, {"dtype": "int8"}, "mesh.blade.dtype"),
    ({}, {"crop_margin": 0.5}, "mesh.blade.crop_margin"),
    ({}, {"batch_size": -1}, "mesh.blade.batch_size"),
])  # fmt: skip
def test_bad_blade_config_is_reported(tmp_path, smplx_path, mesh, blade, match):
    config = blade_config(smplx_path, tmp_path / "none.pth", **blade)
    config["mesh"].update(mesh)
    with pytest.raises(ConfigError, match=match):
        build(config)


def test_cli_reports_a_missing_checkpoint_in_one_line(clip, tmp_path, smplx_path):
    proc = run_cli("run", str(clip.path), "-o", str(tmp_path / "out"), "--max-frames", "1",
                   "--set", "pipeline.stages=[detect, track, mesh]", "--set", "mesh.backend=blade",
                   "--set", f"mesh.smplx_path={smplx_path}", "--set", f"mesh.blade.checkpoint={tmp_path / 'no.pth'}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "BLADE checkpoint not found" in lines[0]

"""The CPU SMPL-X fitter: its pieces on exact data, and whole fits on synthetic players."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamer.body import BODY_JOINT_NAMES, load_body_model
from streamer.body.synthetic_smplx import write_synthetic_smplx
from streamer.fitting import FitterSettings, FitWeights, KeypointFitter, make_target_spec
from streamer.fitting.camera import default_focal_px, ray_rotation, solve_translation
from streamer.fitting.confidence import UNOBSERVED_FACTOR, joint_confidence
from streamer.fitting.init import LIMBS, axis_angle_to_matrix_np, kabsch, limb_ik
from streamer.fitting.landmarks import model_landmarks
from streamer.fitting.priors import POSE_HIGH, POSE_LOW, POSE_MEAN, PosePrior
from streamer.fitting.skeleton import FitSkeleton
from streamer.pose.layouts import get_layout
from streamer.records import Keypoints
from testkit import mesh_fit as syn
from testkit.motion import RUN, WALK, gait_motion

J = {name: k for k, name in enumerate(BODY_JOINT_NAMES)}


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    path = write_synthetic_smplx(tmp_path_factory.mktemp("smplx") / "SMPLX_NEUTRAL.npz")
    return {"mannequin": load_body_model("mannequin"), "smplx": load_body_model("smplx", smplx_path=path)}


def keypoints_of(obs: syn.Observation, track_id: np.ndarray | None = None, layout: str = "blazepose33",
                 world: bool = True) -> Keypoints:
    ids = np.arange(1, len(obs.conf) + 1) if track_id is None else track_id
    return Keypoints(ids.astype(np.int64), obs.xy_px, obs.conf, layout, obs.world_m if world else None)


def fit_once(body, truth: syn.SyntheticBodies, obs: syn.Observation, **weights) -> np.ndarray:
    fitter = KeypointFitter(body, FitWeights(**weights), FitterSettings(max_residual=np.inf))  # keep all
    fitted = fitter.fit([keypoints_of(obs)], [truth.K], [0.0])[0]
    assert fitted is not None and len(fitted) == len(obs.conf)
    return fitted.joints_cam_m


# -- pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["mannequin", "smplx"])
def test_skeleton_matches_the_body_model(bodies, backend):
    body = bodies[backend]
    landmarks = model_landmarks(body)
    extra = ("left_index1", "right_thumb2", "nose", "left_heel", "right_big_toe")
    skeleton = FitSkeleton(body, extra, landmarks)
    rng = np.random.default_rng(1)
    args = [torch.tensor(rng.normal(0, s, shape), dtype=torch.float32)
            for s, shape in ((1.0, (6, 10)), (1.0, (6, 3)), (0.4, (6, 21, 3)), (2.0, (6, 3)))]
    ours = skeleton.pose(*args).points
    out = body.forward(*args)
    assert torch.allclose(ours[:, :22], out.joints[:, :22], atol=1e-5)
    assert np.allclose(skeleton.joints_np(*(a.numpy() for a in args)), out.joints[:, :22].numpy(), atol=1e-5)
    fingers = [body.joint_names.index(n) for n in extra[:2]]
    assert torch.allclose(ours[:, 22:24], out.joints[:, fingers], atol=1e-5)
    # surface points ride rigidly on one joint: exact for the smplx joints, close on a skinned mesh
    surface = [out.joints[:, body.joint_names.index(n)] if n in body.joint_names
               else out.vertices[:, landmarks[n]] for n in extra[2:]]
    assert (ours[:, 24:] - torch.stack(surface, 1)).norm(dim=-1).max() < 0.03


def test_mannequin_landmarks_sit_where_a_person_has_them(bodies):
    body = bodies["mannequin"]
    picked = model_landmarks(body)
    assert set(picked) >= {"nose", "left_ear", "right_ear", "left_big_toe", "right_heel"}
    out = body.forward()
    v, j = out.vertices.numpy(), out.joints.numpy()
    head, l_ankle, r_ankle, l_foot = j[J["head"]], j[J["left_ankle"]], j[J["right_ankle"]], j[J["left_foot"]]
    assert v[picked["nose"], 2] - head[2] > 0.08  # in front of the head (z forward)
    assert v[picked["left_ear"], 0] - head[0] > 0.05 and head[0] - v[picked["right_ear"], 0] > 0.05  # x: left
    assert v[picked["left_big_toe"], 2] > l_foot[2] + 0.03
    assert v[picked["right_heel"], 2] < r_ankle[2] - 0.03 and v[picked["right_heel"], 1] < r_ankle[1]
    assert v[picked["left_big_toe"], 0] < v[picked["left_small_toe"], 0]  # big toe on the inside
    assert l_ankle[0] > 0


def test_ray_rotation_and_focal():
    K = np.array([[1000.0, 0, 960], [0, 1000.0, 540], [0, 0, 1]])
    pixels = np.array([[960.0, 540.0], [1800.0, 100.0]])
    rot = ray_rotation(pixels, K)
    assert np.allclose(rot[0], np.eye(3))
    ray = np.array([840.0, -440.0, 1000.0]) / np.linalg.norm([840.0, -440.0, 1000.0])
    assert np.allclose(rot[1] @ [0, 0, 1], ray)
    assert np.allclose(rot[1] @ rot[1].T, np.eye(3))
    assert default_focal_px(1920) == pytest.approx(1920 / (2 * np.tan(np.radians(15))))


def test_translation_solve_and_kabsch_are_exact_on_clean_data():
    rng = np.random.default_rng(2)
    K = np.array([[2000.0, 0, 640], [0, 2000.0, 360], [0, 0, 1]])
    points = rng.normal(0, 0.4, (5, 12, 3))
    t_true = np.stack([rng.uniform(-3, 3, 5), rng.uniform(-1, 1, 5), rng.uniform(20, 60, 5)], 1)
    uv = (points + t_true[:, None]) @ K.T
    pixels = uv[..., :2] / uv[..., 2:]
    assert np.allclose(solve_translation(points, pixels, np.ones((5, 12)), K), t_true, atol=1e-6)
    one_point = np.eye(12)[None, 0].repeat(5, 0)
    assert np.isnan(solve_translation(points, pixels, one_point, K)).all()
    rot = axis_angle_to_matrix_np(rng.normal(0, 1.5, (5, 3)))
    moved = points @ rot.transpose(0, 2, 1) + 3.0
    assert np.allclose(kabsch(points, moved, np.ones((5, 12))), rot, atol=1e-9)


def test_prior_ranges_hold_real_gaits_and_reject_impossible_joints():
    prior = PosePrior()
    gaits = np.concatenate([gait_motion(np.linspace(0, 2, 60), spec).body_pose[0] for spec in (WALK, RUN)])
    assert (gaits >= POSE_LOW - 1e-6).all() and (gaits <= POSE_HIGH + 1e-6).all()
    assert (POSE_MEAN >= POSE_LOW).all() and (POSE_MEAN <= POSE_HIGH).all()
    assert torch.all(prior.limits(torch.tensor(gaits, dtype=torch.float32)) < 1e-6)
    bad = np.zeros((1, 21, 3), np.float32)
    bad[0, J["left_knee"] - 1, 0] = -0.8  # a knee bent forward
    bad[0, J["right_elbow"] - 1, 1] = -1.0  # a right elbow bent backward
    assert prior.limits(torch.tensor(bad)) > 100


def test_limb_ik_recovers_limbs_from_3d_points(bodies):
    body = bodies["mannequin"]
    skeleton = FitSkeleton(body)
    truth = syn.random_bodies(np.random.default_rng(3), 30, betas_std=0.5)
    args = [torch.tensor(a) for a in (truth.betas, truth.global_orient, truth.body_pose)]
    joints = skeleton.pose(*args, torch.zeros(30, 3)).points.numpy()
    names = {n for limb in LIMBS for n in limb[:3]}
    start = truth.body_pose.copy()
    for upper, hinge, *_ in LIMBS:
        start[:, [J[upper] - 1, J[hinge] - 1]] = POSE_MEAN[[J[upper] - 1, J[hinge] - 1]]
    pose = limb_ik(skeleton, truth.betas, truth.global_orient, start, {n: joints[:, J[n]] for n in names},
                   {n: np.ones(30) for n in names})
    posed = skeleton.pose(args[0], args[1], torch.tensor(pose), torch.zeros(30, 3)).points.numpy()
    def error_m(name: str) -> np.ndarray:
        return np.linalg.norm(posed[:, J[name]] - joints[:, J[name]], axis=1)

    for name in ("left_knee", "right_knee", "left_elbow", "right_elbow"):
        assert error_m(name).max() < 2e-3, name
    # wrists and ankles also depend on the side play and twist a hinge leaves out
    for name in ("left_wrist", "right_wrist", "left_ankle", "right_ankle"):
        assert error_m(name).mean() < 0.015 and error_m(name).max() < 0.05, name


def test_target_specs_follow_the_body_model(bodies):
    smplx_spec = make_target_spec("blazepose33", bodies["smplx"].joint_names, BODY_JOINT_NAMES)
    mannequin_points = bodies["mannequin"].joint_names + tuple(model_landmarks(bodies["mannequin"]))
    mannequin_spec = make_target_spec("blazepose33", mannequin_points, BODY_JOINT_NAMES)
    coco = make_target_spec("coco17", bodies["smplx"].joint_names, BODY_JOINT_NAMES)
    assert {"nose", "left_heel", "right_big_toe", "left_pinky1"} <= set(smplx_spec.target_names)
    assert "left_eye4" not in smplx_spec.target_names  # face landmarks the backend does not return
    assert set(mannequin_spec.target_names) >= {"nose", "left_heel", "left_wrist"}
    assert coco.num_targets == 17 and len(coco.bone_coeff) > 8
    assert np.allclose(smplx_spec.bone_coeff.sum(1), 0.0)  # bones are differences
    layout = get_layout("blazepose33")
    assert [layout.keypoint_names[r] for r in smplx_spec.keypoint_rows[:2]] == ["left_shoulder", "left_elbow"]


def test_joint_confidence_rule(bodies):
    spec = make_target_spec("coco17", bodies["smplx"].joint_names, BODY_JOINT_NAMES)
    conf = np.full((2, spec.num_targets), 0.9, np.float32)
    conf[1, spec.rows_of("left_ankle")] = 0.2
    out = joint_confidence(spec, conf)
    assert out.shape == (2, 22)
    assert out[0, J["left_knee"]] == pytest.approx(0.9) and out[1, J["left_knee"]] == pytest.approx(0.2)
    assert out[0, J["spine2"]] == pytest.approx(0.45)  # shared with the prior
    # coco17 has no hand or foot points: wrists and ankles are the prior's guess
    assert out[0, J["left_wrist"]] == pytest.approx(UNOBSERVED_FACTOR * out[0, J["left_elbow"]])
    assert out[1, J["left_ankle"]] == pytest.approx(UNOBSERVED_FACTOR * 0.2)


# -- whole fits -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["mannequin", "smplx"])
def test_clean_keypoints_fit_accurately(bodies, backend):
    body = bodies[backend]
    truth = syn.random_bodies(np.random.default_rng(4), 40, (60.0, 200.0))
    obs = syn.observe(body, truth)
    joints = fit_once(body, truth, obs)
    mpjpe = syn.mpjpe_mm(joints, obs.joints_cam_m).mean()
    pa = syn.pa_mpjpe_mm(joints, obs.joints_cam_m).mean()
    assert mpjpe < 40.0 and pa < 30.0, (mpjpe, pa)


def test_noisy_keypoints_fit_within_bounds(bodies):
    body = bodies["mannequin"]
    rng = np.random.default_rng(5)
    truth = syn.random_bodies(rng, 40)
    clean = syn.observe(body, truth)
    noisy = syn.add_noise(clean, syn.pixel_height(clean), syn.KeypointNoise(), rng)
    start = fit_once(body, truth, noisy, iterations=0)
    joints = fit_once(body, truth, noisy)
    before, after = (syn.mpjpe_mm(j, clean.joints_cam_m).mean() for j in (start, joints))
    assert after < 0.8 * before and after < 80.0, (before, after)


def test_2d_only_layout_fits_without_world_landmarks(bodies):
    body = bodies["smplx"]
    truth = syn.random_bodies(np.random.default_rng(6), 24, (80.0, 200.0))
    obs = syn.observe(body, truth, "coco17")
    fitted = KeypointFitter(body).fit([keypoints_of(obs, layout="coco17", world=False)], [truth.K], [0.0])[0]
    uv = fitted.joints_cam_m @ truth.K.T
    err_px = np.linalg.norm(uv[..., :2] / uv[..., 2:] - obs.joints_cam_m @ truth.K.T[:, :2]
                            / (obs.joints_cam_m @ truth.K.T)[..., 2:], axis=-1)
    height = syn.pixel_height(obs)
    limbs = [J[n] for n in ("left_shoulder", "left_elbow", "left_wrist", "right_knee", "right_ankle")]
    assert np.median(err_px[:, limbs] / height[:, None]) < 0.03  # fits the 2D well
    assert syn.pa_mpjpe_mm(fitted.joints_cam_m, obs.joints_cam_m).mean() < 120.0  # depth is ambiguous


def test_windows_keep_per_track_state(bodies):
    body = bodies["mannequin"]
    truth = syn.random_bodies(np.random.default_rng(7), 3, (100.0, 150.0), betas_std=0.0)
    obs = syn.observe(body, truth)
    fitter = KeypointFitter(body, FitWeights(iterations=10), FitterSettings(betas_rate=0.5))
    kp = keypoints_of(obs, np.array([11, 12, 13]))
    three = np.where(np.arange(33) < 3, 1.0, 0.0)[None].astype(np.float32)
    few = Keypoints(kp.track_id[:1], kp.xy_px[:1], three, kp.layout, kp.world_m[:1])
    empty = kp.select(np.zeros(3, bool))
    anywhere = np.random.default_rng(0).uniform(0, 1000, (1, 33, 2)).astype(np.float32)
    scrambled = Keypoints(np.array([99]), anywhere, np.ones((1, 33), np.float32), kp.layout, kp.world_m[:1])
    out = fitter.fit([kp, empty, few, scrambled], [truth.K] * 4, [0.0, 0.04, 0.08, 0.1])
    assert out[1] is None and out[2] is None and out[3] is None  # nobody / too few keypoints / failed fit
    assert 99 not in fitter.tracks
    assert list(out[0].track_id) == [11, 12, 13] and out[0].joint_conf.shape == (3, 22)
    assert np.allclose(out[0].cam_K, truth.K)
    first = {t: s.betas.copy() for t, s in fitter.tracks.items()}
    assert set(first) == {11, 12, 13}
    again = fitter.fit([kp], [truth.K], [0.12])[0]
    state = fitter.tracks[12]
    assert state.time_s == pytest.approx(0.12)
    # the running shape moves half way (betas_rate) toward the second window's fit
    assert np.allclose(state.betas, first[12] + 0.5 * (again.betas[1] - first[12]), atol=1e-5)
    assert not np.allclose(again.betas[1], first[12])
    fitter.fit([kp.select(np.array([True, False, False]))], [truth.K], [5.0])
    assert set(fitter.tracks) == {11}  # stale tracks are forgotten
    with pytest.raises(ValueError, match="mixes keypoint layouts"):
        coco = Keypoints(kp.track_id, kp.xy_px[:, :17], kp.conf[:, :17], "coco17")
        fitter.fit([kp, coco], [truth.K] * 2, [6.0, 6.04])


def test_temporal_term_steadies_a_noisy_sequence(bodies):
    body = bodies["mannequin"]
    rng = np.random.default_rng(8)
    truth = syn.random_bodies(rng, 1, (60.0, 60.0))
    clean = syn.observe(body, truth)
    noise = syn.KeypointNoise(low_conf_rate=0, missing_rate=0)
    frames = [syn.add_noise(clean, syn.pixel_height(clean), noise, rng) for _ in range(8)]

    def jitter_mm(speed: float) -> float:
        fitter = KeypointFitter(body, FitWeights(temporal_speed_m_s=speed))
        out = fitter.fit([keypoints_of(f) for f in frames], [truth.K] * 8, np.arange(8) * 0.04)
        joints = np.stack([o.joints_cam_m[0] - o.joints_cam_m[0, :1] for o in out])
        return 1000.0 * np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean()

    assert jitter_mm(0.5) < 0.7 * jitter_mm(1000.0)

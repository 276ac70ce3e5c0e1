"""Body models: one contract over every backend, the smplx backend on a synthetic SMPL-X file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from streamer.body import (
    BODY_JOINT_NAMES,
    load_body_model,
    load_motion_npz,
    save_motion_npz,
)
from streamer.body.mannequin_backend import MannequinBody, smplx_joint_name
from streamer.body.skeleton import SMPLX_PARENTS, axis_angle_to_matrix
from streamer.body.smplx_backend import REQUIRED_KEYS, SmplxBody, smplx_model_path
from streamer.body.synthetic_smplx import SMPLX_NUM_VERTICES, write_synthetic_smplx
from streamer.errors import ConfigError, InputError, MissingDependencyError

LEFT_KNEE, LEFT_ANKLE, RIGHT_ANKLE = (BODY_JOINT_NAMES.index(n) for n in ("left_knee", "left_ankle", "right_ankle"))


@pytest.fixture(scope="session")
def smplx_file(tmp_path_factory):
    return write_synthetic_smplx(tmp_path_factory.mktemp("smplx") / "SMPLX_NEUTRAL.npz")


@pytest.fixture(scope="session")
def models(smplx_file):
    return {
        "smplx": SmplxBody(smplx_file),
        "convex": MannequinBody("convex", lod=2),
        "wooden": MannequinBody("wooden"),
    }


BACKENDS = ["smplx", "convex", "wooden"]


def random_params(rng: np.random.Generator, batch: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {
        "betas": np.zeros((*batch, 10), np.float32),
        "global_orient": rng.normal(0, 0.5, (*batch, 3)).astype(np.float32),
        "body_pose": rng.normal(0, 0.3, (*batch, 21, 3)).astype(np.float32),
        "transl": rng.normal(0, 1.0, (*batch, 3)).astype(np.float32),
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_names_and_faces(models, backend):
    model = models[backend]
    out = model(**random_params(np.random.default_rng(0), (2, 3)))
    n_joints = len(model.joint_names)
    assert out.vertices.shape == (2, 3, model.num_vertices, 3)
    assert out.joints.shape == (2, 3, n_joints, 3)
    assert out.vertices.dtype == out.joints.dtype == torch.float32
    assert model.joint_names[:22] == BODY_JOINT_NAMES
    assert model.faces.dtype == np.int64 and model.faces.shape[1] == 3
    assert model.faces.min() >= 0 and model.faces.max() < model.num_vertices
    owner = model.vertex_body_joint
    assert owner.shape == (model.num_vertices,) and owner.min() >= 0 and owner.max() < 22
    # unbatched parameters give unbatched outputs; missing ones default to zero
    single = model(body_pose=np.zeros((21, 3)))
    assert single.vertices.shape == (model.num_vertices, 3)
    assert model.joints(body_pose=np.zeros(63)).shape == (n_joints, 3)


def test_backend_specific_joints(models):
    assert models["smplx"].num_vertices == SMPLX_NUM_VERTICES
    assert len(models["smplx"].joint_names) == 76
    assert {"jaw", "nose", "left_heel"} <= set(models["smplx"].joint_names)
    mannequin = models["convex"].joint_names
    assert len(mannequin) == 52 and "jaw" not in mannequin and "left_thumb3" in mannequin


@pytest.mark.parametrize("backend", ["smplx", "convex"])
def test_zero_pose_gives_rest_joints_and_transl_shifts(models, backend, smplx_file):
    model = models[backend]
    rest = model.joints().numpy()
    if backend == "smplx":
        with np.load(smplx_file) as data:
            expected = data["J_regressor"] @ data["v_template"]
    else:
        expected = model.rest_skeleton()[0]
    # fingers are bent by the relaxed hand mean even at zero pose: compare the body
    np.testing.assert_allclose(rest[:22], expected[:22], atol=1e-5)
    shift = np.array([1.0, -2.0, 3.5], np.float32)
    np.testing.assert_allclose(model.joints(transl=shift).numpy(), rest + shift, atol=1e-5)
    # global_orient turns the body about the pelvis: the pelvis stays put
    turned = model.joints(global_orient=[0.0, math.pi / 2, 0.0]).numpy()
    np.testing.assert_allclose(turned[0], rest[0], atol=1e-5)
    offset = rest[LEFT_ANKLE] - rest[0]
    np.testing.assert_allclose(turned[LEFT_ANKLE] - turned[0], [offset[2], offset[1], -offset[0]], atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bending_left_knee_90_degrees_swings_the_left_ankle_back(models, backend):
    model = models[backend]
    pose = np.zeros((21, 3), np.float32)
    pose[LEFT_KNEE - 1] = [math.pi / 2, 0, 0]  # body_pose skips the root
    rest, bent = model.joints().numpy(), model.joints(body_pose=pose).numpy()
    shank = rest[LEFT_ANKLE] - rest[LEFT_KNEE]
    # +90 degrees about x: (x, y, z) -> (x, -z, y); the shin points backward, level with the knee
    np.testing.assert_allclose(bent[LEFT_ANKLE] - bent[LEFT_KNEE], [shank[0], -shank[2], shank[1]], atol=1e-5)
    assert bent[LEFT_ANKLE, 2] < rest[LEFT_KNEE, 2] - 0.3
    assert abs(bent[LEFT_ANKLE, 1] - rest[LEFT_KNEE, 1]) < 0.06
    np.testing.assert_allclose(bent[:LEFT_KNEE + 1], rest[:LEFT_KNEE + 1], atol=1e-6)
    np.testing.assert_allclose(bent[RIGHT_ANKLE], rest[RIGHT_ANKLE], atol=1e-6)
    # the surface follows: the lowest left-shin vertex moved back as well
    out = model(body_pose=pose).vertices.numpy()
    shin = model.vertex_body_joint == LEFT_KNEE
    assert shin.any() and out[shin, 2].min() < rest[LEFT_KNEE, 2] - 0.25


@pytest.mark.parametrize("flat", [False, True])
def test_smplx_on_synthetic_file_matches_mannequin_skeleton(smplx_file, models, flat):
    smplx_body = models["smplx"] if not flat else SmplxBody(smplx_file, flat_hand_mean=True)
    mannequin = models["convex"] if not flat else MannequinBody("convex", lod=2, flat_hand_mean=True)
    params = random_params(np.random.default_rng(3), (5,))
    a, b = smplx_body.joints(**params), mannequin.joints(**params)
    shared = [smplx_body.joint_index(name) for name in mannequin.joint_names]
    np.testing.assert_allclose(a[:, shared].numpy(), b.numpy(), atol=1e-5)


def test_mannequin_torch_joints_match_the_package(models):
    model = models["convex"]
    rng = np.random.default_rng(4)
    params = random_params(rng, ())
    params["betas"] = rng.normal(0, 1, 10).astype(np.float32)
    ours = model.joints(**params).numpy()
    package = model._model  # the package's own numpy forward kinematics
    package.reshape(params["betas"])
    pose = package.rest_pose()
    pose.update(body_pose=params["body_pose"], pelvis_rotation=params["global_orient"],
                global_translation=params["transl"])
    theirs = package.joint_transforms(pose)[..., :3, 3]
    names = [smplx_joint_name(n) for n in package.joint_names]
    index = [names.index(j) for j in model.joint_names]
    np.testing.assert_allclose(ours, theirs[index], atol=1e-5)
    # betas change the skeleton (taller or shorter), as in SMPL-X
    assert not np.allclose(ours, model.joints(**{**params, "betas": np.zeros(10)}).numpy(), atol=1e-3)


@pytest.mark.parametrize("lod", [0, 2])
def test_convex_vertices_posed_in_torch_match_the_package(lod):
    """The rigid torch path reproduces mannequin-x's own vertices, shapes included, with gradients."""
    from streamer.body.model import flatten_params

    model = MannequinBody("convex", lod=lod)
    rng = np.random.default_rng(6)
    params = random_params(rng, (4,))
    params["betas"] = rng.normal(0, 1, (4, 10)).astype(np.float32)
    ours = model(**params).vertices.numpy()
    theirs = model._vertices_np(flatten_params(**params))  # the package's numpy posing
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    pose = torch.zeros(21, 3, requires_grad=True)
    model(body_pose=pose).vertices[:, 2].sum().backward()
    assert pose.grad.abs().sum() > 0


@pytest.mark.parametrize("backend", ["smplx", "convex"])
def test_joints_are_differentiable(models, backend):
    model = models[backend]
    pose = torch.zeros(2, 21, 3, requires_grad=True)
    transl = torch.zeros(2, 3, requires_grad=True)
    betas = torch.zeros(2, 10, requires_grad=True)
    model.joints(betas=betas, body_pose=pose, transl=transl)[:, LEFT_ANKLE, 2].sum().backward()
    assert pose.grad[:, 0].abs().sum() > 0  # the left hip moves the left ankle
    assert transl.grad[:, 2].tolist() == [1.0, 1.0]
    if backend == "convex":  # the mannequin skeleton depends on betas
        assert betas.grad.abs().sum() > 0


def test_axis_angle_to_matrix_is_rodrigues():
    vec = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 1.1], [1e-6, 0.0, 0.0]])
    mats = axis_angle_to_matrix(vec)
    from scipy.spatial.transform import Rotation

    np.testing.assert_allclose(mats.numpy(), Rotation.from_rotvec(vec.numpy()).as_matrix(), atol=1e-6)


def test_motion_npz_drives_both_backends(tmp_path, models):
    rng = np.random.default_rng(5)
    t = 6
    path = tmp_path / "motion.npz"
    np.savez(path, betas=np.zeros(10, np.float32), global_orient=rng.normal(0, 0.3, (t, 3)),
             body_pose=rng.normal(0, 0.3, (t, 63)), transl=rng.normal(0, 1, (t, 3)))
    motion = load_motion_npz(path)
    assert len(motion) == t and motion.body_pose.shape == (t, 21, 3)
    outs = {}
    for backend in ("smplx", "convex"):
        model = models[backend]
        out = model(motion.betas_per_frame(), motion.global_orient, motion.body_pose, motion.transl)
        assert out.vertices.shape == (t, model.num_vertices, 3)
        outs[backend] = out.joints[:, :22].numpy()
    np.testing.assert_allclose(outs["smplx"], outs["convex"], atol=1e-5)
    again = load_motion_npz(save_motion_npz(tmp_path / "again.npz", motion))
    np.testing.assert_array_equal(again.body_pose, motion.body_pose)


@pytest.mark.parametrize(("arrays", "match"), [
    ({"betas": np.zeros(10)}, "lacks global_orient"),
    ({"betas": np.zeros(9), "global_orient": np.zeros((2, 3)), "body_pose": np.zeros((2, 63)),
      "transl": np.zeros((2, 3))}, "betas"),
    ({"betas": np.zeros(10), "global_orient": np.zeros((2, 3)), "body_pose": np.zeros((3, 63)),
      "transl": np.zeros((2, 3))}, "body_pose"),
    # the contract is (T, 63): a (T, 21, 3) array is refused, not silently accepted
    ({"betas": np.zeros(10), "global_orient": np.zeros((2, 3)), "body_pose": np.zeros((2, 21, 3)),
      "transl": np.zeros((2, 3))}, r"body_pose must be \(T, 63\)"),
])
def test_bad_motion_files(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=match):
        load_motion_npz(path)


def test_synthetic_file_has_smplx_layout(smplx_file):
    assert smplx_file.stat().st_size < 1_000_000
    with np.load(smplx_file) as data:
        assert set(REQUIRED_KEYS) <= set(data.files)
        assert data["v_template"].shape == (SMPLX_NUM_VERTICES, 3)
        assert data["J_regressor"].shape == (55, SMPLX_NUM_VERTICES)
        np.testing.assert_allclose(data["J_regressor"].sum(1), 1.0, atol=1e-6)
        assert tuple(data["kintree_table"][0][1:]) == SMPLX_PARENTS[1:]
        assert data["posedirs"].shape == (SMPLX_NUM_VERTICES, 3, 486)


@pytest.mark.parametrize("backend", BACKENDS)
def test_meshes_are_outward(models, backend):
    """Positive signed volume: faces wind counter-clockwise seen from outside (renderer culling)."""
    model = models[backend]
    v = model().vertices.numpy().astype(np.float64)
    a, b, c = (v[model.faces[:, k]] for k in range(3))
    assert np.einsum("ij,ij->i", a, np.cross(b, c)).sum() > 0.02


def test_bad_parameter_shapes(models):
    with pytest.raises(ValueError, match="body_pose"):
        models["convex"].joints(body_pose=np.zeros((20, 3)))
    with pytest.raises(ValueError, match="batch dims"):
        models["convex"].joints(body_pose=np.zeros((2, 21, 3)), transl=np.zeros((3, 3)))


def test_missing_pkl_and_broken_files(tmp_path, monkeypatch):
    monkeypatch.delenv("STREAMER_SMPLX", raising=False)
    monkeypatch.setenv("STREAMER_MODELS", str(tmp_path / "models"))
    default = tmp_path / "models" / "smplx" / "SMPLX_NEUTRAL.npz"
    assert smplx_model_path() == default
    with pytest.raises(MissingDependencyError, match="STREAMER_SMPLX") as info:
        SmplxBody()
    assert str(default) in str(info.value) and "smpl-x.is.tue.mpg.de" in str(info.value)
    with pytest.raises(ImportError):  # the project error is also the builtin
        load_body_model("smplx")
    pkl = tmp_path / "SMPLX_NEUTRAL.pkl"
    pkl.write_bytes(b"\x80\x04")
    with pytest.raises(InputError, match="chumpy"):
        SmplxBody(pkl)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="readable"):
        SmplxBody(junk)
    partial = tmp_path / "partial.npz"
    np.savez(partial, v_template=np.zeros((10, 3)))
    with pytest.raises(InputError, match="missing f, shapedirs"):
        SmplxBody(partial)


def test_factory_picks_by_name_and_availability(tmp_path, monkeypatch, smplx_file):
    monkeypatch.delenv("STREAMER_SMPLX", raising=False)
    monkeypatch.setenv("STREAMER_MODELS", str(tmp_path / "empty"))
    auto = load_body_model("auto", mannequin_kind="convex", mannequin_lod=2)
    assert isinstance(auto, MannequinBody) and auto.kind == "convex"
    monkeypatch.setenv("STREAMER_SMPLX", str(smplx_file))
    assert isinstance(load_body_model("auto"), SmplxBody)
    # a folder stands for the SMPLX_NEUTRAL.npz inside it
    assert isinstance(load_body_model("smplx", smplx_path=smplx_file.parent), SmplxBody)
    with pytest.raises(ConfigError, match="unknown body model"):
        load_body_model("smpl")
    with pytest.raises(ConfigError, match="lod"):
        load_body_model("mannequin", mannequin_kind="wooden", mannequin_lod=1)

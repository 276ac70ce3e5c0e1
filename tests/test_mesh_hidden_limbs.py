"""Hidden limbs: the fit follows the keypoint model's 3D landmarks where the 2D sees nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from streamer.body import BODY_JOINT_NAMES, load_body_model
from streamer.fitting import FitterSettings, FitWeights, KeypointFitter
from streamer.records import Keypoints
from streamer.soccer.angles import joint_angles
from testkit import mesh_fit as syn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
J = {name: k for k, name in enumerate(BODY_JOINT_NAMES)}


@pytest.fixture(scope="module")
def body():
    return load_body_model("mannequin")


def squat_bottom(body, heading_deg: float = 90.0):
    """A clean side view of one person at the bottom of a deep squat, far limbs hidden."""
    spec = syn.BendSpec(heading_deg=heading_deg)
    go, pose, transl = syn.bend_motion(np.array([spec.period_s / 2]), spec)
    truth = syn.SyntheticBodies(np.zeros((1, 10), np.float32), go.astype(np.float32), pose.astype(np.float32),
                                transl.astype(np.float32), syn.intrinsics(800.0, 960, 544), 960, 544)
    clean = syn.observe(body, truth)
    side = syn.far_side(clean.joints_cam_m)
    assert side[0] != 0  # the view is side-on
    rng = np.random.default_rng(0)
    hidden = syn.hide_far_limbs(clean, side, rng, syn.pixel_height(clean), px_share=0.0, world_m=0.0,
                                conf_range=(0.05, 0.15))
    return truth, clean, hidden, side


def fit(body, truth, obs, hidden_world_conf: float):
    fitter = KeypointFitter(body, FitWeights(), FitterSettings(hidden_world_conf=hidden_world_conf,
                                                               max_residual=np.inf))
    kp = Keypoints(np.array([1]), obs.xy_px, obs.conf, "blazepose33", obs.world_m)
    out = fitter.fit([kp], [truth.K], [0.0])[0]
    assert out is not None
    return out


def test_hidden_knee_bends_with_the_world_landmarks(body):
    truth, clean, obs, side = squat_bottom(body)
    far = "left" if side[0] > 0 else "right"
    want = joint_angles(clean.joints_cam_m)[f"{far}_knee_flexion_deg"][0]
    assert want > 100.0
    got = joint_angles(fit(body, truth, obs, 0.5).joints_cam_m)[f"{far}_knee_flexion_deg"][0]
    assert abs(got - want) < 10.0
    # without the hidden landmarks the far knee is the prior's guess, nearly straight
    prior = joint_angles(fit(body, truth, obs, 0.0).joints_cam_m)[f"{far}_knee_flexion_deg"][0]
    assert abs(prior - want) > 30.0


def test_hidden_joints_are_measured_but_flagged(body):
    truth, _, obs, side = squat_bottom(body, heading_deg=-90.0)
    far, near = ("left", "right") if side[0] > 0 else ("right", "left")
    conf = fit(body, truth, obs, 0.5).joint_conf[0]
    # a hidden knee carries a measurement for the smoother (above smooth.min_joint_conf 0.05) but
    # stays below joints.csv's low_confidence flag (0.3); the seen knee is confident
    assert 0.05 < conf[J[f"{far}_knee"]] < 0.3
    assert conf[J[f"{near}_knee"]] > 0.5


def test_hidden_landmarks_outside_the_image_keep_their_own_confidence(body):
    truth, _, obs, side = squat_bottom(body)
    fitter = KeypointFitter(body, FitWeights(), FitterSettings(hidden_world_conf=0.5))
    spec, _ = fitter.spec("blazepose33")
    xy = obs.xy_px.copy()
    far = "left" if side[0] > 0 else "right"
    ankle = spec.rows_of(f"{far}_ankle")[0]
    knee = spec.rows_of(f"{far}_knee")[0]
    xy[0, spec.keypoint_rows[ankle]] = (-50.0, 300.0)  # left of the image
    batch = fitter._gather(spec, [Keypoints(np.array([1]), xy, obs.conf, "blazepose33", obs.world_m)],
                           [truth.K], [0.0])
    conf3d = fitter._world_conf(spec, batch, fitter._turned_away(spec, batch))
    assert conf3d[0, knee] == pytest.approx(0.5 * batch.conf[0, spec.rows_of(*syn_torso())].mean(), rel=1e-5)
    assert conf3d[0, ankle] == pytest.approx(batch.conf_raw[0, ankle])
    assert batch.conf[0, knee] == 0.0  # the 2D term still ignores it


def test_low_confidence_on_the_near_side_is_not_treated_as_hidden(body):
    truth, _, obs, side = squat_bottom(body)
    near = "right" if side[0] > 0 else "left"
    fitter = KeypointFitter(body, FitWeights(), FitterSettings(hidden_world_conf=0.5))
    spec, _ = fitter.spec("blazepose33")
    conf = obs.conf.copy()
    knee = spec.rows_of(f"{near}_knee")[0]
    conf[0, spec.keypoint_rows[knee]] = 0.1  # a near knee the model doubts: wrong, not hidden
    batch = fitter._gather(spec, [Keypoints(np.array([1]), obs.xy_px, conf, "blazepose33", obs.world_m)],
                           [truth.K], [0.0])
    assert fitter._world_conf(spec, batch, fitter._turned_away(spec, batch))[0, knee] == pytest.approx(0.1)


def syn_torso() -> tuple[str, ...]:
    return ("left_hip", "right_hip", "left_shoulder", "right_shoulder")


def test_generated_squats_hidden_joints_close_to_visible_ones():
    from eval_mesh_synth import evaluate

    m = evaluate("squat_lunge", seed=3, players=4, frames=24)
    assert m["hidden_share"] > 0.5
    # knees within 10 degrees (median) before and after smoothing, the bar
    assert m["raw_knee_all_deg"] <= 10.0
    assert m["smooth_knee_all_deg"] <= 10.0
    assert m["raw_knee_hid_deg"] <= 15.0  # the prior's straight far leg: ~27 degrees
    # hidden joints within the 1.5x the same joints seen (the prior's guess: 2.8x)
    assert m["raw_mpjpe_hid"] <= 1.5 * m["raw_mpjpe_limb_vis"]
    assert m["smooth_mpjpe_hid"] <= 1.5 * m["smooth_mpjpe_limb_vis"]
    # smoothing helps the seen limbs too: filtered relative to the parent joint (the fit's errors of a
    # parent and a child cancel along the chain, filtered apart they did not) they gained 10 % (64 of
    # 71 mm), on other seeds they got worse; the segments' orientations gain 28 %
    assert m["smooth_mpjpe_limb_vis"] <= 0.85 * m["raw_mpjpe_limb_vis"]


def test_smoothing_keeps_small_runners_limbs():
    """Issue 21: the smoother must not flatten real peaks. On 30-60 px runners (fast knees, noisy
    fits) the smoothed knee angles and seen limbs are no worse than the raw fit's (with the limbs'
    old process noise, a third of today's, they were: knee 9.8 -> 12.4 degrees, limbs 87 -> 121 mm)."""
    from eval_mesh_synth import evaluate

    m = evaluate("running_small", seed=3, players=4, frames=24)
    assert m["smooth_knee_all_deg"] <= m["raw_knee_all_deg"] + 1.0
    # smoothing the segments' orientations gains 12 % on the seen limbs (relative to the parent: 4 %)
    assert m["smooth_mpjpe_limb_vis"] <= 0.92 * m["raw_mpjpe_limb_vis"]
    # the raw fit's hidden joints within the issue's 1.5x the seen ones (without the hidden keypoints'
    # 2D guesses: 1.51x); smoothed they are not yet (1.6x: the seen limbs gain more from smoothing)
    assert m["raw_mpjpe_hid"] <= 1.5 * m["raw_mpjpe_limb_vis"]


def test_projected_joints_stay_on_hand_marked_bodies(shared_data):
    """Issue 21: on hand-marked real frames (a photo, the squat, the amateur clip) >= 90 % of the
    marked joints lie within 10 % of the person's height of the fitted joints' projection."""
    from eval_mesh_real import check_marks

    marks = Path(__file__).resolve().parent / "data" / "joints_2d" / "real_frames.json"
    assert check_marks(marks, shared_data) >= 0.9


def test_hidden_limb_joints_are_marked_world_only(body):
    truth, _, obs, side = squat_bottom(body)
    far, near = ("left", "right") if side[0] > 0 else ("right", "left")
    only = fit(body, truth, obs, 0.5).joint_world_only[0]
    # the far hip's and knee's rotations rest on the hidden knee and ankle: the 3D guess alone
    assert only[J[f"{far}_hip"]] and only[J[f"{far}_knee"]]
    assert not only[J[f"{near}_hip"]] and not only[J[f"{near}_knee"]] and not only[J["pelvis"]]
    assert not fit(body, truth, obs, 0.0).joint_world_only.any()  # no 3D floor: nothing is world-only


def test_hidden_limb_whose_confidence_passes_the_2d_threshold_is_still_world_only(body):
    """A hidden keypoint at 0.35 (above mesh.fit.min_conf 0.2) is no more seen than one at 0.15:
    its joints carry the hidden guess's error, so the smoother must treat them alike (it had
    given such a knee the 2D rule's noise in some frames and the hidden noise in others)."""
    truth, clean, _, side = squat_bottom(body)
    far, near = ("left", "right") if side[0] > 0 else ("right", "left")
    obs = syn.hide_far_limbs(clean, side, np.random.default_rng(0), syn.pixel_height(clean), px_share=0.0,
                             world_m=0.0, conf_range=(0.3, 0.4))
    only = fit(body, truth, obs, 0.5).joint_world_only[0]
    assert only[J[f"{far}_hip"]] and only[J[f"{far}_knee"]]
    assert not only[J[f"{near}_hip"]] and not only[J[f"{near}_knee"]]


def test_smoother_noise_of_a_world_only_joint_ignores_the_box_size():
    """A hidden limb's rotation comes from a metric 3D guess: its noise must not grow 4x on a
    small player's box the way a 2D-fitted joint's does (that left small runners' hidden legs
    unsmoothed), nor stay at a large player's 2D noise (too little smoothing of a noisy guess)."""
    from streamer.records import BodyParams
    from streamer.smoothing.measurement import measurements_from_body
    from streamer.smoothing.params import SmoothingParams

    params = SmoothingParams()
    only = np.zeros((2, 22), bool)
    only[:, J["left_knee"]] = True
    body = BodyParams(np.array([1, 2]), np.zeros((2, 10), np.float32), np.zeros((2, 3), np.float32),
                      np.zeros((2, 21, 3), np.float32), np.ones((2, 3), np.float32), np.eye(3, dtype=np.float32),
                      np.full((2, 22), 0.2, np.float32), joint_world_only=only)
    meas = measurements_from_body(body, np.array([40.0, 400.0]), params)  # a small and a large player
    assert meas.rot_var[:, J["left_knee"]] == pytest.approx([params.hidden_rot_noise_rad**2] * 2)
    assert meas.rot_var[0, J["right_knee"]] > 16 * meas.rot_var[1, J["right_knee"]]  # 2D: size x 8

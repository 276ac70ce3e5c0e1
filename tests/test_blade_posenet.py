"""PoseNet (AiOS SMPL-X ControlNet) and BLADE's top-1 pick against the BLADE reference fixture."""

from __future__ import annotations

import pytest
import torch
from blade_helpers import load_fixture

from streamer.models.blade import load_blade_weights
from streamer.models.blade.model import rank_people, select_person
from streamer.models.blade.posenet import PoseNet, PoseNetOutput, posenet_config_from_fixture
from streamer.models.blade.rotation import matrix_to_axis_angle, rot6d_to_matrix

FIXTURE = "blade_pose_fixture.pt"
#: README estimate for an fp32 CPU re-implementation: ~1e-4 on features, 6D and axis-angle
TOL = {"rtol": 1e-4, "atol": 1e-4}
#: keypoint visibility AiOS reports for every keypoint: sigmoid(1)
KEYPOINT_VISIBILITY = torch.sigmoid(torch.tensor(1.0))


@pytest.fixture(scope="module")
def run() -> tuple[dict, PoseNetOutput]:
    fixture = load_fixture(FIXTURE)
    model = PoseNet(posenet_config_from_fixture(fixture["config"])).eval()
    check = load_blade_weights(model, fixture["state_dict"])
    assert check.ok and check.folded_aliases > 0
    with torch.no_grad():
        out = model(fixture["inputs"]["img"], fixture["inputs"]["pred_z"], return_intermediates=True)
    return fixture["outputs"], out


def _traced(out: PoseNetOutput, name: str) -> torch.Tensor:
    """The re-implementation's tensor for a fixture output name."""
    trace = out.intermediates
    for prefix in ("transformer_controlnet", "transformer"):
        if name.startswith(prefix + "_"):
            t, what = trace[prefix], name[len(prefix) + 1:]
            if what.endswith("_sample0"):
                return {"srcs_flat": t.src_flat, "pos_flat": t.pos_flat,
                        "encoder_memory": t.memory}[what[:-len("_sample0")]][:1]
            kind, layer = what.rsplit("_layer", 1)
            return (t.decoder.hidden if kind == "hs" else t.decoder.references)[int(layer)]
    if name.endswith("_C5_sample0"):
        return trace[name[:-len("_sample0")]][:1]
    raise KeyError(name)


FEATURES = ["backbone_C5_sample0", "backbone_controlnet_C5_sample0"] + [
    f"{t}_{what}" for t in ("transformer", "transformer_controlnet")
    for what in ("srcs_flat_sample0", "encoder_memory_sample0", "hs_layer1", "hs_layer3", "hs_layer5",
                 *(f"reference_layer{i}" for i in range(7)))
] + ["transformer_controlnet_pos_flat_sample0"]


@pytest.mark.parametrize("name", FEATURES)
def test_features_match_reference(run, name):
    expected, out = run
    torch.testing.assert_close(_traced(out, name), expected[name], **TOL)


@pytest.mark.parametrize(("call", "transformer", "attr"), [
    (0, "transformer", "proposal"), (2, "transformer_controlnet", "proposal"),
    (1, "transformer", "group"), (3, "transformer_controlnet", "group"),
])
def test_topk_selections_are_identical(run, call, transformer, attr):
    expected, out = run
    t = out.intermediates[transformer]
    index, values = ((t.proposal_index, t.proposal_scores) if attr == "proposal"
                     else (t.decoder.group_index.T, t.decoder.group_scores.T))  # original is (G, B)
    assert torch.equal(index, expected[f"topk{call}_indices"])
    torch.testing.assert_close(values, expected[f"topk{call}_values"], **TOL)


RAW_HEADS = [("smpl_pose", "smpl_pose_embed_call0"), ("smpl_lhand_pose", "smpl_hand_pose_embed_call0"),
             ("smpl_rhand_pose", "smpl_hand_pose_embed_call1"), ("smpl_jaw", "smpl_jaw_embed_call0"),
             ("smpl_beta", "smpl_beta_embed_call0"), ("smpl_cam", "smpl_cam_embed_call0"),
             ("smpl_expr", "smpl_expr_embed_call0")]


@pytest.mark.parametrize(("ours", "theirs"), RAW_HEADS)
def test_last_layer_raw_head_outputs_match(run, ours, theirs):
    expected, out = run
    torch.testing.assert_close(out.raw[ours], expected[f"lastlayer_{theirs}_raw"], **TOL)


PREDICTIONS = [
    ("pred_logits", lambda o: o.logits), ("pred_boxes", lambda o: o.boxes_cxcywh),
    ("pred_lhand_boxes", lambda o: o.lhand_boxes_cxcywh), ("pred_rhand_boxes", lambda o: o.rhand_boxes_cxcywh),
    ("pred_face_boxes", lambda o: o.face_boxes_cxcywh),
    ("pred_keypoints", lambda o: torch.cat((o.keypoints_xy.flatten(2),
                                            KEYPOINT_VISIBILITY.expand(*o.keypoints_xy.shape[:3])), dim=-1)),
    ("pred_smpl_pose", lambda o: o.body_rotmat), ("pred_smpl_lhand_pose", lambda o: o.lhand_rotmat),
    ("pred_smpl_rhand_pose", lambda o: o.rhand_rotmat), ("pred_smpl_jaw_pose", lambda o: o.jaw_rotmat),
    ("pred_smpl_fullpose", lambda o: o.fullpose_aa.flatten(2)), ("pred_smpl_beta", lambda o: o.betas),
    ("pred_smpl_expr", lambda o: o.expression), ("pred_smpl_cam", lambda o: o.cam_sxy),
]


@pytest.mark.parametrize(("name", "get"), PREDICTIONS, ids=[p[0] for p in PREDICTIONS])
def test_final_predictions_match(run, name, get):
    expected, out = run
    torch.testing.assert_close(get(out), expected[name], **TOL)


def test_post_processing_ranking_matches(run):
    expected, out = run
    ranked = rank_people(out.logits, num_select=expected["topk4_indices"].shape[1])
    assert torch.equal(ranked.group_index, expected["post_topk_smpl"])
    assert torch.equal(ranked.labels, expected["post_labels"])
    torch.testing.assert_close(ranked.scores, expected["post_scores"], **TOL)


def test_blade_top1_parameters_match(run):
    expected, out = run
    chosen = select_person(out, torch.tensor([[2.75], [6.5]]), num_select=10)
    assert torch.equal(chosen.group_index, expected["blade_top1_query_index"])
    assert torch.equal(chosen.label, expected["blade_top1_label"])
    for ours, theirs in [(chosen.global_orient, "root_pose"), (chosen.body_pose.flatten(1), "body_pose"),
                         (chosen.left_hand_pose.flatten(1), "lhand_pose"),
                         (chosen.right_hand_pose.flatten(1), "rhand_pose"), (chosen.jaw_pose, "jaw_pose"),
                         (chosen.betas, "shape"), (chosen.expression, "expr")]:
        torch.testing.assert_close(ours, expected[f"blade_top1_smplx_{theirs}"], **TOL, msg=theirs)
    torch.testing.assert_close(chosen.score, expected["blade_top1_score"], **TOL)


@pytest.mark.parametrize(("raw", "rotmat", "joints"), [
    ("lastlayer_smpl_pose_embed_call0_raw", "pred_smpl_pose", 22),
    ("lastlayer_smpl_hand_pose_embed_call0_raw", "pred_smpl_lhand_pose", 15),
    ("lastlayer_smpl_hand_pose_embed_call1_raw", "pred_smpl_rhand_pose", 15),
    ("lastlayer_smpl_jaw_embed_call0_raw", "pred_smpl_jaw_pose", 1),
])
def test_rotation_conventions_reproduce_the_original_exactly(raw, rotmat, joints):
    expected = load_fixture(FIXTURE)["outputs"]
    matrices = rot6d_to_matrix(expected[raw].reshape(2, 10, joints, 6))
    assert torch.equal(matrices, expected[rotmat])


def test_axis_angle_conversion_reproduces_pytorch3d_075_exactly():
    expected = load_fixture(FIXTURE)["outputs"]
    full = torch.cat([expected[k] for k in ("pred_smpl_pose", "pred_smpl_lhand_pose", "pred_smpl_rhand_pose",
                                            "pred_smpl_jaw_pose")], dim=2)
    assert torch.equal(matrix_to_axis_angle(full).flatten(2), expected["pred_smpl_fullpose"])

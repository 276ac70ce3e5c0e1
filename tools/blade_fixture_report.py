"""Max |error| of the BLADE re-implementation against the reference fixtures, per output.

    python tools/blade_fixture_report.py [--dir ../shared/blade]

Prints one line per compared tensor (max abs error, max |reference|) and whether every top-k
index matches. The pytest suite (tests/test_blade_depthnet.py, tests/test_blade_posenet.py)
asserts the tolerances; this tool only reports the numbers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from streamer.models.blade import load_blade_weights
from streamer.models.blade.depthnet import DepthNet, depthnet_config_from_fixture
from streamer.models.blade.model import rank_people
from streamer.models.blade.posenet import PoseNet, posenet_config_from_fixture


def _line(name: str, ours: torch.Tensor, ref: torch.Tensor) -> str:
    err = (ours.double() - ref.double()).abs().max().item()
    return f"{name:48s} max|err| {err:.2e}   max|ref| {ref.abs().max().item():.2e}"


def depth_report(folder: Path) -> list[str]:
    fx = torch.load(folder / "blade_depth_fixture.pt", weights_only=True)
    model = DepthNet(depthnet_config_from_fixture(fx["config"])).eval()
    load_blade_weights(model, fx["state_dict"])
    lines = []
    for dtype, refs in ((torch.float32, fx["outputs"]), (torch.float64, fx["outputs_float64"])):
        start = time.perf_counter()
        with torch.no_grad():
            trace = model.to(dtype)(fx["inputs"]["x"].to(dtype), return_intermediates=True).intermediates
        lines.append(f"-- depth fixture, {dtype} ({time.perf_counter() - start:.2f} s forward)")
        lines += [_line(k, trace[k], v) for k, v in refs.items()]
    return lines


def pose_report(folder: Path) -> list[str]:
    fx = torch.load(folder / "blade_pose_fixture.pt", weights_only=True)
    ref = fx["outputs"]
    model = PoseNet(posenet_config_from_fixture(fx["config"])).eval()
    load_blade_weights(model, fx["state_dict"])
    start = time.perf_counter()
    with torch.no_grad():
        out = model(fx["inputs"]["img"], fx["inputs"]["pred_z"], return_intermediates=True)
    lines = [f"-- pose fixture, float32 ({time.perf_counter() - start:.2f} s forward)"]
    tr = out.intermediates
    lines += [_line(f"{p}_C5_sample0", tr[f"{p}_C5"][:1], ref[f"{p}_C5_sample0"])
              for p in ("backbone", "backbone_controlnet")]
    for name in ("transformer", "transformer_controlnet"):
        t = tr[name]
        lines.append(_line(f"{name}_srcs_flat_sample0", t.src_flat[:1], ref[f"{name}_srcs_flat_sample0"]))
        lines.append(_line(f"{name}_encoder_memory_sample0", t.memory[:1], ref[f"{name}_encoder_memory_sample0"]))
        lines += [_line(f"{name}_hs_layer{i}", t.decoder.hidden[i], ref[f"{name}_hs_layer{i}"]) for i in (1, 3, 5)]
        lines += [_line(f"{name}_reference_layer{i}", t.decoder.references[i], ref[f"{name}_reference_layer{i}"])
                  for i in range(7)]
    lines.append(_line("transformer_controlnet_pos_flat_sample0", tr["transformer_controlnet"].pos_flat[:1],
                       ref["transformer_controlnet_pos_flat_sample0"]))
    selections = [tr["transformer"].proposal_index, tr["transformer"].decoder.group_index.T,
                  tr["transformer_controlnet"].proposal_index, tr["transformer_controlnet"].decoder.group_index.T,
                  rank_people(out.logits, ref["topk4_indices"].shape[1]).group_index * out.logits.shape[-1]
                  + rank_people(out.logits, ref["topk4_indices"].shape[1]).labels]
    same = [torch.equal(ours, ref[f"topk{i}_indices"]) for i, ours in enumerate(selections)]
    lines.append(f"{'top-k indices identical (calls 0-4)':48s} {same}")
    raw = {"smpl_pose": "smpl_pose_embed_call0", "smpl_lhand_pose": "smpl_hand_pose_embed_call0",
           "smpl_rhand_pose": "smpl_hand_pose_embed_call1", "smpl_jaw": "smpl_jaw_embed_call0",
           "smpl_beta": "smpl_beta_embed_call0", "smpl_cam": "smpl_cam_embed_call0",
           "smpl_expr": "smpl_expr_embed_call0"}
    lines += [_line(f"lastlayer_{v}_raw", out.raw[k], ref[f"lastlayer_{v}_raw"]) for k, v in raw.items()]
    finals = {"pred_logits": out.logits, "pred_boxes": out.boxes_cxcywh, "pred_lhand_boxes": out.lhand_boxes_cxcywh,
              "pred_rhand_boxes": out.rhand_boxes_cxcywh, "pred_face_boxes": out.face_boxes_cxcywh,
              "pred_keypoints[:34]": out.keypoints_xy.flatten(2), "pred_smpl_pose": out.body_rotmat,
              "pred_smpl_fullpose": out.fullpose_aa.flatten(2), "pred_smpl_beta": out.betas,
              "pred_smpl_expr": out.expression}
    for name, ours in finals.items():
        key = name.split("[")[0]
        lines.append(_line(name, ours, ref[key][..., :34] if name.endswith("[:34]") else ref[key]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "blade")
    args = parser.parse_args()
    print("\n".join(depth_report(args.dir) + pose_report(args.dir)))


if __name__ == "__main__":
    main()

"""BLADE checkpoint handling: manifest keys/shapes, aliases, safe unpickling, conversion, lazy check."""

from __future__ import annotations

import collections
import datetime
import sys
import types

import numpy as np
import pytest
import torch
from blade_helpers import randomize_, read_alias_groups, read_body_model_keys, read_manifest, tiny_config

from streamer.errors import InputError
from streamer.models.blade import (
    Blade,
    BladeCheckpointError,
    BladePredictor,
    check_blade_checkpoint,
    convert_blade_checkpoint,
    load_blade_weights,
)
from streamer.models.blade.checkpoint import canonical_key, match_state, read_checkpoint

#: manifest facts from ../shared/blade/README.md
MANIFEST_KEYS = 2812
BODY_MODEL_KEYS_IN_MANIFEST = 27
FOLDED_ALIAS_KEYS = 444 * 1 + 24 * 3 + 12 * 7


@pytest.fixture(scope="module")
def full_meta_model() -> Blade:
    with torch.device("meta"):
        return Blade()


def test_full_size_model_matches_every_manifest_key_and_shape(full_meta_model):
    manifest = read_manifest()
    assert len(manifest) == MANIFEST_KEYS
    check, routed = match_state(full_meta_model, manifest)
    assert check.ok, check.summary()
    assert check.dropped == BODY_MODEL_KEYS_IN_MANIFEST
    assert check.folded_aliases == FOLDED_ALIAS_KEYS
    assert check.matched == len(full_meta_model.state_dict()) == MANIFEST_KEYS - 27 - FOLDED_ALIAS_KEYS
    assert set(routed) == set(full_meta_model.state_dict())


def test_alias_groups_fold_to_one_key_each():
    groups = read_alias_groups()
    canonical = [{canonical_key(k) for k in group} for group in groups]
    assert all(len(names) == 1 for names in canonical)
    flat = [next(iter(names)) for names in canonical]
    assert len(set(flat)) == len(flat), "two alias groups fold onto the same key"
    # no key outside a group folds onto a group's name
    grouped = {k for g in groups for k in g}
    others = {canonical_key(k) for k in read_manifest() if k not in grouped}
    assert not others & set(flat)


def test_body_model_and_renderer_entries_are_dropped():
    keys = read_body_model_keys() + ["module.uv_renderer.buffer", "conversion_destination_model.v_template",
                                      "body_model_train.J_regressor_extra", "depth_renderer.x"]
    assert all(canonical_key(k) is None for k in keys)
    assert canonical_key("module.depth_head.dec_z.query.weight") == "depth_head.dec_z.query.weight"
    assert canonical_key("depth_backbone.module.pretrained.cls_token") == "depth_backbone.pretrained.cls_token"


def _manifest_with(edit) -> dict[str, torch.Tensor]:
    state = read_manifest()
    edit(state)
    return state


@pytest.mark.parametrize(("edit", "expect"), [
    (lambda s: s.pop("pose_backbone.transformer.level_embed"), r"1 missing: posenet.transformer.level_embed"),
    (lambda s: s.update({"pose_backbone.extra.weight": torch.empty(3, device="meta")}),
     r"1 unexpected: pose_backbone.extra.weight"),
    (lambda s: s.update({"depth_interface.0.bias": torch.empty(3, device="meta")}),
     r"1 with wrong shape .*depth_interface.0.bias', \(3,\), \(256,\)"),
    (lambda s: [s.pop(k) for k in [k for k in s if k.startswith("depth_head.")]],
     r"41 missing: depthnet.depth_head.dec_z.conv.bias.* and 33 more"),
])
def test_strict_load_lists_missing_unexpected_and_misshaped_keys(full_meta_model, edit, expect):
    with pytest.raises(BladeCheckpointError, match=expect) as info:
        load_blade_weights(full_meta_model, _manifest_with(edit))
    assert isinstance(info.value, InputError)


def test_differing_alias_tensors_are_rejected():
    state = {"pose_backbone.bbox_embed.0.layers.0.bias": torch.zeros(4),
             "pose_backbone.transformer.decoder.bbox_embed.0.layers.0.bias": torch.ones(4)}
    with pytest.raises(BladeCheckpointError, match="should hold one shared tensor"):
        match_state(Blade(tiny_config()), state)


# ---- files ------------------------------------------------------------------------------------
class _ConfigDict(dict):
    """Pickles under mmcv's name and the way addict's ``Dict`` (mmcv 1.x ``ConfigDict``) does."""

    def __getstate__(self):
        return self

    def __setstate__(self, state):
        self.update(state)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.fixture
def fake_mmcv(monkeypatch):
    module = types.ModuleType("mmcv.utils.config")
    _ConfigDict.__module__, _ConfigDict.__qualname__ = "mmcv.utils.config", "ConfigDict"
    module.ConfigDict = _ConfigDict
    for name in ("mmcv", "mmcv.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "mmcv.utils.config", module)
    return module


@pytest.fixture(scope="module")
def tiny_model() -> Blade:
    return randomize_(Blade(tiny_config()).eval(), seed=3)


def _blade_state(model: Blade) -> dict[str, torch.Tensor]:
    """The tiny model's weights under BLADE checkpoint names, aliases and body model included."""
    state = {}
    for key, tensor in model.state_dict().items():
        part, rest = key.split(".", 1)
        if part == "depthnet":
            state["module." + rest] = tensor
            continue
        rest = rest.replace("backbone.", "backbone.0.body.", 1) if rest.startswith("backbone.") else rest
        rest = rest.replace("backbone_controlnet.", "backbone_controlnet.0.body.", 1)
        state["pose_backbone." + rest] = tensor
        for head in ("bbox_embed", "pose_hw_embed"):
            for transformer, suffix in (("transformer", ""), ("transformer_controlnet", "_controlnet")):
                prefix = f"{transformer}.decoder.{head}."
                if rest.startswith(prefix):
                    state[f"pose_backbone.{head}{suffix}." + rest[len(prefix):]] = tensor
                    if head == "pose_hw_embed":  # one module listed once per body layer
                        state[f"pose_backbone.{prefix}3." + rest[len(prefix) + 2:]] = tensor
    state["pose_backbone.body_model.v_template"] = torch.zeros(5, 3)
    state["body_model_smplx_neutral.shapedirs"] = torch.zeros(5, 3, 2)
    return state


def _mmcv_checkpoint(model: Blade, meta_extra: dict) -> dict:
    meta = {"mmcv_version": "1.5.3", "time": "Mon Jan  1 00:00:00 2025", "epoch": 2, "iter": 10,
            "seed": np.int64(7), "hook_msgs": {"best_score": np.float64(0.5)}, "env_info": "x",
            "hist": np.arange(3.0), **meta_extra}
    optimizer = {"pose_backbone": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
                                   "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}]}}
    return {"meta": meta, "state_dict": collections.OrderedDict(_blade_state(model)), "optimizer": optimizer}


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_mmcv_checkpoint_loads_with_weights_only(tmp_path, fake_mmcv, tiny_model):
    path = tmp_path / "epoch_2.pth"
    checkpoint = _mmcv_checkpoint(tiny_model, {"mmhuman3d_version": "0.11.0"})
    checkpoint["meta"] = _ConfigDict(checkpoint["meta"])  # mmcv saves the hook's ConfigDict as meta
    torch.save(checkpoint, path)
    fresh = Blade(tiny_config())
    check = load_blade_weights(fresh, path)
    assert check.ok and check.dropped == 2 and check.folded_aliases > 0
    _assert_same_weights(fresh, tiny_model)


def test_unknown_globals_are_refused_and_never_executed(tmp_path, tiny_model, capsys):
    path = tmp_path / "evil.pth"
    torch.save(_mmcv_checkpoint(tiny_model, {"payload": _Evil()}), path)
    with pytest.raises(BladeCheckpointError, match=r"builtins.print.*--allow-unsafe-pickle"):
        read_checkpoint(path)
    with pytest.raises(BladeCheckpointError):
        convert_blade_checkpoint(path, tmp_path / "out.safetensors", cfg=tiny_config())
    assert "must never run" not in capsys.readouterr().out
    assert not (tmp_path / "out.safetensors").exists()


def test_conversion_writes_canonical_safetensors(tmp_path, tiny_model):
    src, dst = tmp_path / "epoch_2.pth", tmp_path / "blade.safetensors"
    torch.save(_mmcv_checkpoint(tiny_model, {"note": datetime.timedelta(1)}), src)  # needs a full unpickle
    check = convert_blade_checkpoint(src, dst, allow_unsafe_pickle=True, cfg=tiny_config())
    assert check.ok
    from safetensors import safe_open

    with safe_open(str(dst), framework="pt") as handle:
        keys = set(handle.keys())
        assert handle.metadata()["format"] == "streamer-blade-v1"
    assert len(keys) == check.matched  # each tensor once, no body model, no aliases
    assert "pose_backbone.transformer.decoder.pose_hw_embed.0.layers.0.weight" in keys
    assert not any(k.startswith(("module.", "pose_backbone.bbox_embed", "body_model")) for k in keys)
    fresh = Blade(tiny_config())
    load_blade_weights(fresh, dst)
    _assert_same_weights(fresh, tiny_model)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_lazy_check_reads_keys_and_shapes_only(tmp_path, fake_mmcv, tiny_model, suffix):
    pth = tmp_path / "epoch_2.pth"
    torch.save(_mmcv_checkpoint(tiny_model, {}), pth)
    path = pth
    if suffix == ".safetensors":
        path = tmp_path / "blade.safetensors"
        convert_blade_checkpoint(pth, path, cfg=tiny_config())
    assert all(t.is_meta for t in read_checkpoint(path, lazy=True).values())
    assert check_blade_checkpoint(path, tiny_config()).ok
    full = check_blade_checkpoint(path)  # against the full-size network: every shape differs
    assert not full.ok and full.mismatched


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        check_blade_checkpoint(tmp_path / "nope.pth")


def test_predictor_from_checkpoint_builds_on_meta_and_assigns_weights(tmp_path, tiny_model):
    path = tmp_path / "blade.safetensors"
    torch.save(_mmcv_checkpoint(tiny_model, {}), tmp_path / "epoch_2.pth")
    convert_blade_checkpoint(tmp_path / "epoch_2.pth", path, cfg=tiny_config())
    predictor = BladePredictor.from_checkpoint(path, cfg=tiny_config(), pose_side_px=64)
    assert not any(t.is_meta for t in predictor.model.state_dict().values())
    _assert_same_weights(predictor.model, tiny_model)


def test_cli_convert_and_check_errors(tmp_path):
    from conftest import run_cli

    junk = tmp_path / "epoch_2.pth"
    junk.write_text("not a checkpoint")
    proc = run_cli("blade", "convert", str(junk), str(tmp_path / "b.safetensors"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("blade", "convert", str(tmp_path / "none.pth"), str(tmp_path / "b.safetensors"))
    assert proc.returncode == 2 and "not found" in proc.stderr

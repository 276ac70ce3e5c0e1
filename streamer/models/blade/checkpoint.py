"""Loading BLADE's ``epoch_2.pth`` (an mmcv checkpoint) without unrestricted unpickling.

Shape legend: none (key and shape bookkeeping only).

Steps, shared by loading, conversion and the lazy check:

1. **Read.** ``.safetensors`` files are read directly. Pickled ``.pth`` files go through
   ``torch.load(weights_only=True)`` with a small allow-list: numpy scalar/array/dtype
   reconstruction (mmcv stores evaluation scores and seeds as numpy values in ``meta``) and an
   inert mapping (``OrderedDict``) standing in for mmcv/addict ``ConfigDict`` (mmcv saves the
   checkpoint hook's ``meta`` argument, a ``ConfigDict``, as the checkpoint's ``meta``).
   Anything else fails with :class:`BladeCheckpointError` naming the globals; only
   :func:`convert_blade_checkpoint` with ``allow_unsafe_pickle=True`` falls back to a full
   unpickle, once, to write a ``.safetensors`` copy.
2. **Canonicalise.** Take ``state_dict`` (mmcv) or ``model`` (AiOS) if present, remove
   ``module`` path components (DDP wrappers), drop body-model, SMPL-conversion and renderer
   entries, and fold the aliases: AiOS registers each decoder head twice
   (``pose_backbone.bbox_embed.i`` is ``pose_backbone.transformer.decoder.bbox_embed.i``;
   ``*_controlnet`` ones belong to ``transformer_controlnet``) and the keypoint-size heads
   (``pose_hw_embed``, ``pose_hand_hw_embed``, ``pose_face_hw_embed``) are one module per decoder
   listed once per layer. Every alias group must hold equal tensors; it is kept once under the
   ``transformer(_controlnet).decoder.<head>`` name (index 0 for the shared heads).
3. **Route.** ``depth_backbone.`` / ``depth_interface.`` / ``depth_head.`` keys go to
   ``depthnet.``, ``pose_backbone.`` keys to ``posenet.`` (``backbone.0.body.`` -> ``backbone.``),
   then a strict load reports missing, unexpected and mis-shaped keys in one error.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from streamer.errors import InputError
from streamer.models.blade.depthnet import DepthNet
from streamer.models.blade.model import Blade, BladeConfig
from streamer.models.blade.posenet import PoseNet
from streamer.models.pickle_globals import numpy_globals

#: top-level prefixes of the parts this package implements
MODEL_PREFIXES = ("depth_backbone.", "depth_interface.", "depth_head.", "pose_backbone.")
DEPTH_PREFIXES = MODEL_PREFIXES[:3]
POSE_PREFIX = "pose_backbone."
#: BLADE checkpoint entries that are not network weights (body models, conversion, renderers)
IGNORED_PREFIXES = (
    "body_model_smplx_neutral.", "body_model_smplx_male.", "body_model_smplx_female.",
    "body_model_train.", "body_model_test.", "conversion_destination_model.",
    "uv_renderer.", "depth_renderer.", "pose_backbone.body_model.",
)
#: AiOS decoder heads registered both on the model and on its decoder
DECODER_HEADS = (
    "bbox_embed", "class_embed", "pose_embed", "pose_hw_embed", "bbox_hand_embed", "bbox_hand_hw_embed",
    "pose_hand_embed", "pose_hand_hw_embed", "bbox_face_embed", "bbox_face_hw_embed", "pose_face_embed",
    "pose_face_hw_embed",
)
#: heads that are a single module repeated for every decoder layer
SHARED_HEADS = ("pose_hw_embed", "pose_hand_hw_embed", "pose_face_hw_embed")
#: shown in error messages before "... and N more"
_SHOW = 8

_HEAD_ALIAS = re.compile(r"^pose_backbone\.(" + "|".join(DECODER_HEADS) + r")(_controlnet)?\.(.*)$")
_SHARED = re.compile(r"^(pose_backbone\.transformer(?:_controlnet)?\.decoder\.(?:"
                     + "|".join(SHARED_HEADS) + r"))\.\d+\.(.*)$")


class BladeCheckpointError(InputError):
    """The BLADE checkpoint cannot be read safely or does not match the network."""


# ---- 1. reading ---------------------------------------------------------------------------------
def allowed_globals() -> list:
    """The complete allow-list used for ``weights_only`` loading of BLADE/mmcv checkpoints."""
    # addict-based ConfigDicts pickle as NEWOBJ + SETITEMS + BUILD(self); the weights-only
    # unpickler accepts that sequence for OrderedDict, which then stands in as an inert mapping
    stand_ins = [(OrderedDict, name) for name in (
        "mmcv.utils.config.ConfigDict", "mmengine.config.config.ConfigDict", "addict.addict.Dict")]
    return numpy_globals() + stand_ins


def _allowed_names() -> set[str]:
    return {g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}" for g in allowed_globals()}


def _torch_load_safe(path: Path, **kwargs) -> object:
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, weights_only=True, **kwargs)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or others here
        try:
            needed = sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(path)) - _allowed_names())
        except Exception:  # legacy (non-zip) files cannot be scanned
            needed = []
        hint = (f" It needs globals outside the allow-list: {', '.join(needed[:_SHOW])}." if needed else "")
        raise BladeCheckpointError(
            f"cannot read {path} with weights_only=True ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})."
            f"{hint} If it is the real epoch_2.pth and you trust it, convert it once with "
            "`streamer blade convert SRC DST.safetensors --allow-unsafe-pickle` and use the .safetensors file."
        ) from exc


def _extract_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    state = obj
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                state = obj[key]
                break
    if not isinstance(state, Mapping):
        raise BladeCheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise BladeCheckpointError(f"{path}: {len(bad)} state-dict entries are not tensors, e.g. {bad[:_SHOW]}")
    return dict(state)


def read_checkpoint(path: str | os.PathLike, lazy: bool = False) -> dict[str, torch.Tensor]:
    """Raw state dict of a BLADE ``.pth`` or a converted ``.safetensors`` file.

    Args:
        path: checkpoint file.
        lazy: return meta-device tensors (shapes and dtypes only; nothing is read into memory).
    """
    path = Path(path)
    if not path.is_file():
        raise BladeCheckpointError(f"BLADE checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            if lazy:
                return {k: _meta_like(handle.get_slice(k)) for k in handle.keys()}  # noqa: SIM118
            return {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    if lazy:
        with torch.serialization.skip_data():
            return _extract_state_dict(_torch_load_safe(path, map_location="meta"), path)
    return _extract_state_dict(_torch_load_safe(path, map_location="cpu"), path)


_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                       "U8": torch.uint8, "BOOL": torch.bool}


def _meta_like(tensor_slice) -> torch.Tensor:
    return torch.empty(tensor_slice.get_shape(), dtype=_SAFETENSORS_DTYPES[tensor_slice.get_dtype()], device="meta")


# ---- 2. canonical names -------------------------------------------------------------------------
def canonical_key(key: str, extra_ignored_prefixes: Iterable[str] = ()) -> str | None:
    """The one name of ``key`` after alias folding; None if the entry is not a network weight."""
    # DDP/MMDistributedDataParallel wrappers (BLADE wraps its sub-networks one by one) add a
    # "module" path component anywhere; no BLADE parameter path has a component of that name
    key = ".".join(part for part in key.split(".") if part != "module")
    if key.startswith(IGNORED_PREFIXES) or key.startswith(tuple(extra_ignored_prefixes)):
        return None
    match = _HEAD_ALIAS.match(key)
    if match:
        head, controlnet, rest = match.groups()
        transformer = "transformer_controlnet" if controlnet else "transformer"
        key = f"pose_backbone.{transformer}.decoder.{head}.{rest}"
    match = _SHARED.match(key)
    if match:
        key = f"{match.group(1)}.0.{match.group(2)}"
    return key


@dataclass
class CanonicalState:
    """Canonical tensors plus what was folded or dropped on the way."""

    tensors: dict[str, torch.Tensor]
    aliases: dict[str, list[str]] = field(default_factory=dict)  # canonical -> every source key
    dropped: list[str] = field(default_factory=list)


def canonicalize(state: Mapping[str, torch.Tensor], extra_ignored_prefixes: Iterable[str] = ()) -> CanonicalState:
    """Drop non-network entries and fold alias groups (their tensors must be equal)."""
    extra = tuple(extra_ignored_prefixes)
    out = CanonicalState({})
    for key, tensor in state.items():
        name = canonical_key(key, extra)
        if name is None:
            out.dropped.append(key)
            continue
        sources = out.aliases.setdefault(name, [])
        if sources:
            first = out.tensors[name]
            same = first.shape == tensor.shape and (first.is_meta or tensor.is_meta or torch.equal(first, tensor))
            if not same:
                raise BladeCheckpointError(
                    f"checkpoint keys {sources[0]!r} and {key!r} should hold one shared tensor but differ")
        else:
            out.tensors[name] = tensor
        sources.append(key)
    return out


# ---- 3. routing into the modules ----------------------------------------------------------------
def _route(canonical: str) -> str | None:
    """Blade module key of a canonical checkpoint key (None if it belongs to no known part)."""
    if canonical.startswith(DEPTH_PREFIXES):
        return "depthnet." + canonical
    if canonical.startswith(POSE_PREFIX):
        key = canonical[len(POSE_PREFIX):]
        for trunk in ("backbone.", "backbone_controlnet."):
            if key.startswith(trunk + "0.body."):
                return "posenet." + trunk + key[len(trunk + "0.body."):]
        return "posenet." + key
    return None


def _part_prefix(model: nn.Module) -> str:
    if isinstance(model, Blade):
        return ""
    if isinstance(model, DepthNet):
        return "depthnet."
    if isinstance(model, PoseNet):
        return "posenet."
    raise TypeError(f"expected Blade, DepthNet or PoseNet, got {type(model).__name__}")


@dataclass(frozen=True)
class KeyCheck:
    """Result of matching a checkpoint against a module."""

    missing: list[str]  # module keys the checkpoint lacks
    unexpected: list[str]  # checkpoint keys the module does not have
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]]  # key, checkpoint shape, module shape
    matched: int
    dropped: int  # non-network entries ignored
    folded_aliases: int  # duplicate keys folded into their canonical entry

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        def few(items: list) -> str:
            shown = ", ".join(str(i) for i in items[:_SHOW])
            return shown + (f" ... and {len(items) - _SHOW} more" if len(items) > _SHOW else "")

        parts = [f"{self.matched} tensors match"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing: {few(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected: {few(self.unexpected)}")
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} with wrong shape (key, file, model): {few(self.mismatched)}")
        return "; ".join(parts)


def match_state(model: nn.Module, state: Mapping[str, torch.Tensor], extra_ignored_prefixes: Iterable[str] = ()
                ) -> tuple[KeyCheck, dict[str, torch.Tensor]]:
    """Canonicalise, route and compare ``state`` with ``model`` (Blade, DepthNet or PoseNet).

    Returns:
        The comparison and the routed tensors keyed like ``model.state_dict()``. Keys of the
        other network are ignored when ``model`` is only one of them.
    """
    prefix = _part_prefix(model)
    canon = canonicalize(state, extra_ignored_prefixes)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    routed: dict[str, torch.Tensor] = {}
    unexpected, mismatched = [], []
    for name, tensor in canon.tensors.items():
        target = _route(name)
        if target is not None and prefix and not target.startswith(prefix):
            continue  # the other network's weights
        key = target[len(prefix):] if target is not None else None
        if key is None or key not in expected:
            unexpected.append(name)
        elif tuple(tensor.shape) != expected[key]:
            mismatched.append((name, tuple(tensor.shape), expected[key]))
        else:
            routed[key] = tensor
    missing = sorted(set(expected) - set(routed) - {m[0] for m in mismatched})
    folded = sum(len(v) - 1 for v in canon.aliases.values())
    check = KeyCheck(missing, unexpected, mismatched, len(routed), len(canon.dropped), folded)
    return check, routed


def load_blade_weights(model: nn.Module, source: str | os.PathLike | Mapping[str, torch.Tensor],
                       extra_ignored_prefixes: Iterable[str] = ()) -> KeyCheck:
    """Strictly load a BLADE checkpoint (path or state dict) into Blade, DepthNet or PoseNet.

    A model built under ``torch.device("meta")`` gets the checkpoint's tensors assigned (fast, no
    random initialisation, float32); otherwise they are copied into the existing parameters.

    Raises:
        BladeCheckpointError: unreadable file, differing aliases, or any missing, unexpected or
            mis-shaped key (the message lists the first few of each and their counts).
    """
    state = source if isinstance(source, Mapping) else read_checkpoint(source)
    check, routed = match_state(model, state, extra_ignored_prefixes)
    if not check.ok:
        where = source if not isinstance(source, Mapping) else "state dict"
        raise BladeCheckpointError(f"BLADE checkpoint {where} does not fit {type(model).__name__}: {check.summary()}")
    on_meta = any(t.is_meta for t in model.state_dict().values())
    if on_meta and any(t.is_meta for t in routed.values()):
        return check  # a shape-only check: nothing to copy
    # a model built on the meta device takes the checkpoint tensors as they are (no init, no copy)
    model.load_state_dict(routed, strict=True, assign=on_meta)
    if on_meta:
        model.float()
    return check


def check_blade_checkpoint(path: str | os.PathLike, cfg: BladeConfig | None = None,
                           extra_ignored_prefixes: Iterable[str] = ()) -> KeyCheck:
    """Key/shape check for ``streamer doctor``: reads no tensor data and builds the model on 'meta'."""
    state = read_checkpoint(path, lazy=True)
    with torch.device("meta"):
        model = Blade(cfg)
    return match_state(model, state, extra_ignored_prefixes)[0]


def convert_blade_checkpoint(src: str | os.PathLike, dst_safetensors: str | os.PathLike,
                             allow_unsafe_pickle: bool = False, cfg: BladeConfig | None = None,
                             extra_ignored_prefixes: Iterable[str] = ()) -> KeyCheck:
    """One-time conversion of ``epoch_2.pth`` to a ``.safetensors`` file of canonical keys.

    The output holds each network tensor once under its canonical (original BLADE) name and is
    verified against the model for ``cfg`` (full size by default) before it is written.

    Args:
        src: BLADE checkpoint.
        dst_safetensors: output path (written atomically).
        allow_unsafe_pickle: unpickle ``src`` without restrictions if the safe path fails.
            **This can execute arbitrary code from the file**; only for files you trust.
        cfg: the configuration the weights must fit.
    """
    src, dst = Path(src), Path(dst_safetensors)
    try:
        state = read_checkpoint(src)
    except BladeCheckpointError:
        if not allow_unsafe_pickle:
            raise
        state = _extract_state_dict(torch.load(src, map_location="cpu", weights_only=False), src)
    with torch.device("meta"):
        model = Blade(cfg)
    check, _ = match_state(model, state, extra_ignored_prefixes)
    if not check.ok:
        raise BladeCheckpointError(f"{src} does not fit the BLADE network: {check.summary()}")
    canon = canonicalize(state, extra_ignored_prefixes)
    from safetensors.torch import save_file

    tensors, seen = {}, set()
    for name, tensor in canon.tensors.items():
        tensor = tensor.detach().contiguous()
        ptr = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        tensors[name] = tensor.clone() if ptr in seen else tensor  # safetensors refuses shared memory
        seen.add(ptr)
    tmp = dst.with_name(dst.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "streamer-blade-v1", "source": src.name})
    os.replace(tmp, dst)
    return check

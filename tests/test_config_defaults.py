"""One source of truth for config defaults: ``default.yaml``. Every dataclass that a stage builds
from a config section has defaults equal to the YAML's, and every ranged key exists."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from streamer.config import check_ranges, get, load_config, section_to
from streamer.errors import ConfigError

DEFAULTS = load_config()

#: (config section, "module:Dataclass") built with ``section_to``
SECTION_TO = [
    ("track", "streamer.tracking.tracker:TrackerConfig"),
    ("detect.pitch", "streamer.detection.pitch:PitchDetectorConfig"),
    ("detect.hog", "streamer.detection.hog:HogConfig"),
    ("detect.onnx", "streamer.models.onnx_detector:OnnxDetectorConfig"),
    ("calibrate", "streamer.soccer.calibrator:CalibratorConfig"),
    ("calibrate.outsiders", "streamer.soccer.outsiders:OutsiderConfig"),
    ("soccer", "streamer.stages.soccer:SoccerConfig"),
    ("soccer.teams", "streamer.soccer.teams:TeamConfig"),
    ("shots", "streamer.detection.shots:ShotConfig"),
]


def load(target: str) -> type:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def as_dict(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@pytest.mark.parametrize(("section", "target"), SECTION_TO)
def test_dataclass_defaults_equal_the_yaml(section, target):
    cls = load(target)
    from_yaml = section_to(cls, get(DEFAULTS, section), section)
    assert as_dict(from_yaml) == as_dict(cls()), f"{target} defaults differ from default.yaml's '{section}'"
    fields = {f.name for f in dataclasses.fields(cls)}
    scalars = {k for k, v in get(DEFAULTS, section).items() if not isinstance(v, dict)}
    assert scalars <= fields, f"'{section}' keys {sorted(scalars - fields)} reach no field of {target}"


def test_built_settings_equal_their_defaults():
    from streamer.smoothing.params import SmoothingParams
    from streamer.soccer.kinematics import KinematicsConfig
    from streamer.stages.mesh import build_fit_backend
    from streamer.stages.mesh_blade import BladeSettings, settings_from_config
    from streamer.stages.soccer import SoccerConfig

    assert as_dict(SmoothingParams.from_config(DEFAULTS["smooth"])) == as_dict(SmoothingParams())
    assert as_dict(SoccerConfig().kinematics()) == as_dict(KinematicsConfig())
    assert as_dict(settings_from_config(DEFAULTS["mesh"]["blade"])) == as_dict(BladeSettings())
    fitter = build_fit_backend(DEFAULTS["mesh"]).fitter
    assert as_dict(fitter.weights) == as_dict(type(fitter.weights)())
    assert as_dict(fitter.settings) == as_dict(type(fitter.settings)())


def test_every_ranged_key_is_in_the_defaults():
    from streamer.io.identity_sink import IDENTITY_RANGES
    from streamer.pipeline import SHOT_RANGES
    from streamer.stages import detect, track

    check_ranges(DEFAULTS["identity"], IDENTITY_RANGES, "identity")
    check_ranges(DEFAULTS["shots"], SHOT_RANGES, "shots")
    check_ranges(DEFAULTS["track"], track.RANGES, "track")
    for backend, ranges in detect.RANGES.items():
        check_ranges(DEFAULTS["detect"][backend], ranges, f"detect.{backend}")


def test_an_identity_setting_out_of_range_is_refused():
    from streamer.io.identity_sink import build

    with pytest.raises(ConfigError, match="identity.kit_max"):
        build(load_config(None, ["identity.kit_max=1.5"]), live=False)


def test_a_malformed_refine_margin_is_refused_at_build():
    from streamer.stages import StageContext, build_stage

    with pytest.raises(ConfigError, match="refine_margin"):
        build_stage("detect", load_config(None, ["detect.blazepose.refine_margin=[0.1,0.2]"]),
                    StageContext("cpu", 25.0))


def test_a_ranged_key_missing_from_the_section_is_an_error():
    with pytest.raises(ConfigError, match="'track' lacks 'high_score'"):
        check_ranges({}, {"high_score": (0, 1)}, "track")

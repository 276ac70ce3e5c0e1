"""Config loading, merging and validation."""

from __future__ import annotations

import pytest

from streamer.config import config_digest, defaults, load_config, parse_override
from streamer.errors import ConfigError


def test_defaults_load_and_null_config_turns_overlay_off():
    assert load_config()["outputs"]["overlay"]["enabled"] is True
    null = load_config("null")
    assert null["outputs"]["overlay"]["enabled"] is False
    assert null["pipeline"]["stages"] == []
    assert load_config("configs/null.yaml") == null


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("pipeline.window=16", ("pipeline", "window"), 16),
        ("source.start_s=3", ("source", "start_s"), 3.0),  # int widened to float
        ("outputs.overlay.enabled=false", ("outputs", "overlay", "enabled"), False),
        ("outputs.overlay.preset=123", ("outputs", "overlay", "preset"), "123"),  # strings stay raw
        ("source.options.rtsp_transport=tcp", ("source", "options", "rtsp_transport"), "tcp"),
        ("pipeline.stages=[]", ("pipeline", "stages"), []),
    ],
)
def test_set_overrides(override, key, value):
    node = load_config(None, [override])
    for part in key:
        node = node[part]
    assert node == value
    assert type(node) is type(value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("pipeline.windw=3", "unknown config key 'pipeline.windw'"),
        ("nosuch=1", "unknown config key 'nosuch'"),
        ("pipeline.window=fast", "config key 'pipeline.window' must be a int"),
        ("pipeline.window=true", "config key 'pipeline.window' must be a int"),
        ("outputs.overlay.enabled=3", "config key 'outputs.overlay.enabled' must be a bool"),
        ("pipeline.device=tpu", "config key 'pipeline.device' must be one of cpu, cuda, auto"),
        ("outputs.overlay=1", "config key 'outputs.overlay' must be a mapping"),
        ("pipeline.window", "--set expects key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(None, [override])


def test_config_file_unknown_nested_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("outputs:\n  overlay:\n    colour: red\n")
    with pytest.raises(ConfigError, match="unknown config key 'outputs.overlay.colour'"):
        load_config(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "a: [1, 2\n"])
def test_config_file_that_is_not_a_mapping_or_not_yaml(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_error_is_also_value_error():
    with pytest.raises(ValueError):
        parse_override("a=1", defaults())


def test_digest_changes_with_config():
    assert config_digest(load_config()) == config_digest(load_config())
    assert config_digest(load_config()) != config_digest(load_config(None, ["pipeline.window=9"]))

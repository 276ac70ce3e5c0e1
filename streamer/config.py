"""Configuration: defaults from ``configs/default.yaml``, a user file, ``--set`` overrides.

The default file is the schema. Every key a config may set appears there, and
its default value gives its type. A user file and ``--set`` overrides are merged
onto the defaults key by key; an unknown key, a wrong type or a value outside a
key's choices raises :class:`~streamer.errors.ConfigError` naming the key.
A mapping whose default is empty (``{}``) is open: it takes any string keys.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from streamer.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"

#: keys whose string value must be one of a fixed set
CHOICES: dict[str, tuple[str, ...]] = {
    "source.live": ("auto", "live", "file"),
    "pipeline.device": ("cpu", "cuda", "auto"),
    "progress": ("auto", "rich", "plain", "off"),
    "smooth.mode": ("rts", "forward"),
    "outputs.overlay.mesh_body": ("convex", "wooden", "smplx"),
    "mesh.backend": ("fit", "blade"),
    "mesh.body_model": ("auto", "smplx", "mannequin"),
    "mesh.blade.dtype": ("bf16", "fp16", "fp32"),
    "batch.runner": ("auto", "ray", "local"),
    "keypoints.backend": ("blazepose", "onnx", "mmpose"),
}

Config = dict[str, Any]


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".splitlines()[0]) from exc


def resolve_config_path(name: str | Path) -> Path:
    """A config path as given, or the name of a built-in config (``null``, ``default``)."""
    path = Path(name)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    return CONFIG_DIR / f"{name}.yaml"


def defaults() -> Config:
    """A fresh copy of the default configuration."""
    data = _read_yaml(DEFAULT_CONFIG)
    if not isinstance(data, dict):
        raise ConfigError(f"{DEFAULT_CONFIG} must hold a mapping")
    return data


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__
    )


def _coerce(key: str, default: Any, value: Any) -> Any:
    """``value`` checked (and widened where lossless) against the type of ``default``."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = False
    if not ok:
        raise ConfigError(
            f"config key '{key}' must be a {_type_name(default)}, got {value!r} ({_type_name(value)})"
        )
    choices = CHOICES.get(key)
    if choices is not None and value not in choices:
        raise ConfigError(f"config key '{key}' must be one of {', '.join(choices)}; got {value!r}")
    return value


def merge(base: Config, update: Any, prefix: str = "") -> Config:
    """``base`` with ``update`` merged in; every key of ``update`` must exist in ``base``."""
    if not isinstance(update, dict):
        where = f"config key '{prefix.rstrip('.')}'" if prefix else "a config file"
        raise ConfigError(f"{where} must be a mapping, got {update!r}")
    out = copy.deepcopy(base)
    for raw_key, value in update.items():
        key = f"{prefix}{raw_key}"
        if not isinstance(raw_key, str) or raw_key not in base:
            raise ConfigError(f"unknown config key '{key}'")
        default = base[raw_key]
        if isinstance(default, dict):
            if not default:  # open mapping
                if not isinstance(value, dict):
                    raise ConfigError(f"config key '{key}' must be a mapping, got {value!r}")
                out[raw_key] = {str(k): v for k, v in value.items()}
            else:
                out[raw_key] = merge(default, value, prefix=f"{key}.")
        else:
            out[raw_key] = _coerce(key, default, value)
    return out


def parse_override(text: str, schema: Config) -> Config:
    """Turn ``a.b=c`` into a nested mapping ``{a: {b: c}}``.

    The value is parsed as YAML (numbers, booleans, lists), except that a key
    whose default is a string always receives the raw text.
    """
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    dotted, raw = text.split("=", 1)
    parts = dotted.strip().split(".")
    node: Any = schema
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            if isinstance(node, dict) and not node and depth == len(parts) - 1:
                node = None  # a new key of an open mapping
                break
            raise ConfigError(f"unknown config key '{dotted.strip()}'")
        node = node[part]
    if isinstance(node, str):
        value: Any = raw
    else:
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {dotted}: cannot parse value {raw!r}") from exc
    nested: Any = value
    for part in reversed(parts):
        nested = {part: nested}
    return nested


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the file at ``path`` (if any), then each ``a.b=c`` override."""
    config = defaults()
    schema = defaults()
    if path is not None:
        resolved = resolve_config_path(path)
        data = _read_yaml(resolved)
        if data is not None:
            config = merge(config, data)
    for text in overrides:
        config = merge(config, parse_override(text, schema))
    return config


def get(config: Config, dotted: str) -> Any:
    """``config['a']['b']`` for ``'a.b'``."""
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def in_range(section: dict[str, Any], key: str, low: float, high: float = float("inf"), *,
             prefix: str) -> Any:
    """``section[key]`` after checking ``low <= value <= high`` (ConfigError naming ``prefix.key``)."""
    value = section[key]
    if not low <= value <= high:
        raise ConfigError(f"config key '{prefix}.{key}' must be in [{low}, {high}], got {value}")
    return value


def check_ranges(section: dict[str, Any], ranges: dict[str, tuple[float, float]], prefix: str) -> None:
    """ConfigError naming the key when a number of ``section`` lies outside its (low, high) range,
    or is missing (a range for a key the defaults lack is a mistake in the code, not skipped)."""
    for key, (low, high) in ranges.items():
        if key not in section:
            raise ConfigError(f"config section '{prefix}' lacks '{key}'")
        in_range(section, key, low, high, prefix=prefix)


def section_to(cls: type, section: dict[str, Any], name: str) -> Any:
    """Build the dataclass ``cls`` from a config section with the same field names.

    Keys that are sub-sections (mappings) are skipped; lists become tuples.
    """
    import dataclasses

    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in section.items() if k in fields}
    missing = fields - set(values)
    if missing:
        raise ConfigError(f"config section '{name}' lacks {', '.join(sorted(missing))}")
    return cls(**values)


def config_digest(config: Config) -> str:
    """A stable sha256 of the resolved configuration (used to recognise finished runs)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()

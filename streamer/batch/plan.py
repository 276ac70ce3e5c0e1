"""What a batch will do: the clip list, one output folder per clip, which clips are done.

Inputs are files, glob patterns, or ``.txt`` lists of paths/URLs (one a line, ``#``
comments; relative paths are relative to the list's folder). Each clip gets
``OUT/<stem>/`` (``<stem>_2``... when stems collide). A clip is *done* when its
``run.json`` says it completed with the same configuration, where "same" ignores the
keys that only change how a run is executed, not what it produces (``progress`` and the
``batch`` section): a clip finished by ``streamer run`` with the same settings counts too.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.config import Config, config_digest
from streamer.errors import ConfigError, InputError
from streamer.io.source import parse_input

#: top-level config keys that do not change a clip's outputs (left out of the clip digest)
EXECUTION_KEYS = ("progress", "batch")
RUNNERS = ("auto", "ray", "local")


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """The ``batch`` config section (see ``configs/default.yaml``)."""

    runner: str = "auto"
    cpus_per_clip: float = 1.0
    gpus_per_clip: float = 0.0
    max_parallel: int = 0
    local_cpus: int = 0
    retries: int = 0
    start_timeout_s: float = 60.0

    @classmethod
    def from_config(cls, config: Config) -> BatchSettings:
        section = dict(config.get("batch") or {})
        known = {name: section[name] for name in cls.__dataclass_fields__ if name in section}
        settings = cls(**known)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.runner not in RUNNERS:
            raise ConfigError(f"config key 'batch.runner' must be one of {', '.join(RUNNERS)}; "
                              f"got {self.runner!r}")
        checks = (("cpus_per_clip", self.cpus_per_clip > 0), ("gpus_per_clip", self.gpus_per_clip >= 0),
                  ("max_parallel", self.max_parallel >= 0), ("local_cpus", self.local_cpus >= 0),
                  ("retries", self.retries >= 0), ("start_timeout_s", self.start_timeout_s > 0))
        for name, ok in checks:
            if not ok:
                rule = "> 0" if name in ("cpus_per_clip", "start_timeout_s") else ">= 0"
                raise ConfigError(f"config key 'batch.{name}' must be {rule}, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class ClipJob:
    """One clip: the input as the user wrote it, what a worker opens, where outputs go."""

    input: str  # as given (a path, URL or camera:N); the key in batch.json
    target: str  # absolute path for files, the URI otherwise
    run_dir: Path  # absolute


def _read_list(path: Path) -> list[str]:
    """Entries of a ``.txt`` list; relative file paths are taken relative to the list's folder."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read input list {path}: {exc}") from exc
    entries = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if parse_input(text).kind == "file" and not os.path.isabs(text):
            text = str(path.parent / text)
        entries.append(text)
    return entries


def expand_inputs(items: list[str]) -> list[str]:
    """Files, glob patterns and ``.txt`` lists of paths/URLs, in order, without repeats."""
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        if item.endswith(".txt") and Path(item).is_file():
            found = _read_list(Path(item))
        elif any(ch in item for ch in "*?["):
            found = sorted(glob.glob(item))
            if not found:
                raise InputError(f"no file matches {item!r}")
        else:
            found = [item]
        for entry in found:
            if entry not in seen:
                seen.add(entry)
                out.append(entry)
    return out


def clip_dirs(inputs: list[str], out: Path) -> dict[str, Path]:
    """One folder per clip under ``out``, named after the clip (suffixed when stems collide)."""
    dirs: dict[str, Path] = {}
    used: set[str] = set()
    for uri in inputs:
        stem = parse_input(uri).stem
        name, k = stem, 1
        while name in used:
            k += 1
            name = f"{stem}_{k}"
        used.add(name)
        dirs[uri] = out / name
    return dirs


def plan_jobs(inputs: list[str], out: Path) -> list[ClipJob]:
    """A :class:`ClipJob` per input, with absolute paths so any worker's cwd will do."""
    out = out.absolute()
    jobs = []
    for uri, run_dir in clip_dirs(inputs, out).items():
        spec = parse_input(uri)
        target = str(Path(uri).absolute()) if spec.kind == "file" else uri
        jobs.append(ClipJob(uri, target, run_dir))
    return jobs


def clip_digest(config: Config) -> str:
    """sha256 of the parts of ``config`` that decide a clip's outputs."""
    return config_digest({k: v for k, v in config.items() if k not in EXECUTION_KEYS})


def already_done(run_dir: Path, digest: str) -> bool:
    """True when ``run_dir/run.json`` records a completed run whose config has this clip digest."""
    try:
        report: Any = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(report, dict) or report.get("status") != "completed":
        return False
    config = report.get("config")
    return isinstance(config, dict) and clip_digest(config) == digest

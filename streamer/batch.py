"""``streamer batch``: many clips, one output folder each, resumable.

Clips run one after another in this process. A clip whose ``run.json`` says it
completed with the same configuration is skipped, so a batch interrupted by a
crash or Ctrl-C picks up where it stopped. A failing clip never stops the
others; ``batch.json`` lists every clip's status, reason and timing.
"""

from __future__ import annotations

import glob
import json
import sys
import time
from pathlib import Path
from typing import Any

from streamer.config import Config, config_digest
from streamer.errors import InputError, StreamerError
from streamer.io.atomic import write_json
from streamer.io.source import parse_input


def expand_inputs(items: list[str]) -> list[str]:
    """Files, glob patterns and ``.txt`` lists of paths/URLs, in order, without repeats."""
    out: list[str] = []
    for item in items:
        if item.endswith(".txt") and Path(item).is_file():
            lines = Path(item).read_text(encoding="utf-8").splitlines()
            found = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        elif any(ch in item for ch in "*?["):
            found = sorted(glob.glob(item))
            if not found:
                raise InputError(f"no file matches {item!r}")
        else:
            found = [item]
        out.extend(f for f in found if f not in out)
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


def already_done(run_dir: Path, digest: str) -> bool:
    """True when ``run_dir/run.json`` records a completed run with this config."""
    try:
        report = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return report.get("status") == "completed" and report.get("config_sha256") == digest


def run_batch(items: list[str], out: Path, config: Config) -> int:
    """Run every clip; exit code 0 only if all succeeded (or were already done)."""
    from streamer.pipeline import Pipeline, prepare_output_dir

    inputs = expand_inputs(items)
    prepare_output_dir(out)
    digest = config_digest(config)
    results: list[dict[str, Any]] = []
    print(f"batch: {len(inputs)} clips, one by one", file=sys.stderr)
    pipeline = Pipeline(config)
    for uri, run_dir in clip_dirs(inputs, out).items():
        entry: dict[str, Any] = {"input": uri, "output_dir": str(run_dir)}
        t0 = time.perf_counter()
        if already_done(run_dir, digest):
            entry["status"] = "skipped"
        else:
            try:
                result = pipeline.run(uri, run_dir)
                entry.update(status=result.status, error=result.error,
                             frames=result.report["counts"]["frames_processed"])
            except StreamerError as exc:
                entry.update(status="failed", error=str(exc))
        entry["wall_s"] = round(time.perf_counter() - t0, 3)
        results.append(entry)
        print(f"batch: {uri}: {entry['status']}" + (f" ({entry['error']})" if entry.get("error") else ""),
              file=sys.stderr)
        write_json(out / "batch.json", {"config_sha256": digest, "clips": results})
        if entry["status"] == "interrupted":
            return 130  # Ctrl-C stops the batch; a rerun resumes it
    ok = all(r["status"] in ("completed", "skipped") for r in results)
    return 0 if ok else 1

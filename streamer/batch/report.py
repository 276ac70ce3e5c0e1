"""``OUT/batch.json``: every clip's status, one-line reason and timing, kept current.

The file is rewritten temp-then-rename after every change (a clip finishing, the batch
ending), so a crash at any moment leaves the last complete version. Layout::

    {"status": "running" | "finished" | "interrupted" | "error" (the engine failed mid-way),
     "config_sha256": clip digest (see streamer.batch.plan.clip_digest),
     "runner": "ray" | "local" | "none" (all done already), "engine": {...what the runner ran on...},
     "started_at": ISO time, "wall_s": whole batch, "engine_start_s": starting/joining Ray,
     "counts": {"completed": n, "skipped": n, "failed": n, "interrupted": n, "pending": n},
     "throughput": {"clips": clips run now, "frames": n, "processing_s": wall_s - engine_start_s,
                    "clips_per_min": ..., "frames_per_s": ...},
     "clips": [entry, ...]}      # input order; entry keys in streamer.batch.clip

A clip that was never started (or cancelled before it began) stays ``pending``.
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path
from typing import Any

from streamer.batch.clip import base_entry
from streamer.batch.plan import ClipJob
from streamer.io.atomic import write_json

STATUSES = ("completed", "skipped", "failed", "interrupted", "pending")
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class BatchReport:
    """The entries of every clip, in input order, mirrored to ``path``."""

    def __init__(self, path: Path, jobs: list[ClipJob], digest: str) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {j.input: base_entry(j.input, str(j.run_dir)) for j in jobs}
        self.meta: dict[str, Any] = {
            "status": "running",
            "config_sha256": digest,
            "runner": "",
            "engine": {},
            "started_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        self.engine_start_s = 0.0
        self._t0 = time.perf_counter()

    def mark_skipped(self, job: ClipJob) -> None:
        self.entries[job.input]["status"] = "skipped"

    def record(self, entry: dict[str, Any]) -> None:
        """Store a finished clip's entry and rewrite the file."""
        self.entries[entry["input"]].update(entry)
        self.write()

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for entry in self.entries.values():
            out[entry["status"]] = out.get(entry["status"], 0) + 1
        return out

    def throughput(self, wall_s: float) -> dict[str, float | int]:
        """Clips and frames per unit of processing time (engine start-up excluded)."""
        ran = [e for e in self.entries.values() if "wall_s" in e]
        done = [e for e in ran if e["status"] == "completed"]
        frames = sum(int(e.get("frames", 0)) for e in ran)
        processing = max(1e-9, wall_s - self.engine_start_s)
        return {
            "clips": len(ran),
            "frames": frames,
            "processing_s": round(processing, 3),
            "clips_per_min": round(60.0 * len(done) / processing, 3),
            "frames_per_s": round(frames / processing, 2),
        }

    def as_dict(self) -> dict[str, Any]:
        wall = time.perf_counter() - self._t0
        return {
            **self.meta,
            "wall_s": round(wall, 3),
            "engine_start_s": round(self.engine_start_s, 3),
            "counts": self.counts(),
            "throughput": self.throughput(wall),
            "clips": list(self.entries.values()),
        }

    def write(self) -> None:
        write_json(self.path, self.as_dict())

    def finish(self, status: str) -> int:
        """Write the final file with ``status`` (finished | interrupted | error); the exit code:
        0 every clip done, 130 interrupted, 1 some clip failed or the batch broke off."""
        self.meta["status"] = status
        self.write()
        if status == "interrupted":
            return EXIT_INTERRUPTED
        counts = self.counts()
        return EXIT_OK if counts["completed"] + counts["skipped"] == len(self.entries) else EXIT_FAILED

    def summary(self) -> str:
        """One line: the counts that are not zero, the time, where the report is."""
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items() if n)
        data = self.as_dict()
        rate = data["throughput"]
        speed = ""
        if rate["clips"]:
            speed = f", {rate['clips_per_min']:.1f} clips/min, {rate['frames_per_s']:.1f} frames/s"
        return f"batch: {counts or 'no clips'} in {data['wall_s']:.1f} s{speed}; see {self.path}"

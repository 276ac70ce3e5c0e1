"""The fallback runner: clips one after another in this process (no Ray needed).

Ctrl-C reaches the running clip's pipeline, which finalises that clip's outputs and
reports it ``interrupted``; the runner then stops, leaving the rest ``pending``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamer.batch.clip import execute_clip
from streamer.batch.plan import ClipJob
from streamer.batch.progress import BatchProgress
from streamer.config import Config


def run_local(
    jobs: list[ClipJob],
    config: Config,
    on_done: Callable[[dict[str, Any]], None],
    progress: BatchProgress,
) -> bool:
    """Run ``jobs`` in order, calling ``on_done(entry)`` after each; True if interrupted."""
    for job in jobs:
        entry = execute_clip(job.input, job.target, str(job.run_dir), config, on_frames=progress.frames)
        on_done(entry)
        if entry["status"] == "interrupted":
            return True
    return False

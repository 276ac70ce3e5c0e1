"""One clip of a batch: run the pipeline, never raise, return a ``batch.json`` entry.

:func:`execute_clip` is what both runners call: in this process (one by one) or inside
a Ray worker. Whatever goes wrong with one clip (bad input, a broken stream, a bug in
a stage) ends up as ``status`` + a one-line ``error`` in its entry, so it can never stop
the other clips. Only ``KeyboardInterrupt`` gets out: the pipeline turns it into an
``interrupted`` run with its outputs finalised, and the runner stops scheduling.

Entry keys: ``input``, ``output_dir``, ``status`` (completed | failed | interrupted, plus
``skipped`` and ``pending`` set by the runner), ``error`` (one line, "" when completed),
``run_status`` (the pipeline's own status: completed | damaged | stream_error |
output_error | failed | interrupted), ``frames``, ``wall_s``, ``fps``, ``worker`` (host:pid).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

from streamer.config import Config
from streamer.errors import StreamerError

MAX_REASON_CHARS = 300


def one_line(text: str, fallback: str = "") -> str:
    """The first non-empty line of ``text``, at most :data:`MAX_REASON_CHARS` long."""
    for line in str(text).splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"
    return fallback


def exception_reason(exc: BaseException) -> str:
    """``str(exc)`` in one line; the type name first for errors that are not ours (bugs)."""
    text = one_line(str(exc), type(exc).__name__)
    if isinstance(exc, StreamerError) or text == type(exc).__name__:
        return text
    return f"{type(exc).__name__}: {text}"


def base_entry(input_uri: str, output_dir: str) -> dict[str, Any]:
    """The entry of a clip before (or without) running it."""
    return {"input": input_uri, "output_dir": output_dir, "status": "pending", "error": ""}


def limit_threads(cpus: float) -> None:
    """Keep OpenCV's pool within the CPUs Ray reserved for this clip (Ray already sets OMP's)."""
    import cv2

    cv2.setNumThreads(max(1, int(round(cpus))))


def execute_clip(
    input_uri: str,
    target: str,
    output_dir: str,
    config: Config,
    *,
    cpus: float = 0.0,
    on_frames: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the pipeline on ``target`` into ``output_dir``; the entry for ``batch.json``.

    Args:
        input_uri: the input as the user wrote it (the entry's key).
        target: what the source opens (absolute path or URI).
        config: resolved configuration for the clip.
        cpus: CPUs reserved for this clip (Ray); > 0 caps OpenCV's threads to it.
        on_frames: called with the running frame count (progress).
    """
    from streamer.pipeline import Pipeline

    entry = base_entry(input_uri, output_dir)
    entry["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    t0 = time.perf_counter()
    try:
        if cpus > 0:
            limit_threads(cpus)
        result = Pipeline(config).run(target, output_dir, on_frames=on_frames)
    except Exception as exc:  # the isolation boundary: a bad input or a bug must not stop the batch
        entry.update(status="failed", error=exception_reason(exc))
    else:
        frames = int(result.report.get("counts", {}).get("frames_processed", 0))
        status = result.status if result.status in ("completed", "interrupted") else "failed"
        entry.update(status=status, error=one_line(result.error), run_status=result.status, frames=frames,
                     fps=result.report.get("fps", 0.0))
    entry["wall_s"] = round(time.perf_counter() - t0, 3)
    return entry

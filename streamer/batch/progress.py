"""Progress across the clips of a batch, on stderr: a rich bar on a terminal, plain lines otherwise.

The bar counts finished clips (skipped ones start it off) and shows failures, frames
and clips/min; each finished clip also gets a log line above it. With ``progress:
off`` only failures are printed. The per-frame progress of single runs is switched off
inside a batch (two live displays would fight over the terminal).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO


class BatchProgress(Protocol):
    def note(self, text: str) -> None: ...
    def frames(self, n: int) -> None: ...
    def clip_done(self, entry: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


def describe(entry: dict[str, Any]) -> str:
    """``a.mp4: completed (120 frames, 4.2 s)`` / ``b.mp4: failed (reason)``."""
    if entry.get("error"):
        return f"{entry['input']}: {entry['status']} ({entry['error']})"
    detail = f" ({entry.get('frames', 0)} frames, {entry['wall_s']:.1f} s)" if "wall_s" in entry else ""
    return f"{entry['input']}: {entry['status']}{detail}"


class PlainBatchProgress:
    """A line per finished clip, ``[done/total]`` first."""

    def __init__(self, total: int, done: int, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.total, self.done, self.quiet = total, done, quiet
        self.stream = stream or sys.stderr

    def note(self, text: str) -> None:
        print(f"batch: {text}", file=self.stream, flush=True)

    def frames(self, n: int) -> None:
        pass

    def clip_done(self, entry: dict[str, Any]) -> None:
        self.done += 1
        if not self.quiet or entry["status"] not in ("completed", "skipped"):
            self.note(f"[{self.done}/{self.total}] {describe(entry)}")

    def close(self) -> None:
        pass


class RichBatchProgress:
    """One bar over the clips, with failures, frames processed and clips/min."""

    def __init__(self, total: int, done: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed, {task.fields[frames]} frames, "
                       "{task.fields[rate]:.1f} clips/min"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._progress.start()
        self._task = self._progress.add_task("batch", total=total, completed=done, failed=0, frames=0,
                                             rate=0.0)
        self._t0 = time.monotonic()
        self._finished = self._failed = self._frames_done = 0

    def note(self, text: str) -> None:
        self._progress.console.print(f"batch: {text}", highlight=False, markup=False)

    def frames(self, n: int) -> None:
        self._progress.update(self._task, frames=self._frames_done + n)

    def clip_done(self, entry: dict[str, Any]) -> None:
        self._finished += 1
        self._failed += entry["status"] == "failed"
        self._frames_done += int(entry.get("frames", 0))
        rate = 60.0 * self._finished / max(1e-9, time.monotonic() - self._t0)
        self._progress.update(self._task, advance=1, failed=self._failed, frames=self._frames_done, rate=rate)
        self.note(describe(entry))

    def close(self) -> None:
        self._progress.stop()


def make_batch_progress(mode: str, total: int, done: int) -> BatchProgress:
    """``auto`` = rich when stderr is a terminal, plain lines otherwise; ``off`` prints failures only."""
    if mode == "auto":
        mode = "rich" if sys.stderr.isatty() else "plain"
    if mode == "rich":
        return RichBatchProgress(total, done)
    return PlainBatchProgress(total, done, quiet=mode == "off")

"""Progress reporting: a rich bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def update(self, frames: int) -> None: ...
    def close(self) -> None: ...


def _eta(done: int, total: int | None, rate: float) -> str:
    if not total or rate <= 0 or done >= total:
        return ""
    return f" ETA {max(0.0, (total - done) / rate):.0f} s"


class PlainProgress:
    """One line every ``every_s`` seconds: frames, fps and ETA."""

    def __init__(self, label: str, total: int | None, *, every_s: float = 5.0,
                 stream: TextIO | None = None) -> None:
        self.label, self.total, self.every_s = label, total, every_s
        self.stream = stream or sys.stdout
        self.t0 = self.last = time.monotonic()
        self.frames = 0

    def _line(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self.t0)
        rate = self.frames / elapsed
        of = f"/{self.total}" if self.total else ""
        return f"{self.label}: {self.frames}{of} frames, {rate:.1f} fps{_eta(self.frames, self.total, rate)}"

    def update(self, frames: int) -> None:
        self.frames = frames
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        print(self._line(), file=self.stream, flush=True)


class RichProgress:
    """A rich progress bar with frame count, fps and ETA."""

    def __init__(self, label: str, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[fps]:.1f} fps"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(label, total=total, fps=0.0)
        self.t0 = time.monotonic()

    def update(self, frames: int) -> None:
        fps = frames / max(1e-9, time.monotonic() - self.t0)
        self._progress.update(self._task, completed=frames, fps=fps)

    def close(self) -> None:
        self._progress.stop()


class NoProgress:
    def update(self, frames: int) -> None:
        pass

    def close(self) -> None:
        pass


def make_progress(mode: str, label: str, total: int | None) -> Progress:
    """``auto`` picks rich on a terminal and plain lines otherwise."""
    if mode == "auto":
        mode = "rich" if sys.stdout.isatty() else "plain"
    if mode == "rich":
        return RichProgress(label, total)
    if mode == "plain":
        return PlainProgress(label, total)
    return NoProgress()

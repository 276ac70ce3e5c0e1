"""Tidy CSV outputs, streamed and flushed as the run goes.

``tracks.csv`` has one row per player per frame. Its column names are a contract
other tools read (see the README); a value that is not known (no team yet, no
pitch calibration) is an empty cell, never a made-up number.

Rows go to ``<name>.partial`` and are flushed at least every ``flush_s``
seconds, so a killed run still leaves valid CSV up to the last flush; ``close``
renames the file into place.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamer.io.atomic import commit, partial_path
from streamer.records import Packet

TRACKS_COLUMNS: tuple[str, ...] = (
    "frame",
    "time_s",
    "player_id",
    "team",
    "x1",
    "y1",
    "x2",
    "y2",
    "score",
    "pitch_x",
    "pitch_y",
    "speed_mps",
)


def _finite(value: Any) -> float | None:
    """A float, or None (an empty cell) for NaN/inf."""
    value = float(value)
    return value if np.isfinite(value) else None


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


class CsvWriter:
    """A CSV file written temp-then-rename with periodic flushes."""

    def __init__(self, path: str | Path, columns: Sequence[str], *, flush_s: float = 1.0) -> None:
        self.path = Path(path)
        self.temp = partial_path(self.path)
        self.columns = tuple(columns)
        self.flush_s = flush_s
        self.rows_written = 0
        self._fh = open(self.temp, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._fh, lineterminator="\n")
        self._csv.writerow(self.columns)
        self._fh.flush()
        self._last_flush = time.monotonic()

    def write_rows(self, rows: Iterable[Sequence[str]]) -> None:
        """Append rows of already formatted cells (one per column)."""
        for row in rows:
            self._csv.writerow(row)
            self.rows_written += 1
        now = time.monotonic()
        if now - self._last_flush >= self.flush_s:
            self._fh.flush()
            self._last_flush = now

    def close(self) -> None:
        if self._fh.closed:
            return
        self._fh.close()
        commit(self.temp, self.path)


class TracksCsvSink:
    """Writes ``tracks.csv``: one row per tracked player per frame."""

    name = "tracks_csv"

    def __init__(self, path: str | Path, *, flush_s: float = 1.0) -> None:
        self.writer = CsvWriter(path, TRACKS_COLUMNS, flush_s=flush_s)

    def write(self, packet: Packet) -> None:
        tracks = packet.tracks
        if tracks is None or len(tracks) == 0:
            self.writer.write_rows(())  # still honours the flush interval
            return
        frame = packet.frame
        time_txt = _cell(frame.time_s, 6)
        metrics = packet.metrics
        metric_row = {} if metrics is None else {int(t): i for i, t in enumerate(metrics.track_id)}
        rows = []
        for i in range(len(tracks)):
            track_id = int(tracks.track_id[i])
            x1, y1, x2, y2 = (float(v) for v in tracks.xyxy_px[i])
            team = pitch_x = pitch_y = speed = None
            j = metric_row.get(track_id)
            if metrics is not None and j is not None:
                team = int(metrics.team[j]) if metrics.team[j] >= 0 else None
                pitch_x, pitch_y = (_finite(v) for v in metrics.pitch_xy_m[j])
                speed = _finite(metrics.speed_mps[j])
            rows.append(
                (
                    str(frame.index), time_txt, str(track_id), _cell(team, 0),
                    _cell(x1, 2), _cell(y1, 2), _cell(x2, 2), _cell(y2, 2),
                    _cell(float(tracks.score[i]), 4),
                    _cell(pitch_x, 3), _cell(pitch_y, 3), _cell(speed, 3),
                )
            )
        self.writer.write_rows(rows)

    def counts(self) -> dict[str, int]:
        return {"tracks_csv_rows": self.writer.rows_written}

    def close(self) -> None:
        self.writer.close()

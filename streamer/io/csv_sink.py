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
from streamer.records import Packet, describe_flags

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
    "flags",
    "shot",
)


JOINTS_COLUMNS: tuple[str, ...] = (
    "frame",
    "time_s",
    "player_id",
    "joint",
    "x",
    "y",
    "z",
    "pitch_x",
    "pitch_y",
    "pitch_z",
    "u",
    "v",
    "confidence",
    "flags",
)

#: per-joint quality flags in ``joints.csv`` (``|``-separated names; empty = none)
FLAG_LOW_CONFIDENCE = "low_confidence"  # joint confidence below ``low_conf``
FLAG_OUTSIDE_BOX = "outside_box"  # projected joint outside the player's box (occluded / cropped)
FLAG_SMALL_BOX = "small_box"  # player box shorter than ``small_box_px``: treat angles with care
FLAG_FILTER_OUTLIER = "filter_outlier"  # the smoother moved the joint more than ``outlier_m``


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
            flags = ""
            j = metric_row.get(track_id)
            if metrics is not None and j is not None:
                team = int(metrics.team[j]) if metrics.team[j] >= 0 else None
                pitch_x, pitch_y = (_finite(v) for v in metrics.pitch_xy_m[j])
                speed = _finite(metrics.speed_mps[j])
                flags = describe_flags(int(metrics.flags[j]))
            rows.append(
                (
                    str(frame.index), time_txt, str(track_id), _cell(team, 0),
                    _cell(x1, 2), _cell(y1, 2), _cell(x2, 2), _cell(y2, 2),
                    _cell(float(tracks.score[i]), 4),
                    _cell(pitch_x, 3), _cell(pitch_y, 3), _cell(speed, 3), flags, str(packet.shot),
                )
            )
        self.writer.write_rows(rows)

    def counts(self) -> dict[str, int]:
        return {"tracks_csv_rows": self.writer.rows_written}

    def close(self) -> None:
        self.writer.close()


class JointsCsvSink:
    """Writes ``joints.csv``: one row per player per frame per body joint (long format).

    x, y, z are camera-frame metres; u, v the joint projected with the fit's
    intrinsics; pitch_x, pitch_y, pitch_z (z up) come from the soccer stage when a
    calibration exists.
    """

    name = "joints_csv"

    def __init__(self, path: str | Path, *, flush_s: float = 1.0, low_conf: float = 0.3,
                 small_box_px: float = 40.0, outlier_m: float = 0.15) -> None:
        self.writer = CsvWriter(path, JOINTS_COLUMNS, flush_s=flush_s)
        self.low_conf, self.small_box_px, self.outlier_m = low_conf, small_box_px, outlier_m
        self._names: tuple[str, ...] | None = None

    def _joint_names(self) -> tuple[str, ...]:
        if self._names is None:
            from streamer.body.skeleton import BODY_JOINT_NAMES  # torch is loaded by the mesh stage

            self._names = tuple(BODY_JOINT_NAMES)
        return self._names

    def write(self, packet: Packet) -> None:
        body = packet.body
        if body is None or body.joints_cam_m is None or len(body) == 0:
            self.writer.write_rows(())
            return
        names = self._joint_names()
        n_joints = min(len(names), body.joints_cam_m.shape[1])
        joints = body.joints_cam_m[:, :n_joints].astype(np.float64)
        uvw = joints @ body.cam_K.astype(np.float64).T
        uv = uvw[..., :2] / np.where(np.abs(uvw[..., 2:]) > 1e-9, uvw[..., 2:], np.nan)
        raw_rows = {} if packet.body_raw is None else {int(t): i for i, t in enumerate(packet.body_raw.track_id)}
        box_rows = {} if packet.tracks is None else {int(t): i for i, t in enumerate(packet.tracks.track_id)}
        metrics = packet.metrics
        metric_rows = {} if metrics is None else {int(t): i for i, t in enumerate(metrics.track_id)}
        frame, time_txt = str(packet.frame.index), _cell(packet.frame.time_s, 6)
        rows = []
        for i, track_id in enumerate(int(t) for t in body.track_id):
            box = None if track_id not in box_rows else packet.tracks.xyxy_px[box_rows[track_id]]  # type: ignore[union-attr]
            moved = None
            if track_id in raw_rows and packet.body_raw is not None and packet.body_raw.joints_cam_m is not None:
                raw = packet.body_raw.joints_cam_m[raw_rows[track_id], :n_joints]
                moved = np.linalg.norm(raw - joints[i], axis=1)
            m = metric_rows.get(track_id)
            pitch = None
            if metrics is not None and m is not None and metrics.joints_pitch_m is not None:
                pitch = metrics.joints_pitch_m[m]
            for j in range(n_joints):
                conf = float(body.joint_conf[i, j]) if j < body.joint_conf.shape[1] else None
                u, v = (_finite(c) for c in uv[i, j])
                flags = []
                if conf is not None and conf < self.low_conf:
                    flags.append(FLAG_LOW_CONFIDENCE)
                if box is not None and u is not None and v is not None and not (
                    box[0] <= u <= box[2] and box[1] <= v <= box[3]
                ):
                    flags.append(FLAG_OUTSIDE_BOX)
                if box is not None and box[3] - box[1] < self.small_box_px:
                    flags.append(FLAG_SMALL_BOX)
                if moved is not None and moved[j] > self.outlier_m:
                    flags.append(FLAG_FILTER_OUTLIER)
                px = py = pz = None
                if pitch is not None and j < len(pitch):
                    px, py, pz = (_finite(c) for c in pitch[j])
                x, y, z = (float(c) for c in joints[i, j])
                rows.append((
                    frame, time_txt, str(track_id), names[j], _cell(x, 4), _cell(y, 4), _cell(z, 4),
                    _cell(px, 3), _cell(py, 3), _cell(pz, 3), _cell(u, 2), _cell(v, 2), _cell(conf, 3), "|".join(flags),
                ))
        self.writer.write_rows(rows)

    def counts(self) -> dict[str, int]:
        return {"joints_csv_rows": self.writer.rows_written}

    def close(self) -> None:
        self.writer.close()

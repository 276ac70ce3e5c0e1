"""tracks.csv rows: one per player per frame, empty cells for unknown values."""

from __future__ import annotations

import csv

import numpy as np

from streamer.io.csv_sink import TRACKS_COLUMNS, TracksCsvSink
from streamer.records import Frame, Packet, PlayerMetrics, Tracks


def test_rows_with_and_without_metrics(tmp_path):
    path = tmp_path / "tracks.csv"
    sink = TracksCsvSink(path)
    frame = Frame(3, 120, 0.12, np.zeros((4, 4, 3), np.uint8))
    boxes = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32)
    tracks = Tracks(np.array([5, 9]), boxes, np.array([0.9, 0.4], np.float32))
    metrics = PlayerMetrics(
        np.array([9, 5]), np.array([1, -1]), np.array([[10.5, -3.25], [np.nan, np.nan]], np.float32),
        np.array([6.5, np.nan], np.float32), np.zeros(2, np.int64),
    )
    sink.write(Packet(frame, tracks=tracks, metrics=metrics))
    sink.write(Packet(Frame(4, 160, 0.16, frame.image), tracks=tracks))
    sink.write(Packet(Frame(5, 200, 0.2, frame.image)))  # no tracks: no rows
    assert path.with_name("tracks.csv.partial").exists() and not path.exists()
    sink.close()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == TRACKS_COLUMNS and len(rows) == 4
    by = {(r["frame"], r["player_id"]): r for r in rows}
    assert by[("3", "9")]["team"] == "1" and by[("3", "9")]["pitch_x"] == "10.500"
    assert by[("3", "9")]["speed_mps"] == "6.500" and by[("3", "9")]["x1"] == "5.00"
    assert by[("3", "5")]["team"] == "" and by[("3", "5")]["pitch_x"] == "" and by[("3", "5")]["speed_mps"] == ""
    assert by[("4", "5")]["time_s"] == "0.160000" and by[("4", "5")]["team"] == ""

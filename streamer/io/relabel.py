"""Rewrite a finished run's outputs under the identity pass's final player ids.

* ``tracks.csv`` and ``joints.csv``: streamed row by row into ``<name>.partial`` and renamed
  into place; ``player_id`` becomes the final id and a ``tracklet_id`` column (the tracker's
  online id) is added at the end; in ``tracks.csv`` an unknown or disagreeing ``team`` cell
  takes the player's team (most frames' vote over his tracklets).
* ``players/player_<id>.npz``: the tracklets of one player concatenated in time order, one
  player in memory at a time. Nothing is filled in between tracklets: ``frame_index`` jumps
  there, ``tracklet_id`` (T,) says which tracklet each row came from and ``segment_start``
  (T,) bool marks each tracklet's first row; ``betas`` is the frame-weighted mean of the
  tracklets' medians.

The soccer report (``summary.csv``, ``angles.csv``, plots) is written once, under the final
ids, by the report sink (:meth:`streamer.io.report_sink.ReportSink.write_final`).

Every file goes through temp-then-rename; a run interrupted here leaves each output either
as the stream wrote it or fully relabelled.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from streamer.io.atomic import commit, partial_path
from streamer.tracking.identity import Tracklet


def _rewrite_csv(path: Path, final: dict[int, int], team_of: dict[int, int] | None = None) -> bool:
    if not path.exists():
        return False
    temp = partial_path(path)
    with open(path, newline="", encoding="utf-8") as src, open(temp, "w", newline="", encoding="utf-8") as dst:
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
        header = next(reader, None)
        if header is None or "player_id" not in header:
            temp.unlink()
            return False
        col = header.index("player_id")
        team_col = header.index("team") if team_of is not None and "team" in header else -1
        writer.writerow([*header, "tracklet_id"])
        for row in reader:
            online = int(row[col])
            player = final.get(online, online)
            row[col] = str(player)
            if team_col >= 0 and team_of.get(player, -1) >= 0:  # type: ignore[union-attr]
                row[team_col] = str(team_of[player])  # type: ignore[index]
            writer.writerow([*row, str(online)])
    commit(temp, path)
    return True


def _merge_players(players_dir: Path, final: dict[int, int]) -> int:
    """One npz per final player from the tracklets' npz files; returns how many were written."""
    files = {int(p.stem.split("_", 1)[1]): p for p in players_dir.glob("player_*.npz")
             if p.stem.split("_", 1)[1].isdigit()}
    if not files:
        return 0
    groups: dict[int, list[int]] = defaultdict(list)
    for online in sorted(files):
        groups[final.get(online, online)].append(online)
    staging = players_dir / ".relabel"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for player, onlines in groups.items():
        pairs = []
        for online in onlines:
            with np.load(files[online]) as data:
                pairs.append((online, {key: data[key] for key in data.files}))
        pairs.sort(key=lambda op: int(op[1]["frame_index"][0]) if len(op[1]["frame_index"]) else 0)
        out = _concat_player([p for _, p in pairs], [o for o, _ in pairs], player)
        temp = partial_path(staging / f"player_{player}.npz")
        with open(temp, "wb") as fh:
            np.savez(fh, **out)
        commit(temp, staging / f"player_{player}.npz")
    # each final file replaces its name in one rename; then the tracklets' files no player
    # kept go: at no moment is a player's data in neither place
    kept = set()
    for path in sorted(staging.glob("player_*.npz")):
        path.replace(players_dir / path.name)
        kept.add(path.name)
    for path in files.values():
        if path.name not in kept:
            path.unlink()
    staging.rmdir()
    return len(groups)


def _concat_player(parts: list[dict[str, np.ndarray]], onlines: list[int], player: int) -> dict[str, Any]:
    """Per-frame arrays concatenated; per-player scalars taken from the first part."""
    lengths = [len(p["frame_index"]) for p in parts]
    out: dict[str, Any] = {}
    samples = {}
    for p in parts:
        for key, value in p.items():
            samples.setdefault(key, value)
    for key, sample in samples.items():
        if key in ("betas", "fps", "keypoint_layout", "body_model", "player_id", "tracklet_id", "segment_start"):
            continue
        if sample.ndim == 0:
            out[key] = sample
            continue
        out[key] = np.concatenate([
            p[key] if key in p else np.full((n, *sample.shape[1:]), np.nan, sample.dtype)
            for p, n in zip(parts, lengths, strict=True)
        ])
    weights = np.array(lengths, np.float64)
    out["betas"] = (np.stack([p["betas"] for p in parts]) * (weights / weights.sum())[:, None]).sum(0).astype(
        np.float32)
    for key in ("fps", "keypoint_layout", "body_model"):
        if key in parts[0]:
            out[key] = parts[0][key]
    ids = [int(p["player_id"]) for p in parts] if all("player_id" in p for p in parts) else onlines
    out["tracklet_id"] = np.concatenate([np.full(n, t, np.int64) for t, n in zip(ids, lengths, strict=True)])
    out["segment_start"] = np.concatenate([np.arange(n) == 0 for n in lengths])
    out["player_id"] = np.int64(player)
    return out


def _team_of(tracklets: list[Tracklet], final: dict[int, int]) -> dict[int, int]:
    votes: dict[int, dict[int, int]] = defaultdict(dict)
    for t in tracklets:
        row = votes[final.get(t.track_id, t.track_id)]
        for team, n in t.team_votes.items():
            if team >= 0:
                row[team] = row.get(team, 0) + n
    return {player: max(row, key=row.__getitem__) for player, row in votes.items() if row}


def relabel_outputs(out_dir: Path, final: dict[int, int], tracklets: list[Tracklet]) -> dict[str, float]:
    """Rewrite what exists of the run's outputs under ``final`` (online id → player id).

    Returns the outputs rewritten, with the seconds each took.
    """
    done: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        done[name] = round(now - t0, 4)
        t0 = now

    if _rewrite_csv(out_dir / "tracks.csv", final, _team_of(tracklets, final)):
        lap("tracks.csv")
    if _rewrite_csv(out_dir / "joints.csv", final):
        lap("joints.csv")
    if (out_dir / "players").is_dir() and _merge_players(out_dir / "players", final):
        lap("players")
    return done

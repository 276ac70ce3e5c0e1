"""The report sink: the end-of-run soccer report from the records the soccer stage fills.

Every released frame's ``metrics`` (ground point, team, flags, joint angles) is appended to
a :class:`~streamer.soccer.history.PlayerHistory` per track id; at the end
(:meth:`ReportSink.close`) :func:`streamer.io.report.write_report` writes
``summary.csv``, ``angles.csv`` and the PNG plots into the run's output directory.

A player's team in the report is the team of his latest frame that has one (the stage's vote
grows with every frame, so the latest is the best informed). A box flagged ``box_size`` (merged or cut)
gives no ground point, as in the stage's own speeds.

In a file run with the identity pass, :meth:`defer` keeps :meth:`close` from writing: the
identity sink calls :meth:`write_final` with the final player ids once it has linked the
tracklets, so the report is written once, under the ids of every other output.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from streamer.records import ANGLE_NAMES, FLAG_BOX_SIZE, Packet
from streamer.soccer.history import PlayerHistory
from streamer.soccer.kinematics import KinematicsConfig


class ReportSink:
    """Collects per-player histories from ``packet.metrics``; writes the report at the end."""

    name = "report"

    def __init__(self, out_dir: Path, kin: KinematicsConfig, min_s: float) -> None:
        self.out_dir = Path(out_dir)
        self.kin = kin
        self.min_s = float(min_s)
        self.history: dict[int, PlayerHistory] = {}
        self.team: dict[int, int] = {}  # track id -> team of its latest frame with a team
        self.files: list[Path] = []
        self._deferred = False

    def defer(self) -> None:
        """Write nothing at :meth:`close`; :meth:`write_final` will (the identity pass)."""
        self._deferred = True

    def write(self, packet: Packet) -> None:
        m = packet.metrics
        if m is None or not len(m):
            return
        frame = packet.frame
        nan2 = np.full(2, np.nan)
        for i, tid in enumerate(m.track_id.tolist()):
            hist = self.history.get(tid)
            if hist is None:
                hist = self.history[tid] = PlayerHistory(tid)
            xy = nan2 if int(m.flags[i]) & FLAG_BOX_SIZE else m.pitch_xy_m[i].astype(np.float64)
            angles = None
            if m.angles_deg is not None and np.isfinite(m.angles_deg[i]).any():
                angles = dict(zip(ANGLE_NAMES, m.angles_deg[i].tolist(), strict=True))
            hist.append(frame.index, frame.time_s, xy, angles)
            if int(m.team[i]) >= 0 or tid not in self.team:
                self.team[tid] = int(m.team[i])

    def counts(self) -> dict[str, int]:
        return {"report_players": len(self.history)}

    def close(self) -> None:
        if not self._deferred:
            self.write_final({})  # each history put in time order on the way

    def write_final(self, final: dict[int, int]) -> list[Path]:
        """The report under final player ids (``final``: track id -> player id; missing = same)."""
        groups: dict[int, list[int]] = defaultdict(list)
        for tid in self.history:
            groups[final.get(tid, tid)].append(tid)
        merged, teams = {}, {}
        for player, tids in groups.items():
            parts = [self.history[t] for t in tids]
            merged[player] = PlayerHistory.concat(player, parts)
            votes: dict[int, int] = {}
            for t, h in zip(tids, parts, strict=True):
                team = self.team.get(t, -1)
                if team >= 0:
                    votes[team] = votes.get(team, 0) + len(h)
            teams[player] = max(votes, key=votes.__getitem__) if votes else -1
        return self._write(merged, teams)

    def _write(self, history: dict[int, PlayerHistory], teams: dict[int, int]) -> list[Path]:
        from streamer.io.report import write_report  # matplotlib: only when a report is written

        self.files = write_report(self.out_dir, history, teams, self.kin, self.min_s)
        return self.files


def build(config: dict[str, Any], out_dir: Path) -> ReportSink | None:
    """The report sink of a run: when the ``soccer`` stage runs and ``soccer.report`` is on."""
    section = config["soccer"]
    if "soccer" not in config["pipeline"]["stages"] or not section["report"]:
        return None
    from streamer.config import section_to
    from streamer.stages.soccer import SoccerConfig

    cfg = section_to(SoccerConfig, section, "soccer")
    return ReportSink(out_dir, cfg.kinematics(), cfg.report_min_s)

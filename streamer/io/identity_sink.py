"""The identity sink: per-tracklet summaries during a file run, final player ids after it.

While the run goes, :class:`IdentitySink` hands every frame's tracks — with the team, pitch
point, body shape and camera motion the stages found, and a torso-colour histogram cut from
the frame — to :class:`~streamer.tracking.identity.TrackletCollector`, which keeps a few
numbers per tracklet, never frames. After the other sinks have closed,
:meth:`IdentitySink.finish` links the tracklets into players
(:func:`~streamer.tracking.identity.link_tracklets`) and rewrites the outputs under the final
ids (:mod:`streamer.io.relabel`). Live sources get no identity sink: their ids stay the
tracker's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from streamer.config import check_ranges, section_to
from streamer.io.report_sink import ReportSink
from streamer.records import FLAG_BOX_SIZE, FLAG_NO_CALIBRATION, FLAG_OFF_PITCH, Packet
from streamer.tracking.appearance import DIM, torso_histograms
from streamer.tracking.identity import IdentityConfig, TrackletCollector, link_tracklets


class IdentitySink:
    """Collects tracklet summaries; :meth:`finish` relabels the run's outputs."""

    name = "identity"

    def __init__(self, config: IdentityConfig) -> None:
        self.config = config
        self.collector = TrackletCollector()
        self.report: ReportSink | None = None

    def take_report(self, report: ReportSink | None) -> None:
        """Have the soccer report written once, under the final ids: ``report`` writes nothing
        when it closes, and :meth:`finish` has it written after linking."""
        self.report = report
        if report is not None:
            report.defer()

    def write(self, packet: Packet) -> None:
        tracks = packet.tracks
        if tracks is None:
            return
        n = len(tracks)
        pitch = np.full((n, 2), np.nan)
        team = np.full(n, -1, np.int64)
        metrics = packet.metrics
        if metrics is not None and n:
            row = {int(t): i for i, t in enumerate(metrics.track_id)}
            for i, tid in enumerate(tracks.track_id.tolist()):
                j = row.get(int(tid))
                if j is None:
                    continue
                team[i] = int(metrics.team[j])
                # a merged or cut box has no ground point; one off the pitch may be a wrong calibration
                if not int(metrics.flags[j]) & (FLAG_NO_CALIBRATION | FLAG_BOX_SIZE | FLAG_OFF_PITCH):
                    pitch[i] = metrics.pitch_xy_m[j]
        betas = None
        if packet.body is not None and len(packet.body):
            betas = {int(t): packet.body.betas[i] for i, t in enumerate(packet.body.track_id)}
        measured = tracks.score > 0
        hists = np.zeros((n, DIM), np.float32)
        if measured.any():
            hists[measured] = torso_histograms(packet.frame.image, tracks.xyxy_px[measured])
        self.collector.observe(
            packet.frame.index, packet.frame.time_s, tracks.track_id, tracks.xyxy_px, tracks.score,
            shot=int(getattr(packet, "shot", 0) or 0), camera_motion=packet.camera_motion, hists=hists,
            pitch_xy=pitch, teams=team, betas=betas,
        )

    def counts(self) -> dict[str, int]:
        return {"tracklets": len(self.collector.tracklets)}

    def close(self) -> None:
        pass  # the work is done in finish, once every other sink has closed

    def finish(self, out_dir: Path) -> dict[str, Any]:
        """Link the tracklets and rewrite the outputs in ``out_dir``; returns run.json's ``identity``."""
        from streamer.io.relabel import relabel_outputs

        t0 = time.perf_counter()
        tracklets = list(self.collector.tracklets.values())
        final, links = link_tracklets(tracklets, self.config)
        link_s = time.perf_counter() - t0
        written = relabel_outputs(Path(out_dir), final, tracklets)
        if self.report is not None:
            t1 = time.perf_counter()
            self.report.write_final(final)
            written["report"] = round(time.perf_counter() - t1, 4)
        reentries = sum(link.gap_s > self.config.reentry_gap_s for link in links)
        return {
            "tracklets": len(tracklets),
            "players": len(set(final.values())),
            "links": len(links),
            "reentry_links": int(reentries),
            "rewritten": written,  # output -> seconds (the soccer report is written only here)
            "link_s": round(link_s, 4),
            "seconds": round(time.perf_counter() - t0, 4),
        }


#: identity config numbers and the ranges they must lie in
IDENTITY_RANGES = {
    "max_gap_s": (0, float("inf")), "max_speed_mps": (0, float("inf")), "slack_m": (0, float("inf")),
    "stray_mps": (1e-6, float("inf")), "kit_max": (0, 1), "kit_weight": (0, float("inf")),
    "betas_max": (0, float("inf")), "height_ratio_max": (1, float("inf")), "margin": (0, float("inf")),
    "reentry_gap_s": (0, float("inf")), "reentry_margin": (0, float("inf")), "reentry_kit_max": (0, 1),
    "joint_max_cost": (0, float("inf")), "joint_margin": (0, float("inf")),
}


def build(config: dict[str, Any], live: bool) -> IdentitySink | None:
    """The identity sink of a run, or None (live source, or ``identity.enabled`` off)."""
    section = config.get("identity")
    if live or not section or not section["enabled"]:
        return None
    check_ranges(section, IDENTITY_RANGES, "identity")
    return IdentitySink(section_to(IdentityConfig, section, "identity"))

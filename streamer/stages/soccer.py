"""The ``soccer`` stage (runs last): teams, pitch positions, speeds, joint angles; the run report.

Shape legend: ``N`` tracked players in a frame; ``J`` body joints.

Reads ``packet.tracks`` (required), ``packet.calibration``, ``packet.keypoints`` and
``packet.body`` (each optional) and fills ``packet.metrics``:

* ``team``: the track's vote so far (:mod:`streamer.soccer.teams`);
* ``pitch_xy_m``: the ground point on the pitch: the grass under the mesh's pelvis when a
  mesh and a calibration exist, else the middle of the box's bottom edge
  (:mod:`streamer.soccer.ground`); NaN for a box reaching the frame's bottom edge (flag
  ``feet_cut``: the feet may be below the frame, :func:`streamer.soccer.ground.feet_cut`);
* ``speed_mps``: the smoothed speed (:mod:`streamer.soccer.kinematics`), NaN when unknown
  or implausible;
* ``flags``: the bits below;
* ``joints_pitch_m``: the mesh's joints in pitch metres (z up), the pelvis over the ground
  point, when a mesh and a calibration both exist (:func:`streamer.soccer.ground.body_in_pitch`).

Packets are held back 1.5 ``speed_window_s`` + 0.5 ``accel_window_s`` (how far ahead the
smoother and its plausibility checks look, :func:`streamer.soccer.kinematics.reach_s`, so a
frame's speed equals the one the end-of-run report computes) and, at the start, up to
``team_warmup_s`` until the team colours are known. The stage writes no file: the report
sink (:mod:`streamer.io.report_sink`) builds ``summary.csv``, ``angles.csv`` and the plots
from the released ``metrics`` (``angles_deg`` carries each frame's joint angles).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamer.config import section_to
from streamer.errors import ConfigError
from streamer.pose.layouts import get_layout
from streamer.records import (
    ANGLE_NAMES,
    FLAG_BOX_SIZE,
    FLAG_FEET_CUT,
    FLAG_GROUND_FROM_MESH,
    FLAG_NO_CALIBRATION,
    FLAG_OFF_PITCH,
    Packet,
    PlayerMetrics,
    Tracks,
)
from streamer.soccer import angles as angles_mod
from streamer.soccer import ground, kinematics, pitch_model, teams
from streamer.soccer.history import PlayerHistory
from streamer.stages import StageContext


@dataclass(frozen=True, slots=True)
class SoccerConfig:
    """The ``soccer`` config section (units and trade-offs: ``configs/default.yaml``)."""

    speed_window_s: float = 1.0
    accel_window_s: float = 0.6
    max_gap_s: float = 0.5
    jump_m: float = 2.0
    max_speed_mps: float = 12.0
    max_accel_mps2: float = 10.0
    sprint_speed_mps: float = 7.0
    sprint_min_s: float = 1.0
    high_speed_mps: float = 5.5
    accel_mps2: float = 3.0
    accel_min_s: float = 0.5
    off_pitch_margin_m: float = 2.0
    box_height_ratio_min: float = 0.55
    box_height_ratio_max: float = 1.45
    team_warmup_s: float = 3.0
    causal: bool = False  # live runs: release every frame at once, speeds from the past alone
    report: bool = True  # read by the report sink (streamer.io.report_sink), not by the stage
    report_min_s: float = 1.0

    def kinematics(self) -> kinematics.KinematicsConfig:
        return kinematics.KinematicsConfig(
            window_s=self.speed_window_s,
            accel_window_s=self.accel_window_s,
            max_gap_s=self.max_gap_s,
            jump_m=self.jump_m,
            max_speed_mps=self.max_speed_mps,
            max_accel_mps2=self.max_accel_mps2,
            sprint_mps=self.sprint_speed_mps,
            sprint_min_s=self.sprint_min_s,
            high_speed_mps=self.high_speed_mps,
            accel_mps2=self.accel_mps2,
            accel_min_s=self.accel_min_s,
        )


@dataclass(slots=True)
class _Pending:
    """A packet waiting for its future, with what was measured on it."""

    packet: Packet
    pitch_xy_m: np.ndarray  # (N, 2)
    flags: np.ndarray  # (N,) int64
    joints_pitch_m: np.ndarray | None  # (N, J, 3), NaN rows for players without a body
    angles_deg: np.ndarray | None  # (N, A), NaN rows for players without a body


class SoccerStage:
    name = "soccer"
    reads = ("tracks",)
    uses = ("calibration", "keypoints", "body")  # pitch metres, torso colours, mesh ground points
    fills = ("metrics",)

    def __init__(self, cfg: SoccerConfig, team_cfg: teams.TeamConfig) -> None:
        if cfg.speed_window_s <= 0 or cfg.max_speed_mps <= 0:
            raise ConfigError("soccer.speed_window_s and soccer.max_speed_mps must be > 0")
        self.cfg = cfg
        self.kin = cfg.kinematics()
        self.team_cfg = team_cfg
        self.teams = teams.TeamAssigner(team_cfg)
        self.history: dict[int, PlayerHistory] = {}  # for speeds
        self._pending: deque[_Pending] = deque()
        self._first_time: float | None = None
        self._newest_time = -np.inf

    # -- per frame, on arrival -----------------------------------------------------
    def _torso_index(self, packet: Packet) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(N, K, 2) keypoints, (N, K) confidences in the tracks' row order, and the torso rows."""
        kp, tracks = packet.keypoints, packet.tracks
        if kp is None or tracks is None or len(kp) == 0:
            return None, None, None
        try:
            index = get_layout(kp.layout).indices(*teams.TORSO_NAMES)
        except ValueError:
            return None, None, None
        row = {int(t): i for i, t in enumerate(kp.track_id)}
        n, k = len(tracks), kp.xy_px.shape[1]
        xy, conf = np.zeros((n, k, 2), np.float32), np.zeros((n, k), np.float32)
        for i, tid in enumerate(tracks.track_id):
            j = row.get(int(tid))
            if j is not None:
                xy[i], conf[i] = kp.xy_px[j], kp.conf[j]
        return xy, conf, index

    def _ingest(self, packet: Packet) -> _Pending:
        tracks = packet.tracks
        if tracks is None:
            raise ConfigError(
                "the soccer stage needs tracks: put 'detect' and 'track' before 'soccer' in pipeline.stages"
            )
        frame, cal, body = packet.frame, packet.calibration, packet.body
        n = len(tracks)
        if self._first_time is None:
            self._first_time = frame.time_s
        self._newest_time = max(self._newest_time, frame.time_s)
        # the calibrated camera's rotation gives the vertical for mesh ground points and angles
        rot = None
        if cal is not None and body is not None and body.joints_cam_m is not None and len(body):
            rot = ground.camera_rotation(cal, body.cam_K)
        up = None if rot is None else rot[:, 2]  # the pitch's z axis in camera axes
        ground_px, from_mesh = ground.ground_points_px(tracks.xyxy_px, tracks.track_id, body, up)
        pitch_xy = ground.pitch_points(cal, ground_px)
        cut = ground.feet_cut(tracks.xyxy_px, frame.image.shape[0])  # no visible ground point
        pitch_xy[cut] = np.nan
        flags = np.where(from_mesh, FLAG_GROUND_FROM_MESH, 0).astype(np.int64)
        flags |= np.where(cut, FLAG_FEET_CUT, 0)
        if cal is None:
            flags |= FLAG_NO_CALIBRATION
        on_pitch = pitch_model.inside_pitch(pitch_xy, self.cfg.off_pitch_margin_m)
        flags |= np.where(np.isfinite(pitch_xy).all(axis=1) & ~on_pitch, FLAG_OFF_PITCH, 0)
        ratio = ground.box_height_ratio(tracks.xyxy_px)
        odd = ~from_mesh & ((ratio < self.cfg.box_height_ratio_min) | (ratio > self.cfg.box_height_ratio_max))
        flags |= np.where(odd, FLAG_BOX_SIZE, 0)
        # jersey colours; people off the pitch (coaches, ball boys) do not vote
        if n:
            kp_xy, kp_conf, torso = self._torso_index(packet)
            quads = teams.torso_quads(tracks.xyxy_px, kp_xy, kp_conf, torso, self.team_cfg.keypoint_min_conf)
            colours = teams.jersey_colours(frame.image, tracks.xyxy_px, quads, self.team_cfg)
            colours[(flags & FLAG_OFF_PITCH) > 0] = np.nan
            self.teams.observe(tracks.track_id, colours)
        # joint angles and the body in pitch axes
        angle_rows, body_rows = self._bodies(packet, pitch_xy, rot)
        joints_pitch = None
        if body_rows and body is not None and body.joints_cam_m is not None:
            joints_pitch = np.full((n, body.joints_cam_m.shape[1], 3), np.nan, np.float32)
        angles = np.full((n, len(ANGLE_NAMES)), np.nan, np.float32) if angle_rows else None
        for i, tid in enumerate(tracks.track_id):
            hist = self.history.setdefault(int(tid), PlayerHistory(int(tid)))
            usable = pitch_xy[i] if not odd[i] else np.full(2, np.nan)  # no speed from a merged box
            row = angle_rows.get(int(tid))
            hist.append(frame.index, frame.time_s, usable, None)
            if angles is not None and row is not None:
                angles[i] = [row[name] for name in ANGLE_NAMES]
            if joints_pitch is not None and int(tid) in body_rows:
                joints_pitch[i] = body_rows[int(tid)]
        return _Pending(packet, pitch_xy, flags, joints_pitch, angles)

    def _bodies(
        self, packet: Packet, pitch_xy: np.ndarray, rot: np.ndarray | None
    ) -> tuple[dict[int, dict[str, float]], dict[int, np.ndarray]]:
        """Per track id: joint angles, and (J, 3) joints in pitch metres when calibrated.

        ``rot``: (3, 3) pitch → camera rotation of the calibrated camera, or None.
        """
        body, tracks = packet.body, packet.tracks
        if body is None or body.joints_cam_m is None or len(body) == 0 or tracks is None:
            return {}, {}
        up = None if rot is None else rot[:, 2]
        values = angles_mod.joint_angles(body.joints_cam_m, up)
        angle_rows = {
            int(t): {k: float(v[i]) for k, v in values.items()} for i, t in enumerate(body.track_id)
        }
        body_rows: dict[int, np.ndarray] = {}
        if rot is not None:
            track_row = {int(t): i for i, t in enumerate(tracks.track_id)}
            pairs = [
                (j, track_row[int(t)])
                for j, t in enumerate(body.track_id)
                if int(t) in track_row and np.isfinite(pitch_xy[track_row[int(t)]]).all()
            ]
            if pairs:
                body_idx, track_idx = (np.array(v) for v in zip(*pairs, strict=True))
                joints = ground.body_in_pitch(body.joints_cam_m[body_idx], rot, pitch_xy[track_idx])
                body_rows = {
                    int(body.track_id[j]): joints[k].astype(np.float32) for k, j in enumerate(body_idx)
                }
        return angle_rows, body_rows

    # -- per frame, on release -----------------------------------------------------
    def _speeds(self, items: list[_Pending]) -> dict[int, tuple[np.ndarray, kinematics.SpeedSeries]]:
        """Per track id in ``items``: sample times and the speed series covering all their frames.

        One series per track for a whole batch of released frames: a series cut to
        [first - reach, last + reach] gives every frame in between exactly the speed the
        whole series gives it (:func:`streamer.soccer.kinematics.reach_s`), so this equals
        one fit per frame at a fraction of the cost. Causal: each frame from its past alone
        (a later jolt must not reach back), so one series per frame.
        """
        times = [item.packet.frame.time_s for item in items]
        reach = kinematics.reach_s(self.kin)
        lo, hi = min(times) - reach, (max(times) if self.cfg.causal else max(times) + reach)
        ids = {int(t) for item in items if item.packet.tracks is not None for t in item.packet.tracks.track_id}
        out = {}
        for tid in ids:
            t, xy = self.history[tid].window(lo, hi)
            if len(t) >= 3:
                out[tid] = (t, kinematics.speed_series(t, xy, self.kin, causal=self.cfg.causal))
        return out

    def _finish(self, item: _Pending, speeds: dict[int, tuple[np.ndarray, kinematics.SpeedSeries]]) -> Packet:
        packet = item.packet
        tracks = packet.tracks if packet.tracks is not None else Tracks.empty()  # checked on arrival
        t0 = packet.frame.time_s
        speed = np.full(len(tracks), np.nan, np.float32)
        flags = item.flags.copy()
        for i, tid in enumerate(tracks.track_id):
            found = speeds.get(int(tid))
            if found is None:
                continue
            t, series = found
            k = int(np.searchsorted(t, t0))
            if k < len(t) and t[k] == t0:
                speed[i] = series.speed_mps[k]
                flags[i] |= series.flags[k]
        team = np.array([self.teams.team_of(int(t)) for t in tracks.track_id], np.int64)
        metrics = PlayerMetrics(
            tracks.track_id.copy(),
            team,
            item.pitch_xy_m.astype(np.float32),
            speed,
            flags,
            item.joints_pitch_m,
            item.angles_deg,
        )
        return packet.replace(metrics=metrics)

    def _release(self, final: bool) -> list[Packet]:
        ready: list[_Pending] = []
        while self._pending:
            t = self._pending[0].packet.frame.time_s
            future_known = final or self.cfg.causal or t <= self._newest_time - kinematics.reach_s(self.kin) + 1e-9
            waited = self._newest_time - (self._first_time if self._first_time is not None else t)
            warm = final or self.cfg.causal or self.teams.ready or waited > self.cfg.team_warmup_s
            if not (future_known and warm):
                break
            ready.append(self._pending.popleft())
        if not ready:
            return []
        if self.cfg.causal:
            out = [self._finish(item, self._speeds([item])) for item in ready]
        else:
            speeds = self._speeds(ready)
            out = [self._finish(item, speeds) for item in ready]
        self._forget()
        return out

    def _forget(self) -> None:
        """Drop samples no frame still to be released can reach: memory stays flat in clip length."""
        oldest = self._pending[0].packet.frame.time_s if self._pending else self._newest_time
        keep_from = oldest - kinematics.reach_s(self.kin) - 1e-6
        for tid in [t for t, h in self.history.items() if not len(h) or h.times()[-1] < keep_from]:
            del self.history[tid]
        for hist in self.history.values():
            hist.drop_before(keep_from)

    def process(self, packets: list[Packet]) -> list[Packet]:
        for packet in packets:
            self._pending.append(self._ingest(packet))
        return self._release(final=False)

    def flush(self) -> list[Packet]:
        return self._release(final=True)


def build(config: dict[str, Any], context: StageContext) -> SoccerStage:
    section = config["soccer"]
    cfg = section_to(SoccerConfig, section, "soccer")
    if context.live:  # a live source: hold nothing back
        cfg = dataclasses.replace(cfg, causal=True)
    team_cfg = section_to(teams.TeamConfig, section["teams"], "soccer.teams")
    return SoccerStage(cfg, team_cfg)

"""The end-of-run soccer report: ``summary.csv``, ``angles.csv`` and PNG plots (written by
the report sink, :mod:`streamer.io.report_sink`).

Shape legend: ``T`` samples of one player.

Files written into the run's output directory (each temp-then-rename, so a crash never
leaves half a file):

* ``summary.csv``: one row per player seen for at least ``min_s`` seconds with a valid
  speed (columns :data:`SUMMARY_COLUMNS`);
* ``angles.csv``: one row per player per frame with a body mesh (:data:`ANGLE_NAMES`);
* ``speed_profiles.png``: every player's speed over time, coloured by team, with the
  sprint and high-speed thresholds;
* ``heatmap.png``: where each team was, on a drawn pitch;
* ``joint_angles.png``: knee, hip and trunk angles of the players seen longest with a mesh.

(Bodies on the pitch go out per frame in ``PlayerMetrics.joints_pitch_m``, which the joints
sink writes.)

Plotting uses matplotlib's Agg backend, imported only here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamer.io.atomic import commit, partial_path
from streamer.io.csv_sink import CsvWriter
from streamer.records import TEAM_RGB
from streamer.soccer import pitch_model
from streamer.soccer.angles import ANGLE_NAMES
from streamer.soccer.history import PlayerHistory
from streamer.soccer.kinematics import KinematicsConfig, RunningSummary, SpeedSeries, speed_series, summarise

SUMMARY_COLUMNS: tuple[str, ...] = (
    "player_id", "team", "first_time_s", "last_time_s", "tracked_s", "distance_m", "max_speed_mps",
    "mean_speed_mps", "high_speed_distance_m", "sprints", "sprint_distance_m", "accelerations",
    "decelerations", "implausible_samples", "outlier_samples", "mean_pitch_x_m", "mean_pitch_y_m",
    "max_knee_flexion_deg", "mean_trunk_lean_deg",
)  # fmt: skip
ANGLES_COLUMNS: tuple[str, ...] = ("frame", "time_s", "player_id", *ANGLE_NAMES)
#: plot colours (matplotlib RGB): the overlay's team colours (its yellow darkened to show on
#: white), grey for unknown
TEAM_COLOURS = {
    **{k: tuple(c / 255 for c in v) for k, v in TEAM_RGB.items() if k in (0, 1)},
    2: (0.78, 0.62, 0.0),
    -1: (0.6, 0.6, 0.6),
}
TEAM_LABELS = {0: "team 0", 1: "team 1", 2: "referees / others", -1: "unknown"}


def _fmt(value: float | int, digits: int = 3) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.{digits}f}" if np.isfinite(value) else ""


def _nan_stat(fn, values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(fn(finite)) if len(finite) else float("nan")


def player_rows(
    history: dict[int, PlayerHistory], teams: dict[int, int], cfg: KinematicsConfig, min_s: float
) -> tuple[list[list[str]], dict[int, SpeedSeries]]:
    """``summary.csv`` rows (formatted) and each kept player's speed series."""
    rows, kept = [], {}
    for tid in sorted(history):
        hist = history[tid]
        series = speed_series(hist.times(), hist.positions(), cfg)
        summary: RunningSummary = summarise(series, cfg)
        if summary.duration_s < min_s:
            continue
        kept[tid] = series
        xy = hist.positions()
        knees = np.concatenate(
            [hist.angle_array("left_knee_flexion_deg"), hist.angle_array("right_knee_flexion_deg")]
        )
        t = hist.times()
        rows.append(
            [
                str(tid),
                _fmt(teams.get(tid, -1)),
                _fmt(float(t[0])),
                _fmt(float(t[-1])),
                _fmt(summary.duration_s),
                _fmt(summary.distance_m, 2),
                _fmt(summary.max_speed_mps, 2),
                _fmt(summary.mean_speed_mps, 2),
                _fmt(summary.high_speed_distance_m, 2),
                _fmt(summary.sprints),
                _fmt(summary.sprint_distance_m, 2),
                _fmt(summary.accelerations),
                _fmt(summary.decelerations),
                _fmt(summary.implausible_samples),
                _fmt(summary.outlier_samples),
                _fmt(_nan_stat(np.mean, xy[:, 0]), 2),
                _fmt(_nan_stat(np.mean, xy[:, 1]), 2),
                _fmt(_nan_stat(np.max, knees), 1),
                _fmt(_nan_stat(np.mean, hist.angle_array("trunk_lean_deg")), 1),
            ]
        )
    return rows, kept


def angle_rows(history: dict[int, PlayerHistory]) -> list[list[str]]:
    """``angles.csv`` rows: every sample with at least one finite angle, by frame then player."""
    rows = []
    for tid, hist in history.items():
        values = (
            np.column_stack([hist.angle_array(n) for n in ANGLE_NAMES]) if len(hist) else np.zeros((0, 5))
        )
        for k in np.flatnonzero(np.isfinite(values).any(axis=1)):
            rows.append((int(hist.frames()[k]), float(hist.times()[k]), tid, values[k]))
    rows.sort(key=lambda r: (r[0], r[2]))
    return [[str(f), f"{t:.6f}", str(tid), *(_fmt(float(v), 2) for v in vals)] for f, t, tid, vals in rows]


def _figure(width_in: float, height_in: float, rows: int = 1, cols: int = 1):
    # a Figure on an Agg canvas, without pyplot: no global backend switch, no GUI, no state kept
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _save(fig, path: Path) -> Path:
    temp = partial_path(path)
    fig.savefig(temp, format="png", bbox_inches="tight")
    commit(temp, path)
    return path


def draw_pitch(ax) -> None:
    """Draw the 105 x 68 m pitch markings on a matplotlib axes (pitch metres, far side up)."""
    ax.set_facecolor("#3f8f3f")
    for mark in pitch_model.markings():
        ax.plot(mark.points_m[:, 0], mark.points_m[:, 1], color="white", lw=1.0, zorder=1)
    margin = 3.0
    ax.set_xlim(-pitch_model.HALF_LENGTH_M - margin, pitch_model.HALF_LENGTH_M + margin)
    ax.set_ylim(-pitch_model.HALF_WIDTH_M - margin, pitch_model.HALF_WIDTH_M + margin)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")


def plot_speed_profiles(
    path: Path, series: dict[int, SpeedSeries], teams: dict[int, int], cfg: KinematicsConfig
) -> Path:
    fig, axes = _figure(10, 4.5)
    ax = axes[0, 0]
    seen = set()
    for tid, s in sorted(series.items()):
        team = teams.get(tid, -1)
        label = TEAM_LABELS[team] if team not in seen else None
        seen.add(team)
        ax.plot(s.time_s, s.speed_mps, color=TEAM_COLOURS[team], lw=0.9, alpha=0.8, label=label)
    ax.axhline(cfg.sprint_mps, color="k", ls="--", lw=0.8)
    ax.axhline(cfg.high_speed_mps, color="k", ls=":", lw=0.8)
    ax.text(ax.get_xlim()[0], cfg.sprint_mps, " sprint", va="bottom", fontsize=8)
    ax.text(ax.get_xlim()[0], cfg.high_speed_mps, " high speed", va="bottom", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("speed (m/s)")
    ax.set_ylim(0, max(cfg.max_speed_mps, cfg.sprint_mps + 1))
    ax.set_title("Player speed (smoothed)")
    if seen:
        ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_heatmap(
    path: Path, history: dict[int, PlayerHistory], teams: dict[int, int], bin_m: float = 2.0
) -> Path:
    groups = [(0, "team 0"), (1, "team 1"), (2, "referees / others")]
    fig, axes = _figure(15, 4.2, 1, len(groups))
    x_edges = np.arange(-pitch_model.HALF_LENGTH_M - 3, pitch_model.HALF_LENGTH_M + 3 + bin_m, bin_m)
    y_edges = np.arange(-pitch_model.HALF_WIDTH_M - 3, pitch_model.HALF_WIDTH_M + 3 + bin_m, bin_m)
    for ax, (team, title) in zip(axes[0], groups, strict=True):
        draw_pitch(ax)
        pts = [h.positions() for tid, h in history.items() if teams.get(tid, -1) == team]
        xy = np.concatenate(pts) if pts else np.zeros((0, 2))
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy):
            hist2d, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=(x_edges, y_edges))
            hist2d = np.ma.masked_equal(hist2d.T, 0)
            ax.pcolormesh(x_edges, y_edges, hist2d, cmap="magma", alpha=0.85, zorder=2, shading="flat")
            for tid, h in history.items():
                if teams.get(tid, -1) == team:
                    p = h.positions()
                    p = p[np.isfinite(p).all(axis=1)]
                    if len(p):
                        ax.text(
                            *np.median(p, axis=0),
                            str(tid),
                            color="white",
                            fontsize=6,
                            zorder=3,
                            ha="center",
                            va="center",
                        )
        ax.set_title(f"{title}: {len(xy)} samples")
    return _save(fig, path)


def plot_joint_angles(path: Path, history: dict[int, PlayerHistory], max_players: int = 6) -> Path | None:
    counts = {
        tid: int(np.isfinite(h.angle_array("left_knee_flexion_deg")).sum()) for tid, h in history.items()
    }
    chosen = [tid for tid, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= 2][:max_players]
    if not chosen:
        return None
    fig, axes = _figure(10, 2.3 * len(chosen), len(chosen), 1)
    for ax, tid in zip(axes[:, 0], chosen, strict=True):
        h = history[tid]
        t = h.times()
        for name in ANGLE_NAMES:
            ax.plot(t, h.angle_array(name), lw=0.9, label=name.replace("_deg", ""))
        ax.set_ylabel(f"player {tid}\n(deg)")
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel("time (s)")
    return _save(fig, path)


def write_report(
    out_dir: Path,
    history: dict[int, PlayerHistory],
    teams: dict[int, int],
    cfg: KinematicsConfig,
    min_s: float,
) -> list[Path]:
    """Write every report file into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    rows, series = player_rows(history, teams, cfg, min_s)
    summary = CsvWriter(out_dir / "summary.csv", SUMMARY_COLUMNS)
    summary.write_rows(rows)
    summary.close()
    written.append(out_dir / "summary.csv")
    angles = angle_rows(history)
    if angles:
        writer = CsvWriter(out_dir / "angles.csv", ANGLES_COLUMNS)
        writer.write_rows(angles)
        writer.close()
        written.append(out_dir / "angles.csv")
    kept = {tid: history[tid] for tid in series}
    written.append(plot_speed_profiles(out_dir / "speed_profiles.png", series, teams, cfg))
    written.append(plot_heatmap(out_dir / "heatmap.png", kept, teams))
    angles_png = plot_joint_angles(out_dir / "joint_angles.png", kept)
    if angles_png is not None:
        written.append(angles_png)
    return written

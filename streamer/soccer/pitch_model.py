"""The standard 105 × 68 m pitch as a line model: markings, named landmarks, line families.

Shape legend: ``K`` points of one marking's polyline; ``P`` sampled model points; ``L`` lines.

Pitch frame (metres): origin at the centre spot, x along the touchlines (-52.5 left goal
line .. 52.5 right goal line, as the main camera sees it), y along the halfway line
(-34 near touchline, the camera's side .. +34 far touchline), z up. The frame is
right-handed, so a camera above the near touchline looking across sees +x to its right.

Markings follow the IFAB Laws of the Game (2023/24, law 1) at their maximum size:
penalty area 16.5 m deep and 40.32 m wide, goal area 5.5 × 18.32 m, centre circle and
penalty arcs of radius 9.15 m, penalty spot 11 m from the goal line.

The fitter in :mod:`streamer.soccer.lines` uses the straight lines grouped in two
families: *long* lines run along the touchlines (constant y), *cross* lines run
along the goal lines (constant x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PITCH_LENGTH_M = 105.0
PITCH_WIDTH_M = 68.0
HALF_LENGTH_M = PITCH_LENGTH_M / 2
HALF_WIDTH_M = PITCH_WIDTH_M / 2
CIRCLE_RADIUS_M = 9.15
PENALTY_AREA_DEPTH_M = 16.5
PENALTY_AREA_HALF_WIDTH_M = 40.32 / 2
GOAL_AREA_DEPTH_M = 5.5
GOAL_AREA_HALF_WIDTH_M = 18.32 / 2
PENALTY_SPOT_M = 11.0  # from the goal line
PENALTY_FRONT_X_M = HALF_LENGTH_M - PENALTY_AREA_DEPTH_M  # 36.0
GOAL_AREA_FRONT_X_M = HALF_LENGTH_M - GOAL_AREA_DEPTH_M  # 47.0
PENALTY_SPOT_X_M = HALF_LENGTH_M - PENALTY_SPOT_M  # 41.5
#: half the chord the penalty arc cuts on the penalty-area front line
ARC_HALF_CHORD_M = float(np.sqrt(CIRCLE_RADIUS_M**2 - (PENALTY_FRONT_X_M - PENALTY_SPOT_X_M) ** 2))

#: y of every straight line parallel to the touchlines, near to far
LONG_LINES_Y_M: tuple[float, ...] = (
    -HALF_WIDTH_M, -PENALTY_AREA_HALF_WIDTH_M, -GOAL_AREA_HALF_WIDTH_M,
    GOAL_AREA_HALF_WIDTH_M, PENALTY_AREA_HALF_WIDTH_M, HALF_WIDTH_M,
)  # fmt: skip
#: x of every straight line parallel to the goal lines, left to right
CROSS_LINES_X_M: tuple[float, ...] = (
    -HALF_LENGTH_M, -GOAL_AREA_FRONT_X_M, -PENALTY_FRONT_X_M, 0.0,
    PENALTY_FRONT_X_M, GOAL_AREA_FRONT_X_M, HALF_LENGTH_M,
)  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class Marking:
    """One painted marking.

    Attributes:
        name: e.g. ``"halfway"``, ``"left_penalty_front"``, ``"centre_circle"``.
        points_m: (K, 2) float64 polyline in pitch metres (two points for a straight line).
        family: ``"long"`` (constant y), ``"cross"`` (constant x) or ``"curve"``.
    """

    name: str
    points_m: np.ndarray
    family: str


def _segment(name: str, a: tuple[float, float], b: tuple[float, float]) -> Marking:
    family = "long" if a[1] == b[1] else "cross"
    return Marking(name, np.array([a, b], np.float64), family)


def _arc(name: str, centre: tuple[float, float], start_rad: float, stop_rad: float, n: int) -> Marking:
    angle = np.linspace(start_rad, stop_rad, n)
    pts = np.stack(
        [centre[0] + CIRCLE_RADIUS_M * np.cos(angle), centre[1] + CIRCLE_RADIUS_M * np.sin(angle)], 1
    )
    return Marking(name, pts, "curve")


def markings() -> tuple[Marking, ...]:
    """Every line of the model (corner arcs and spots left out: too small to fit to)."""
    hl, hw = HALF_LENGTH_M, HALF_WIDTH_M
    out = [
        _segment("near_touchline", (-hl, -hw), (hl, -hw)),
        _segment("far_touchline", (-hl, hw), (hl, hw)),
        _segment("halfway", (0.0, -hw), (0.0, hw)),
        _arc("centre_circle", (0.0, 0.0), 0.0, 2 * np.pi, 97),
    ]
    arc_half_rad = float(np.arccos((PENALTY_SPOT_X_M - PENALTY_FRONT_X_M) / CIRCLE_RADIUS_M))
    for side, sign in (("left", -1.0), ("right", 1.0)):
        goal, front, small = sign * hl, sign * PENALTY_FRONT_X_M, sign * GOAL_AREA_FRONT_X_M
        pw, gw = PENALTY_AREA_HALF_WIDTH_M, GOAL_AREA_HALF_WIDTH_M
        out += [
            _segment(f"{side}_goal_line", (goal, -hw), (goal, hw)),
            _segment(f"{side}_penalty_front", (front, -pw), (front, pw)),
            _segment(f"{side}_penalty_near", (goal, -pw), (front, -pw)),
            _segment(f"{side}_penalty_far", (goal, pw), (front, pw)),
            _segment(f"{side}_goal_area_front", (small, -gw), (small, gw)),
            _segment(f"{side}_goal_area_near", (goal, -gw), (small, -gw)),
            _segment(f"{side}_goal_area_far", (goal, gw), (small, gw)),
        ]
        facing = 0.0 if sign < 0 else np.pi  # the arc bulges toward the halfway line
        out.append(
            _arc(
                f"{side}_penalty_arc",
                (sign * PENALTY_SPOT_X_M, 0.0),
                facing - arc_half_rad,
                facing + arc_half_rad,
                25,
            )
        )
    return tuple(out)


def sample_markings(step_m: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step_m`` along every marking.

    Returns:
        points_m: (P, 2) float64 pitch metres.
        marking_index: (P,) int64 index into :func:`markings` of the marking each point lies on.
    """
    pts, idx = [], []
    for i, mark in enumerate(markings()):
        poly = mark.points_m
        for a, b in zip(poly[:-1], poly[1:], strict=True):
            n = max(1, int(np.ceil(np.linalg.norm(b - a) / step_m)))
            t = np.arange(n)[:, None] / n
            pts.append(a + t * (b - a))
            idx.append(np.full(n, i))
        pts.append(poly[-1:])
        idx.append(np.array([i]))
    return np.concatenate(pts), np.concatenate(idx).astype(np.int64)


def landmarks() -> dict[str, tuple[float, float]]:
    """Named points a user can click on a frame for a manual calibration, in pitch metres."""
    hl, hw, r = HALF_LENGTH_M, HALF_WIDTH_M, CIRCLE_RADIUS_M
    out = {
        "centre_spot": (0.0, 0.0),
        "halfway_near_touchline": (0.0, -hw),
        "halfway_far_touchline": (0.0, hw),
        "centre_circle_near": (0.0, -r),
        "centre_circle_far": (0.0, r),
    }
    for side, sign in (("left", -1.0), ("right", 1.0)):
        out[f"{side}_near_corner"] = (sign * hl, -hw)
        out[f"{side}_far_corner"] = (sign * hl, hw)
        out[f"{side}_penalty_spot"] = (sign * PENALTY_SPOT_X_M, 0.0)
        for where, ys in (("near", -1.0), ("far", 1.0)):
            out[f"{side}_penalty_{where}_front_corner"] = (
                sign * PENALTY_FRONT_X_M,
                ys * PENALTY_AREA_HALF_WIDTH_M,
            )
            out[f"{side}_penalty_{where}_goal_line"] = (sign * hl, ys * PENALTY_AREA_HALF_WIDTH_M)
            out[f"{side}_goal_area_{where}_front_corner"] = (
                sign * GOAL_AREA_FRONT_X_M,
                ys * GOAL_AREA_HALF_WIDTH_M,
            )
            out[f"{side}_goal_area_{where}_goal_line"] = (sign * hl, ys * GOAL_AREA_HALF_WIDTH_M)
            out[f"{side}_penalty_arc_{where}_end"] = (sign * PENALTY_FRONT_X_M, ys * ARC_HALF_CHORD_M)
    return out


def inside_pitch(pitch_xy_m: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
    """(N,) bool: points within the touchlines and goal lines, grown by ``margin_m``."""
    p = np.asarray(pitch_xy_m, np.float64).reshape(-1, 2)
    return (np.abs(p[:, 0]) <= HALF_LENGTH_M + margin_m) & (np.abs(p[:, 1]) <= HALF_WIDTH_M + margin_m)

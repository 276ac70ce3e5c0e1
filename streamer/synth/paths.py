"""Where the players go: smooth, deterministic paths in pitch metres.

Shape legend: ``T`` frames; ``N`` people (players, then the referee).

A ball point wanders smoothly over the pitch (a sum of slow sinusoids). Each player has a
home spot in a 4-4-2 formation (team 0 defends x < 0), shifted with the ball and by a slow
personal wander; the two players of each team nearest the ball chase it, which makes
players bunch, cross and occlude each other as in a match. Players steer toward their
target with a speed limit and an acceleration limit, and away from anyone nearer than
``PERSONAL_SPACE_M`` (bodies never pass through each other: two players meet shoulder to
shoulder, they do not stand inside one another); the referee trails the ball. Heading
follows the velocity (turning at most 5 rad/s) and faces the ball when standing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.synth.gait import STAND_SPEED_MPS, advance_phase
from streamer.synth.pitch import PITCH_LENGTH_M, PITCH_WIDTH_M

#: team labels in the ground truth
TEAM_REFEREE = 2
#: 4-4-2 home spots of the team defending x < 0, as fractions of the half-length / half-width
_FORMATION = np.array([
    [-0.95, 0.0],  # goalkeeper
    [-0.65, -0.6], [-0.7, -0.2], [-0.7, 0.2], [-0.65, 0.6],
    [-0.35, -0.65], [-0.4, -0.2], [-0.4, 0.2], [-0.35, 0.65],
    [-0.1, -0.25], [-0.1, 0.25],
])
#: formation slots filled first when a team has fewer than 11 players: keeper, strikers, centre
_SLOT_PRIORITY = np.array([0, 9, 10, 6, 7, 2, 3, 5, 8, 1, 4])
_HALF = np.array([PITCH_LENGTH_M / 2, PITCH_WIDTH_M / 2])
_MAX_TURN_RAD_S = 5.0
_MAX_ACCEL_MPS2 = 4.0
#: players steer apart inside this distance (centre to centre)...
PERSONAL_SPACE_M = 1.5
#: ...and are never closer than this (two bodies side by side)
MIN_GAP_M = 0.6
#: where each team's two ball chasers aim, relative to the ball: the two teams' chasers come
#: at the ball from their own sides, not at one spot
_CHASE_OFFSETS_M = np.array([[[1.0, 0.5], [-1.5, -1.0]], [[-1.0, -0.6], [1.6, 1.1]]])


@dataclass(frozen=True, slots=True, eq=False)
class PeoplePaths:
    """Motion of everyone on the pitch.

    Attributes:
        position_m: (T, N, 2) float64 pitch x, y.
        heading_rad: (T, N) facing direction in the pitch plane, from +x toward +y.
        speed_mps: (T, N) ground speed.
        phase: (T, N) gait stride phase in [0, 1).
        team: (N,) int64, 0 / 1 players, 2 referee.
        ball_m: (T, 2) the point play follows.
    """

    position_m: np.ndarray
    heading_rad: np.ndarray
    speed_mps: np.ndarray
    phase: np.ndarray
    team: np.ndarray
    ball_m: np.ndarray


def _smooth_curve(rng: np.random.Generator, t_s: np.ndarray, amplitude: float, n_terms: int = 3) -> np.ndarray:
    """(T,) sum of slow random sinusoids (periods 12-60 s), peak about ``amplitude``."""
    freq = rng.uniform(1 / 60, 1 / 12, n_terms)
    phase = rng.uniform(0, 2 * np.pi, n_terms)
    weight = rng.dirichlet(np.ones(n_terms))
    return amplitude * (weight[None] * np.sin(2 * np.pi * freq[None] * t_s[:, None] + phase[None])).sum(1)


def ball_path(rng: np.random.Generator, t_s: np.ndarray) -> np.ndarray:
    """(T, 2) smooth path of the ball over the pitch."""
    return np.stack([_smooth_curve(rng, t_s, 38.0), _smooth_curve(rng, t_s, 22.0)], 1)


def pick_roster(n_players: int) -> tuple[np.ndarray, np.ndarray]:
    """Team (N,) and formation slot (N,) of ``n_players`` players, alternating teams, keepers first."""
    team = np.arange(n_players) % 2
    slot = _SLOT_PRIORITY[np.arange(n_players) // 2]
    return team, slot


def _pair_offsets(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, N, 2) vectors from every player to every other, (N, N) distances (self: inf)."""
    d = pos[:, None, :] - pos[None, :, :]
    dist = np.linalg.norm(d, axis=2)
    np.fill_diagonal(dist, np.inf)
    return d, dist


def _keep_apart(pos: np.ndarray, top_speed: np.ndarray) -> np.ndarray:
    """(N, 2) velocity steering each player away from those within ``PERSONAL_SPACE_M``,
    stronger the closer they are (half his top speed per neighbour at ``MIN_GAP_M``)."""
    d, dist = _pair_offsets(pos)
    push = np.clip((PERSONAL_SPACE_M - dist) / (PERSONAL_SPACE_M - MIN_GAP_M), 0.0, 1.0)
    away = (d / np.maximum(dist, 1e-6)[..., None] * push[..., None]).sum(axis=1)
    return away * top_speed[:, None] * 0.5


def _separate(pos: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Move pairs closer than ``MIN_GAP_M`` apart, half each (bodies cannot overlap)."""
    pos = pos.copy()
    for _ in range(iterations):
        d, dist = _pair_offsets(pos)
        short = np.clip(MIN_GAP_M - dist, 0.0, None)
        if not short.any():
            break
        pos += (d / np.maximum(dist, 1e-6)[..., None] * (short / 2)[..., None]).sum(axis=1)
    return pos


def simulate_people(
    rng: np.random.Generator, n_players: int, referee: bool, n_frames: int, fps: float,
) -> PeoplePaths:
    """Paths of ``n_players`` players (10-22) and optionally a referee over ``n_frames`` frames."""
    dt = 1.0 / fps
    t_s = np.arange(n_frames) * dt
    ball = ball_path(rng, t_s)
    team, slot = pick_roster(n_players)
    n = n_players + int(referee)
    home = _FORMATION[slot] * _HALF * 0.9
    home[team == 1, 0] *= -1  # team 1 defends x > 0
    home[team == 1, 1] *= -1
    wander = np.stack([np.stack([_smooth_curve(rng, t_s, 6.0), _smooth_curve(rng, t_s, 5.0)], 1)
                       for _ in range(n_players)], 1)  # (T, P, 2)
    top_speed = np.concatenate([rng.uniform(5.5, 7.5, n_players), [5.0] * int(referee)])
    referee_offset = np.array([-8.0, -6.0])
    position = np.zeros((n_frames, n, 2))
    velocity = np.zeros((n, 2))
    pos = np.concatenate([home + wander[0], ball[:1] + referee_offset]) if referee else home + wander[0]
    heading = np.arctan2(ball[0, 1] - pos[:, 1], ball[0, 0] - pos[:, 0])
    headings, speeds, phases = (np.zeros((n_frames, n)) for _ in range(3))
    phase = rng.uniform(0, 1, n)
    for f in range(n_frames):
        target = np.empty((n, 2))
        # formation follows the ball: the whole block shifts toward it
        shift = np.array([0.45 * ball[f, 0], 0.25 * ball[f, 1]])
        target[:n_players] = home + shift + wander[f]
        for side in (0, 1):  # the two nearest outfield players of each team chase the ball
            members = np.flatnonzero((team == side) & (slot > 0))
            near = members[np.argsort(np.linalg.norm(pos[members] - ball[f], axis=1))[:2]]
            target[near] = ball[f] + _CHASE_OFFSETS_M[side, : len(near)]
        if referee:
            target[-1] = ball[f] + referee_offset
        target = np.clip(target, -_HALF - 2.0, _HALF + 2.0)
        desired = target - pos
        dist = np.linalg.norm(desired, axis=1, keepdims=True)
        want_speed = np.minimum(top_speed[:, None], dist / 1.2)  # slow down on arrival
        want_v = desired / np.maximum(dist, 1e-9) * want_speed + _keep_apart(pos, top_speed)
        dv = want_v - velocity
        dv_norm = np.linalg.norm(dv, axis=1, keepdims=True)
        velocity = velocity + dv * np.minimum(1.0, _MAX_ACCEL_MPS2 * dt / np.maximum(dv_norm, 1e-9))
        pos = _separate(pos + velocity * dt)
        speed = np.linalg.norm(velocity, axis=1)
        face = np.where(speed > STAND_SPEED_MPS, np.arctan2(velocity[:, 1], velocity[:, 0]),
                        np.arctan2(ball[f, 1] - pos[:, 1], ball[f, 0] - pos[:, 0]))
        turn = np.angle(np.exp(1j * (face - heading)))
        heading = heading + np.clip(turn, -_MAX_TURN_RAD_S * dt, _MAX_TURN_RAD_S * dt)
        phase = advance_phase(phase, speed, dt)
        position[f], headings[f], speeds[f], phases[f] = pos, heading, speed, phase
    team_all = np.concatenate([team, [TEAM_REFEREE] * int(referee)]).astype(np.int64)
    return PeoplePaths(position, headings, speeds, phases, team_all, ball)

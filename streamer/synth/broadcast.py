"""The broadcast camera: a fixed, elevated position behind the near touchline that pans and zooms.

Shape legend: ``T`` frames.

The camera stands at the halfway line, ``back_m`` metres behind the near touchline and
``height_m`` up, and looks at a point on the grass. Panning follows the play with a
camera operator's lag (a critically damped follower of the ball's x); zoom, when on,
breathes slowly around the base focal length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.render.camera import PinholeCamera, intrinsics, look_at
from streamer.synth.pitch import PITCH_WIDTH_M

#: farthest the aim point moves from the halfway line (keeps the pan within about ±25 degrees)
MAX_AIM_X_M = 32.0
#: how quickly the operator follows the play (Hz); lower = lazier pans
FOLLOW_HZ = 0.35


@dataclass(frozen=True, slots=True)
class BroadcastRig:
    """Where the camera stands and its lens.

    Attributes:
        position_m: (3,) pitch-frame camera centre.
        focal_px: focal length at zoom 1.
        width / height: image size.
    """

    position_m: np.ndarray
    focal_px: float
    width: int
    height: int

    @classmethod
    def behind_touchline(cls, width: int, height: int, *, height_m: float = 18.0, back_m: float = 40.0,
                         focal_px: float = 0.0) -> BroadcastRig:
        """The usual main camera: on the halfway line, ``back_m`` behind the near touchline.

        ``focal_px`` 0 picks 1.4 x width (about 39° horizontal field of view, a wide shot).
        """
        position = np.array([0.0, -PITCH_WIDTH_M / 2 - back_m, height_m])
        return cls(position, focal_px or 1.4 * width, width, height)

    def camera(self, aim_m: np.ndarray, zoom: float = 1.0) -> PinholeCamera:
        """The camera looking at the grass point ``aim_m`` (2,) with the focal length scaled by ``zoom``."""
        R, t = look_at(self.position_m, np.array([aim_m[0], aim_m[1], 0.0]))
        return PinholeCamera(intrinsics(self.focal_px * zoom, self.width, self.height), R, t, self.width, self.height)


def aim_path(ball_m: np.ndarray, fps: float, *, pan: bool, aim_y_m: float = -12.0) -> np.ndarray:
    """(T, 2) grass point the camera aims at each frame.

    With ``pan`` the aim follows the ball's x with lag (and a little of its y), else it
    stays on the halfway line. ``aim_y_m`` -12 puts the near touchline about 80 % down the
    frame and the far one about 25 % down, as in a main-camera wide shot.
    """
    n = len(ball_m)
    aim = np.zeros((n, 2))
    aim[:, 1] = aim_y_m
    if not pan:
        return aim
    omega, dt = 2 * np.pi * FOLLOW_HZ, 1.0 / fps
    target = np.clip(ball_m, [-MAX_AIM_X_M, -20.0], [MAX_AIM_X_M, 20.0])
    pos, vel = target[0].copy(), np.zeros(2)
    for f in range(n):  # critically damped spring toward the ball
        acc = omega**2 * (target[f] - pos) - 2 * omega * vel
        vel = vel + acc * dt
        pos = pos + vel * dt
        aim[f] = [pos[0], aim_y_m + 0.25 * pos[1]]
    return aim


def zoom_path(n_frames: int, fps: float, rng: np.random.Generator, *, zoom: bool, amount: float = 0.15) -> np.ndarray:
    """(T,) focal-length factor: 1 throughout, or a slow swing of ±``amount`` (period 8-14 s)."""
    if not zoom:
        return np.ones(n_frames)
    period = rng.uniform(8.0, 14.0)
    phase = rng.uniform(0, 2 * np.pi)
    return 1.0 + amount * np.sin(2 * np.pi * np.arange(n_frames) / fps / period + phase)

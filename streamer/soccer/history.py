"""Per-player time series: the soccer stage keeps the recent ones for speeds, the report sink all.

Shape legend: ``T`` samples of one player; ``A`` joint angles (:data:`ANGLE_NAMES`).

Samples live in numpy arrays that double when full: about 70 bytes per player per frame,
so a 90-minute match of 22 players at 25 fps stays near 200 MB.
"""

from __future__ import annotations

import numpy as np

from streamer.soccer.angles import ANGLE_NAMES


class PlayerHistory:
    """One track's samples, appended in time order."""

    def __init__(self, track_id: int, capacity: int = 256) -> None:
        self.track_id = int(track_id)
        self._n = 0
        self._frame = np.zeros(capacity, np.int64)
        self._time = np.zeros(capacity, np.float64)
        self._xy = np.zeros((capacity, 2), np.float64)
        self._angles = np.zeros((capacity, len(ANGLE_NAMES)), np.float32)

    @classmethod
    def concat(cls, track_id: int, parts: list[PlayerHistory]) -> PlayerHistory:
        """One history from several (tracklets of one player), samples in time order."""
        out = cls(track_id, capacity=max(1, sum(len(p) for p in parts)))
        for name in ("_frame", "_time", "_xy", "_angles"):
            chunks = [getattr(p, name)[: p._n] for p in parts]
            if chunks:
                joined = np.concatenate(chunks)
                getattr(out, name)[: len(joined)] = joined
        out._n = sum(len(p) for p in parts)
        order = np.argsort(out._time[: out._n], kind="stable")
        for name in ("_frame", "_time", "_xy", "_angles"):
            arr = getattr(out, name)
            arr[: out._n] = arr[: out._n][order]
        return out

    def _grow(self) -> None:
        cap = 2 * len(self._time)
        for name in ("_frame", "_time", "_xy", "_angles"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def append(
        self, frame: int, time_s: float, pitch_xy_m: np.ndarray, angles: dict[str, float] | None
    ) -> None:
        """Add one sample: raw ground point (2,) in metres (NaN = unknown) and the joint angles, if any."""
        if self._n == len(self._time):
            self._grow()
        k = self._n
        self._frame[k], self._time[k], self._xy[k] = frame, time_s, pitch_xy_m
        self._angles[k] = np.nan if angles is None else [angles[name] for name in ANGLE_NAMES]
        self._n += 1

    def drop_before(self, time_s: float) -> None:
        """Forget the samples older than ``time_s`` (amortised: arrays move only once half is old)."""
        k = int(np.searchsorted(self._time[: self._n], time_s, side="left"))
        if k == 0 or 2 * k < self._n:
            return
        for name in ("_frame", "_time", "_xy", "_angles"):
            arr = getattr(self, name)
            arr[: self._n - k] = arr[k : self._n].copy()
        self._n -= k

    def __len__(self) -> int:
        return self._n

    def frames(self) -> np.ndarray:
        """(T,) int64 frame indices."""
        return self._frame[: self._n]

    def times(self) -> np.ndarray:
        """(T,) float64 sample times."""
        return self._time[: self._n]

    def positions(self) -> np.ndarray:
        """(T, 2) float64 raw pitch positions."""
        return self._xy[: self._n]

    def angle_array(self, name: str) -> np.ndarray:
        """(T,) float64 degrees of one of :data:`~streamer.soccer.angles.ANGLE_NAMES`."""
        return self._angles[: self._n, ANGLE_NAMES.index(name)].astype(np.float64)

    def window(self, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Times (K,) and raw positions (K, 2) of the samples with start_s <= t <= end_s."""
        t = self.times()
        a, b = np.searchsorted(t, start_s, side="left"), np.searchsorted(t, end_s, side="right")
        return t[a:b], self._xy[a:b]

"""Shot boundaries (camera cuts) from a tiny signature of each frame.

A broadcast cuts between cameras: the picture changes completely from one frame to
the next. Everything that follows a player or the pitch from frame to frame (the
tracker, the calibration carried by the camera motion, the smoothers) must restart
there, and no player id may continue across the cut.

Per frame a *signature* is made from a thumbnail ``thumb_width`` pixels wide:

* a joint HSV colour histogram (12 hue × 4 saturation × 4 value bins);
* a blurred grey image 64 pixels wide.

The change between two frames is the sum of two terms, each in [0, 1]:

* **colour**: the total-variation distance between the histograms (the share of the
  pixels whose colour bin changed). A pan or a zoom over the same scene keeps the
  colours; a cut to another camera usually changes them.
* **structure**: 1 − the normalised cross-correlation of the grey images after the
  translation phase correlation finds between them has been undone. A pan is a
  translation and is undone; a cut to another view of the same green pitch (same
  colours) decorrelates the picture.

A frame starts a new shot when its change from the frame before is at least
``min_change`` and at least ``level_ratio`` times the recent level (the median change
over the last ``level_s`` seconds of the current shot: a hand-held close-up changes
more from frame to frame than a still wide shot), the current shot is at least
``min_shot_s`` long, and it is not a **flash**: when the frame before the candidate
still matches (change under the same threshold) one of the ``lookahead`` frames after
it, the picture came back — a photographer's flash, a glitch, a white-out — and
there is no cut. Frames are therefore decided ``lookahead`` frames late.

Gradual transitions (dissolves, fades, wipes) are not cuts here: each step is small.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

HIST_BINS = (12, 4, 4)  # hue, saturation, value
STRUCT_WIDTH_PX = 64  # width of the grey image compared for structure
FLAT_GREY = 1.0  # a grey image with less spread than this (grey levels) has no structure


@dataclass(frozen=True, slots=True)
class ShotConfig:
    """The ``shots`` config section (trade-offs: ``configs/default.yaml``)."""

    enabled: bool = True
    min_change: float = 0.35
    level_ratio: float = 3.0
    level_s: float = 1.0
    min_shot_s: float = 0.3
    lookahead: int = 2
    thumb_width: int = 128


@dataclass(frozen=True, slots=True)
class Signature:
    """What is kept of one frame: ``hist`` (192,) float32 summing to 1, ``grey`` (h, 64) float32."""

    hist: np.ndarray
    grey: np.ndarray


@dataclass(frozen=True, slots=True)
class Shot:
    """One shot: its 0-based ``index``, first frame index and that frame's time (seconds)."""

    index: int
    first_frame: int
    time_s: float

    def as_dict(self) -> dict[str, float | int]:
        return {"shot": self.index, "first_frame": self.first_frame, "time_s": round(self.time_s, 4)}


def thumbnail(image: np.ndarray, width: int = 128) -> np.ndarray:
    """(h, width, 3) uint8 thumbnail of an (H, W, 3) image.

    Bilinear sampling to twice the size, then area averaging: each thumbnail pixel
    mixes 16 samples (little aliasing noise when fine texture moves), at a fraction
    of the cost of area-averaging the full frame.
    """
    h, w = image.shape[:2]
    height = max(8, round(width * h / w))
    if w > 4 * width:
        image = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def signature(image: np.ndarray, thumb_width: int = 128) -> Signature:
    """The signature of an (H, W, 3) uint8 RGB frame."""
    thumb = thumbnail(image, thumb_width)
    hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HIST_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    hist = (hist / max(float(hist.sum()), 1.0)).astype(np.float32)
    grey = cv2.cvtColor(thumb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    height = max(8, round(STRUCT_WIDTH_PX * grey.shape[0] / grey.shape[1]))
    grey = cv2.resize(grey, (STRUCT_WIDTH_PX, height), interpolation=cv2.INTER_AREA)
    return Signature(hist, cv2.GaussianBlur(grey, (0, 0), 1.0))


def colour_change(a: Signature, b: Signature) -> float:
    """Total-variation distance of the colour histograms, in [0, 1]."""
    return 0.5 * float(np.abs(a.hist - b.hist).sum())


@functools.lru_cache(maxsize=8)
def _hanning(width: int, height: int) -> np.ndarray:
    return cv2.createHanningWindow((width, height), cv2.CV_32F)


def structure_change(a: Signature, b: Signature) -> float:
    """1 − NCC of the grey images once the best translation is undone, in [0, 1]."""
    g0, g1 = a.grey, b.grey
    if g0.shape != g1.shape:
        return 1.0
    h, w = g0.shape
    flat0, flat1 = float(g0.std()) < FLAT_GREY, float(g1.std()) < FLAT_GREY
    if flat0 or flat1:  # a black or uniform frame: no structure to align
        return 0.0 if flat0 and flat1 else 1.0
    window = _hanning(w, h)
    # phaseCorrelate writes into its inputs: hand it copies
    (dx, dy), _ = cv2.phaseCorrelate(g0.copy(), g1.copy(), window)
    mx, my = int(abs(dx)) + 2, int(abs(dy)) + 2  # border the shift leaves without data
    if 2 * mx >= w - 4 or 2 * my >= h - 4:
        return 1.0  # moved by most of the picture: nothing left to compare
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(g0, shift, (w, h), borderMode=cv2.BORDER_REFLECT)
    p, q = moved[my:-my, mx:-mx], g1[my:-my, mx:-mx]
    p, q = p - p.mean(), q - q.mean()
    denom = float(np.sqrt((p * p).sum() * (q * q).sum()))
    if denom <= 0.0:
        return 1.0
    return float(np.clip(1.0 - (p * q).sum() / denom, 0.0, 1.0))


def change(a: Signature, b: Signature) -> float:
    """How different two frames are: colour + structure change, in [0, 2]."""
    return colour_change(a, b) + structure_change(a, b)


@dataclass(slots=True)
class _Seen:
    index: int
    time_s: float
    sig: Signature
    change: float  # from the frame before (0 for the first frame)


class ShotDetector:
    """Feed frames in order with :meth:`push`; each call returns the frames now decided.

    A decided frame comes back as ``(frame index, shot index)``, in order, ``lookahead``
    frames after it was pushed; :meth:`finish` decides the rest. :attr:`shots` lists the
    shots found so far (shot 0 starts at the first frame).
    """

    def __init__(self, config: ShotConfig | None = None) -> None:
        self.cfg = config or ShotConfig()
        self.shots: list[Shot] = []
        self._decided: deque[_Seen] = deque(maxlen=self.cfg.lookahead + 1)  # latest, this shot
        self._waiting: deque[_Seen] = deque()
        self._levels: deque[tuple[float, float]] = deque()  # (time_s, change) within the current shot

    def push(self, index: int, time_s: float, image: np.ndarray) -> list[tuple[int, int]]:
        """Add frame ``index`` (an (H, W, 3) uint8 RGB image at ``time_s`` seconds)."""
        sig = signature(image, self.cfg.thumb_width)
        latest = self._waiting[-1] if self._waiting else self._decided[-1] if self._decided else None
        self._waiting.append(_Seen(index, float(time_s), sig, 0.0 if latest is None else change(latest.sig, sig)))
        out = []
        while len(self._waiting) > self.cfg.lookahead:
            out.append(self._decide())
        return out

    def finish(self) -> list[tuple[int, int]]:
        """Decide every frame still waiting (end of stream)."""
        return [self._decide() for _ in range(len(self._waiting))]

    def _decide(self) -> tuple[int, int]:
        """Decide the oldest waiting frame."""
        frame = self._waiting[0]
        if not self.shots or self._is_cut(frame):
            self.shots.append(Shot(len(self.shots), frame.index, frame.time_s))
            self._levels.clear()
            self._decided.clear()
        else:
            self._levels.append((frame.time_s, frame.change))
            while self._levels and self._levels[0][0] < frame.time_s - self.cfg.level_s:
                self._levels.popleft()
        self._decided.append(self._waiting.popleft())
        return frame.index, len(self.shots) - 1

    def _is_cut(self, frame: _Seen) -> bool:
        cfg = self.cfg
        level = float(np.median([c for _, c in self._levels])) if self._levels else 0.0
        threshold = max(cfg.min_change, cfg.level_ratio * level)
        if frame.change < threshold or frame.time_s - self.shots[-1].time_s < cfg.min_shot_s:
            return False
        # a flash (or a glitch): a picture from just before comes back within the lookahead
        return all(change(early.sig, late.sig) >= threshold
                   for early in self._decided for late in self._waiting if early is not self._decided[-1]
                   or late is not frame)

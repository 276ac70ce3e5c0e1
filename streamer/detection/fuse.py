"""The ``auto`` detector: the pitch segmenter for small players on grass, BlazePose's detector for
larger people, fused.

The two fail in opposite places. The pitch segmenter finds players from ~10 px tall on
grass but nothing off grass, and on a close-up it boxes pieces of a green shirt or of
a face; the learned detector finds people in any setting but only from ~0.4 × the side
of the view it looks at (see :mod:`streamer.models.blazepose_detector`), so on a
720p frame, looked at whole and in two short-side squares, from ~290 px. The rule
(:func:`fuse`) trusts the learned person where they overlap:

* a pitch box with ``inside_frac`` of its area or more inside a learned person box is
  the same person or a part of them (a shirt, a head, a leg), so it is dropped, unless it
  is as tall as that person (``beside_height_frac``), sticks out of the learned boxes
  (less than ``beside_max_inside`` inside) and overlaps every learned box less than
  ``beside_max_iou``: then it is a second player standing half behind the first, whom
  the learned detector boxed as one person or moved its box off;
* a learned person taller than ``closeup_height_frac`` × the frame is a close-up, whose
  shirt, arms and boots the pitch segmenter's grass model boxes in pieces, also a little
  outside his box: pitch boxes touching his box grown by ``closeup_margin`` × his height on
  every side are dropped, and so are pitch boxes shorter than ``perspective_frac`` × the rows
  between his head and their feet (as below, with the horizon at his head: the ball and
  boots at his feet are not people). Pitch boxes clear of him and small only where far away
  stay: beside a kicker close to the camera, the goalkeeper far behind is a small pitch box on
  grass;
* perspective: with the horizon at or above the top of the frame, someone whose feet are
  at row ``y`` is at least ``y / y_f`` times as tall as a learned person of height ``H``
  whose feet are at row ``y_f`` (higher in the image = further away = smaller, but not
  smaller than that). A pitch box shorter than ``perspective_frac`` × ``H · y / y_f`` (the
  slack allows for a horizon inside the frame and for bent bodies) is a piece of a line, a
  ball or a boot, not a player.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from streamer.boxes import coverage
from streamer.boxes import iou as box_iou
from streamer.models.blazepose_detector import BlazePoseDetector, View, letterbox_view, plan_views
from streamer.records import Detections


@dataclass(frozen=True, slots=True)
class FuseConfig:
    inside_frac: float = 0.5  # a pitch box this much inside a learned person is that person (or part)
    closeup_height_frac: float = 0.75  # a learned person this tall (× frame height) = close-up: his pitch boxes go
    closeup_margin: float = 0.1  # ...those touching his box grown by this × his height on every side
    perspective_frac: float = 0.25  # pitch boxes shorter than this × the height perspective allows are dropped
    beside_height_frac: float = 0.8  # ...not a pitch box this tall (x each learned box it lies in)...
    beside_max_inside: float = 0.75  # ...less than this much inside them...
    beside_max_iou: float = 0.35  # ...overlapping each less than this: a second person beside the one boxed
    propose_views: int = 2  # learned-detector views round the tallest unexplained pitch boxes per frame (0 = off)
    propose_side_px: float = 200.0  # their least side (px at 720 rows): people from ~0.4 × this are found
    propose_scale: float = 2.5  # their side, × the pitch box's height, if larger
    propose_lost_frames: int = 5  # learned people too small for the fixed views, once lost, are looked for this long


def too_small(pitch_xyxy: np.ndarray, learned_xyxy: np.ndarray, frame_height: int, frac: float) -> np.ndarray:
    """(N,) bool: pitch boxes (N, 4) too short for where they stand, next to the learned people (M, 4).

    With the horizon at or above the frame's top, a person with feet at row ``y`` is at least
    ``H · y / y_f`` tall if one with feet at ``y_f`` is ``H`` tall; boxes under ``frac`` × that are
    too small. Learned people whose feet touch the frame's bottom edge (cut off) are skipped.
    """
    if frac <= 0 or len(pitch_xyxy) == 0:
        return np.zeros(len(pitch_xyxy), bool)
    feet = learned_xyxy[:, 3]
    whole = feet < frame_height - 1
    if not whole.any():
        return np.zeros(len(pitch_xyxy), bool)
    height = (learned_xyxy[whole, 3] - learned_xyxy[whole, 1]).astype(np.float64)
    least = frac * height[None, :] * pitch_xyxy[:, 3:4] / np.maximum(feet[whole][None, :], 1.0)  # (N, M)
    return ((pitch_xyxy[:, 3] - pitch_xyxy[:, 1])[:, None] < least).any(axis=1)


def fuse(pitch: Detections, learned: Detections, frame_height: int, config: FuseConfig) -> Detections:
    """One frame's pitch-segmenter and learned-detector boxes → its person boxes (see module docstring).

    Returns the learned boxes, then the pitch boxes kept, in their own orders.
    """
    if len(learned) == 0 or len(pitch) == 0:
        return pitch if len(learned) == 0 else learned
    cover = coverage(pitch.xyxy_px, learned.xyxy_px)  # (N, M)
    inside = cover >= config.inside_frac
    # ...unless it is a whole person beside the one boxed: as tall as each learned box it lies in,
    # sticking out of them, and overlapping none like the same person would (two overlapping
    # players the learned detector boxed as one, or both of its boxes on the same one)
    pitch_h = (pitch.xyxy_px[:, 3] - pitch.xyxy_px[:, 1])[:, None]
    learned_h = (learned.xyxy_px[:, 3] - learned.xyxy_px[:, 1])[None, :]
    beside = ((~inside | (pitch_h >= config.beside_height_frac * learned_h)).all(axis=1)
              & (cover.max(axis=1) < config.beside_max_inside)
              & (box_iou(pitch.xyxy_px, learned.xyxy_px).max(axis=1) < config.beside_max_iou))
    drop = inside.any(axis=1) & ~beside
    drop |= too_small(pitch.xyxy_px, learned.xyxy_px, frame_height, config.perspective_frac)
    height = learned.xyxy_px[:, 3] - learned.xyxy_px[:, 1]
    close = height >= config.closeup_height_frac * frame_height
    if close.any():
        margin = config.closeup_margin * height[close, None].astype(np.float64)
        grown = learned.xyxy_px[close].astype(np.float64) + margin * np.array([-1.0, -1.0, 1.0, 1.0])
        drop |= coverage(pitch.xyxy_px, grown).max(axis=1) > 0
        # his feet are usually cut off (no perspective scale), but his head is there: with the
        # camera no lower than heads, a person whose feet are ``d`` rows below his head's row is
        # at least ~``d`` tall (× people / camera height, hence the slack)
        below_head = pitch.xyxy_px[:, 3:4] - learned.xyxy_px[close, 1][None, :]  # (N, C)
        drop |= ((pitch.xyxy_px[:, 3] - pitch.xyxy_px[:, 1])[:, None]
                 < config.perspective_frac * below_head).any(axis=1)
    kept = pitch.select(~drop)
    return Detections(np.concatenate([learned.xyxy_px, kept.xyxy_px]).astype(np.float32),
                      np.concatenate([learned.score, kept.score]).astype(np.float32))


def proposal_views(image_index: int, pitch_xyxy: np.ndarray, learned_xyxy: np.ndarray, width: int, height: int,
                   config: FuseConfig, largest_px: float) -> list[View]:
    """Squares round people the learned detector's fixed views see too small, for it to look at.

    The fixed views find people from ``largest_px`` tall. Smaller ones that are still big enough
    to find in a closer view are (1) the learned people of the previous frame shorter than that
    (``learned_xyxy``; found in such a view, they are followed; the caller adds those lost lately,
    see :func:`remember_lost`), then (2) the tallest pitch boxes
    not at least ``inside_frac`` inside one of them: the pitch segmenter sees a person standing
    off grass or before a net only in parts (legs, a shirt). Each square has side
    ``max(propose_side_px, propose_scale × box height)``; round a pitch box its bottom lies a tenth
    of its side below the box's (a part is mostly the lower body), round a learned person it is
    centred on him (a whole person: his feet must not reach the square's edge, where a cut person's
    score is halved); a square nearly the same as one already chosen is skipped; at most
    ``propose_views`` per frame.
    """
    if config.propose_views <= 0:
        return []
    learned_xyxy = np.asarray(learned_xyxy, np.float64).reshape(-1, 4)
    pitch_xyxy = np.asarray(pitch_xyxy, np.float64).reshape(-1, 4)
    small = learned_xyxy[learned_xyxy[:, 3] - learned_xyxy[:, 1] < largest_px]
    free = pitch_xyxy[pitch_xyxy[:, 3] - pitch_xyxy[:, 1] < largest_px]
    if len(free) and len(learned_xyxy):
        free = free[coverage(free, learned_xyxy).max(axis=1) < config.inside_frac]
    least = config.propose_side_px * height / 720.0
    views: list[View] = []
    for boxes, below in ((small, 0.5), (free, 0.1)):
        for box in boxes[np.argsort(boxes[:, 1] - boxes[:, 3], kind="stable")]:
            if len(views) >= config.propose_views:
                return views
            side = max(least, config.propose_scale * float(box[3] - box[1]))
            x0 = 0.5 * (box[0] + box[2]) - 0.5 * side
            y0 = (box[3] if below < 0.5 else 0.5 * (box[1] + box[3])) + below * side - side
            if any(abs(x0 - v.x0) < 0.25 * v.side and abs(y0 - v.y0) < 0.25 * v.side for v in views):
                continue
            views.append(View(image_index, float(x0), float(y0), float(side)))
    return views


@dataclass(frozen=True, slots=True, eq=False)
class Held:
    """Learned boxes carried over from earlier frames: (N, 4) xyxy, (N,) score, (N,) frames since seen."""

    xyxy_px: np.ndarray
    score: np.ndarray
    age: np.ndarray

    @classmethod
    def empty(cls) -> Held:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))


def hold_unseen(held: Held, found: Detections, looked_at: Sequence[View], max_age: int,
                same_iou: float, whole_min_height: float = float("inf"),
                view_height_frac: float = 0.0) -> tuple[Detections, Held]:
    """Keep people found in a view that was not looked at this frame (round-robin tiles, skipped frames).

    A held box stays for at most ``max_age`` frames after it was last found, while no current box
    overlaps it more than ``same_iou`` or lies 80 % inside it at 70 % of its height or more (then
    the current one is that person), its centre lies in
    none of the tiles looked at this frame that are small enough to see it (side at most its
    height / ``view_height_frac``) and, if the whole frame was looked at, it is shorter than
    ``whole_min_height`` (those views would have seen it again).

    Returns this frame's learned boxes (current, then held) and what to hold for the next frame.
    """
    keep = held.age < max_age
    if len(found) and keep.any():
        keep &= box_iou(held.xyxy_px, found.xyxy_px).max(axis=1, initial=0.0) <= same_iou
        # a current box of about his height lying inside a held box is him again, boxed tighter
        # (a landmark-refined box inside an older keypoint box: their IoU can stay under same_iou)
        inside = coverage(found.xyxy_px, held.xyxy_px) >= 0.8  # (F, N)
        tall = (found.xyxy_px[:, 3:4] - found.xyxy_px[:, 1:2]) >= 0.7 * (held.xyxy_px[:, 3] - held.xyxy_px[:, 1])
        keep &= ~(inside & tall).any(axis=0)
    centre = 0.5 * (held.xyxy_px[:, :2] + held.xyxy_px[:, 2:])
    for view in looked_at:
        if not view.tile:
            keep &= held.xyxy_px[:, 3] - held.xyxy_px[:, 1] < whole_min_height
        else:
            keep &= ~((centre[:, 0] >= view.x0) & (centre[:, 0] < view.x0 + view.side)
                      & (centre[:, 1] >= view.y0) & (centre[:, 1] < view.y0 + view.side)
                      & (held.xyxy_px[:, 3] - held.xyxy_px[:, 1] >= view_height_frac * view.side))
    xyxy = np.concatenate([found.xyxy_px, held.xyxy_px[keep]]).astype(np.float32)
    score = np.concatenate([found.score, held.score[keep]]).astype(np.float32)
    age = np.concatenate([np.zeros(len(found), np.int64), held.age[keep] + 1])
    return Detections(xyxy, score), Held(xyxy.astype(np.float64), score.astype(np.float64), age)


def remember_lost(lost: Held, before: np.ndarray, now: np.ndarray, largest_px: float, max_age: int,
                  same_iou: float = 0.3) -> Held:
    """Learned people shorter than ``largest_px`` in the previous frame (``before``) and not in this
    one (``now``: no box, learned or the pitch segmenter's, overlapping theirs ``same_iou`` or more),
    remembered for ``max_age`` frames
    so that proposal squares keep looking where they were: a small person the fixed views cannot
    see, once the detector loses him (the ball flew past a goalkeeper's face), is found again only
    in a square round him, and nothing else may propose one (the pitch segmenter may miss him).
    """
    if max_age <= 0:
        return Held.empty()
    before = np.asarray(before, np.float64).reshape(-1, 4)
    now = np.asarray(now, np.float64).reshape(-1, 4)
    gone = before[before[:, 3] - before[:, 1] < largest_px]
    xyxy = np.concatenate([lost.xyxy_px, gone])
    age = np.concatenate([lost.age + 1, np.zeros(len(gone), np.int64)])
    keep = age < max_age
    if len(now) and len(xyxy):
        keep &= box_iou(xyxy, now).max(axis=1) < same_iou
    return Held(xyxy[keep], np.zeros(int(keep.sum())), age[keep])


class AutoDetector:
    """Pitch segmenter on every frame + the learned detector on a few views per frame, fused.

    Implements :class:`streamer.detection.backend.DetectorBackend`. The learned detector runs on
    every ``learned_every``-th frame: on the whole frame and on the finer levels' tiles (``levels``
    levels in all: the whole frame, squares of the short side, half that...) ``tiles_per_frame``
    at a time, round-robin (0 = all of them); people it found are held until the view that found
    them is looked at again (:func:`hold_unseen`), so they do not blink off in between. It also
    looks at a few squares round people too small for those views (:func:`proposal_views`): round
    those it found in the previous window on every frame, round unexplained pitch boxes on the
    frames its fixed views run. Once
    its fixed views have found nobody they can see on ``idle_every`` frames in a row (a wide shot of
    small players, which the pitch segmenter sees; not a person whose face turned away for a
    frame or two in a live run, whose windows are one frame) it runs only every ``idle_every``-th frame, and every
    ``learned_every``-th again once it does: a close-up after a cut is picked up at most
    ``idle_every - 1`` frames late, and people only proposals find are held in between.
    """

    def __init__(self, pitch: Callable[[np.ndarray], Detections], learned: BlazePoseDetector, config: FuseConfig,
                 levels: int = 2, tiles_per_frame: int = 0, learned_every: int = 1, idle_every: int = 1) -> None:
        self.pitch = pitch
        self.learned = learned
        self.config = config
        self.levels = max(1, int(levels))
        self.tiles_per_frame = int(tiles_per_frame)
        self.learned_every = max(1, int(learned_every))
        self.idle_every = max(self.learned_every, int(idle_every))
        self._frame = 0
        self._next_tile = 0
        self._shape: tuple[int, int] | None = None
        self._held = Held.empty()
        self._cycle = 1  # learned-detector runs between two turns of a tile
        self._idle = False  # the learned detector found nobody lately (see _empty)
        self._empty = 0  # frames in a row its fixed views ran on and found nobody they can see
        self._since = 0  # frames since the learned detector last ran
        self._last = np.zeros((0, 4))  # the learned people of the previous frame
        self._lost = Held.empty()  # small learned people lost lately (see remember_lost)

    def reset(self) -> None:
        """A camera cut: no person held, followed or proposed from the old view carries into
        the new one (they would confirm phantom tracks and veto the new shot's pitch boxes)."""
        self._shape = None  # the next frame starts over (views, held people, cadence)
        for part in (self.pitch, self.learned):
            reset = getattr(part, "reset", None)
            if callable(reset):
                reset()

    def _largest(self, width: int, height: int) -> float:
        """The smallest person the fixed views find (px): ``view_height_frac`` × the finest level's side."""
        finest = float(min(width, height)) * 0.5 ** (self.levels - 2) if self.levels > 1 else float(max(width, height))
        return self.learned.config.view_height_frac * finest

    def _every(self) -> int:
        return self.idle_every if self._idle else self.learned_every

    def _views(self, k: int, width: int, height: int) -> list[View]:
        if self._shape != (height, width):  # a new clip or size: start over
            self._shape, self._next_tile, self._held = (height, width), 0, Held.empty()
            self._frame, self._idle, self._since, self._last = 0, False, 0, np.zeros((0, 4))
            self._empty = 0
            self._lost = Held.empty()
        self._frame += 1
        if self._frame > 1 and self._since + 1 < self._every():
            self._since += 1
            return []
        self._since = 0
        sides = [float(max(width, height))] + [float(min(width, height)) * 0.5**i for i in range(self.levels - 1)]
        tiles = plan_views(k, width, height, sides, self.learned.config.tile_overlap)[1:]
        views = [letterbox_view(k, width, height)]
        if self.tiles_per_frame <= 0 or self.tiles_per_frame >= len(tiles):
            self._cycle = 1
            return views + tiles
        self._cycle = -(-len(tiles) // self.tiles_per_frame)
        views += [tiles[(self._next_tile + i) % len(tiles)] for i in range(self.tiles_per_frame)]
        self._next_tile = (self._next_tile + self.tiles_per_frame) % len(tiles)
        return views

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        every = self._every()  # the cadence of this window (views are planned before any result)
        pitch = [self.pitch(image) for image in images]
        fixed = [self._views(k, image.shape[1], image.shape[0]) for k, image in enumerate(images)]
        largest = [self._largest(image.shape[1], image.shape[0]) for image in images]
        # following proposals on every frame, whatever the fixed views' cadence (small people move too much to hold)
        # (round pitch boxes only on the fixed views' frames: on a wide shot they are mostly small players)
        # (and round small people lost lately, which nothing else may propose)
        followed = np.concatenate([self._last, self._lost.xyxy_px])
        per_image = [views + proposal_views(k, boxes.xyxy_px if views else boxes.xyxy_px[:0], followed,
                                            image.shape[1], image.shape[0], self.config, big)
                     for k, (image, boxes, views, big) in enumerate(zip(images, pitch, fixed, largest, strict=True))]
        learned = self.learned.detect_views(images, [v for views in per_image for v in views])
        out = []
        ran = False
        for image, boxes, found, views, own, big in zip(images, pitch, learned, per_image, fixed, largest,
                                                         strict=True):
            if own:  # people only proposals can see do not wake it (a wide shot's players)
                tall = found.xyxy_px[:, 3] - found.xyxy_px[:, 1] >= big
                ran, self._empty = True, 0 if tall.any() else self._empty + 1
            max_age = self._cycle * every - 1
            if max_age > 0:
                whole = self.learned.config.view_height_frac * max(image.shape[:2])
                found, held = hold_unseen(self._held, found, views, max_age,
                                          self.learned.config.merge_iou, whole,
                                          self.learned.config.view_height_frac)
                # people too small for the fixed views are proposals' (looked for again next frame):
                # held two frames at most (longer, a moving player's stale box is a duplicate)
                keep = (held.xyxy_px[:, 3] - held.xyxy_px[:, 1] >= big) | (held.age < 2)
                self._held = Held(held.xyxy_px[keep], held.score[keep], held.age[keep])
            # a lost person the pitch segmenter boxes now is not lost to the fusion: no square for him
            seen = np.concatenate([found.xyxy_px, boxes.xyxy_px])
            self._lost = remember_lost(self._lost, self._last, seen, big, self.config.propose_lost_frames)
            self._last = found.xyxy_px
            out.append(fuse(boxes, found, image.shape[0], self.config))
        if ran:  # nobody found in idle_every frames in a row (a live run's windows are one frame:
            # a face turned away for a frame must not idle it): look less often until someone is
            self._idle = self._empty >= self.idle_every
        return out

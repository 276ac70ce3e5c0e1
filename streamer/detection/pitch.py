"""Player detection by pitch-colour segmentation: no weights, built for small broadcast players.

Shape legend: ``H, W`` frame size; ``N`` boxes.

Per frame:

1. **Local background.** The mean of the grass-coloured pixels in a window much
   wider than a player, on a downscaled image (two passes, dropping cells a line
   or a player half covers), gives the grass colour around every pixel; it follows
   mowing stripes and sun/shadow edges, and unlike a median it does not lean
   towards ad boards or overlays at the pitch's edge (the median is kept where a
   window holds too little grass).
2. **Pitch region.** Pixels whose local background is grass-green form the
   pitch; its largest component, without the non-grass pixels joined to what lies
   outside it (the bottom of the boards), is where players are searched.
3. **Foreground.** Inside the pitch, pixels far (in YCrCb, luma half-weighted) from
   their local background: players, lines, ball; minus cast shadows (the grass
   darkened, its chromaticity kept) and minus grass by a sharp sun/shadow edge,
   where the centred window mixes sunlit and shaded grass (:func:`_grass_beside`).
4. **Line removal.** White paint strokes longer than ~2 players (lines, arcs, near
   lines of any width) are cut out, keeping parts much thicker than the stroke (a
   white shirt); an opening with a small rectangle (scaled to the frame) removes
   the remaining thin structures and keeps torsos; a bounded geodesic dilation
   inside the foreground then grows limbs and heads back. Parts the opening wiped
   out whole but shaped like a player where they stand (a far player in a
   grass-like or dark kit comes out in specks) are kept whole.
5. **Blobs → boxes.** Connected components, filtered by a size prior that
   follows perspective (players lower in the frame are taller), learnt online
   by robust regression of blob height on foot row; blobs too big for one player
   are split by kit colour (two teams), then at the valleys of their column or
   row profile; boxes shorter than the prior expects grow down (legs) and up
   (head) over the foreground; blobs lying down (boards, shadows, lines), goalposts
   (narrow white uprights) and, once the size prior is learnt, boxes under half the
   expected height (a ball, a flag's foot, a fragment) are dropped; the boxes kept
   grow over the foreground pieces next to them that stand up (spread legs and arms
   the opening took; not flat line pieces or neighbours).

The size prior restarts at a camera cut: the detect stage's ``end_shot`` calls
:meth:`PitchDetector.reset` (cuts come from :mod:`streamer.detection.shots`).

The score of a box (0..1) says how well it fits the size prior and how solid
the blob is; the tracker's two-stage association uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.records import Detections


@dataclass(frozen=True, slots=True)
class PitchDetectorConfig:
    """Knobs; pixel sizes are for a 720-row frame and scale with the frame height."""

    bg_kernel_px: int = 61  # local-background median width; >> player width, << pitch
    bg_scale: float = 0.125  # the background is computed at this resolution (speed)
    fg_threshold: float = 15.0  # YCrCb L1 distance from the local background that counts as foreground
    grass_hue: tuple[int, int] = (30, 95)  # OpenCV hue range (0..180) a grass background must have
    grass_min_sat: int = 40
    min_height_px: float = 10.0  # smallest player considered (at 720 rows)
    max_height_px: float = 430.0
    line_width_px: float = 3.0  # pitch lines up to about this wide are removed
    max_line_width_px: float = 12.0  # painted lines up to this wide are found as long white strokes
    limb_regrow_px: float = 8.0  # limbs thinner than a line grow back this far from the torso
    prior_min_samples: int = 40  # blobs seen before the perspective size prior is trusted
    prior_forget: float = 0.98  # per-frame forgetting of the size prior (camera zooms)
    split_width_ratio: float = 0.75  # blob wider than this × height is tried for a split
    min_score: float = 0.2  # boxes scoring less are dropped (fragments: line bits, crowd, boards)
    min_height_frac: float = 0.0  # boxes shorter than this × the learnt size prior's height are dropped (0 = off)
    wiped_players: bool = True  # keep foreground parts the opening wiped out whole if shaped like a player
    verify_hog: bool = False  # multiply scores by the HOG people-detector score of each blob


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Connected components of a 0/255 mask.

    Returns (M, 5) int32 stats (x, y, w, h, area) in frame coordinates, in raster order
    of each component's first pixel (OpenCV's parallel labelling numbers them by
    thread stripe, which would make results depend on the thread count); (M,) the
    label of each in the label image; the label image of the mask's bounding
    rectangle; and that rectangle's corner (x0, y0).

    Speed (720p): only the bounding rectangle is labelled (the pitch's rows, not the
    stands), with 16-bit labels (never more labels, provisional ones too, than
    foreground pixels), and the stats come from the foreground pixels alone —
    OpenCV's own stats visit every pixel and cost twice the labelling.
    """
    x0, y0, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return np.zeros((0, 5), np.int32), np.zeros(0, np.int64), np.zeros((0, 0), np.uint16), (0, 0)
    crop = mask[y0:y0 + h, x0:x0 + w]
    flat = np.flatnonzero(crop != 0)  # raster order (as cv2.findNonZero, 3-6x faster)
    ltype = cv2.CV_16U if len(flat) < 65535 else cv2.CV_32S
    _, labels = cv2.connectedComponents(crop, connectivity=8, ltype=ltype)
    label = labels.reshape(-1)[flat].astype(np.int64)
    order = np.argsort(label, kind="stable")  # within a label, still raster order
    label = label[order]
    ys, xs = np.divmod(flat[order], w)
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
    left, top = np.minimum.reduceat(xs, starts), np.minimum.reduceat(ys, starts)
    stats = np.stack([left + x0, top + y0,
                      np.maximum.reduceat(xs, starts) - left + 1, np.maximum.reduceat(ys, starts) - top + 1,
                      np.diff(np.r_[starts, len(label)])], axis=1).astype(np.int32)
    raster = np.argsort(order[starts])  # by each component's first pixel
    return stats[raster], label[starts][raster], labels, (x0, y0)


class SizePrior:
    """Expected player height (px) as a linear function of the foot row, learnt online.

    Robust: each update fits weighted least squares with Huber-like weights on
    the previous fit's residuals, with exponential forgetting so zooms are
    followed.
    """

    def __init__(self, min_samples: int, forget: float) -> None:
        self.min_samples, self.forget = min_samples, forget
        self._sums = np.zeros(5)  # n, Σy, Σy², Σh, Σyh (weighted)
        self._seen = 0
        self.coef: tuple[float, float] | None = None  # h = a*y + b

    def expected(self, foot_y: np.ndarray) -> np.ndarray | None:
        if self.coef is None:
            return None
        a, b = self.coef
        return np.maximum(1.0, a * foot_y + b)

    def update(self, foot_y: np.ndarray, height: np.ndarray) -> None:
        if len(foot_y) == 0:
            return
        weight = np.ones_like(height)
        predicted = self.expected(foot_y)
        if predicted is not None:
            log_ratio = np.log(height / predicted)
            rel = np.abs(log_ratio)
            weight = np.where(rel < 0.25, 1.0, 0.25 / np.maximum(rel, 1e-6)) ** 2
            # a player is often segmented only in part (legs lost in the grass, a head in the
            # crowd), rarely too tall: blobs shorter than predicted count less, so the fit
            # follows whole players rather than fragments
            weight = np.where(log_ratio < -0.1, 0.1 * weight, weight)
        self._sums *= self.forget
        self._sums += [weight.sum(), (weight * foot_y).sum(), (weight * foot_y**2).sum(),
                       (weight * height).sum(), (weight * foot_y * height).sum()]
        self._seen += len(foot_y)
        n, sy, syy, sh, syh = self._sums
        det = n * syy - sy * sy
        if self._seen >= self.min_samples and det > 1e-6 * max(1.0, n * syy):
            a = (n * syh - sy * sh) / det
            b = (sh - a * sy) / n
            # nearer (lower) players are never smaller: a slope below zero (fragments along
            # the far boards outweigh the players) falls back to one height for all rows
            self.coef = (float(a), float(b)) if a >= 0 else (0.0, float(sh / n))
        elif self._seen >= self.min_samples and n > 0:
            self.coef = (0.0, float(sh / n))


class PitchDetector:
    """Stateful (the size prior learns across frames); call once per frame in order."""

    def __init__(self, config: PitchDetectorConfig | None = None) -> None:
        self.config = config or PitchDetectorConfig()
        self.prior = SizePrior(self.config.prior_min_samples, self.config.prior_forget)
        self.inner_pitch: np.ndarray | None = None
        self.verifier = None
        if self.config.verify_hog:
            from streamer.detection.hog import HogVerifier

            self.verifier = HogVerifier()

    # -- masks ---------------------------------------------------------------------
    def masks(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pitch, foreground, white paint) uint8 masks (H, W) of 0/255 for an RGB frame."""
        cfg = self.config
        h, w = image.shape[:2]
        scale = cfg.bg_scale
        small = cv2.resize(image, (max(8, int(w * scale)), max(8, int(h * scale))),
                           interpolation=cv2.INTER_AREA)
        k = int(cfg.bg_kernel_px * (h / 720.0) * scale) | 1
        k = max(3, min(k, 255))
        bg_small = median = cv2.medianBlur(small, k)
        # pitch: where the local background is grass
        grass = self._grass(bg_small)
        grass_px = self._grass(small)
        pitch_small = _trim_border(_fill_player_holes(self._largest_region(grass)), grass_px)
        # near non-grass (boards, overlays, big players) the median leans towards them; the
        # mean of the grass pixels nearby does not; inside a player wider than the window the
        # grass of a window four times wider stands in
        wide = _grass_mean(small, grass_px > 0, min(4 * k, 255), fallback=bg_small)
        bg_small = _grass_mean(small, grass_px > 0, k, fallback=wide)
        # feet must stand clearly inside the pitch: its border mixes grass with boards
        inner_small = cv2.erode(pitch_small, np.ones((3, 3), np.uint8), iterations=2)
        self.inner_pitch = cv2.resize(inner_small, (w, h), interpolation=cv2.INTER_NEAREST)
        pitch = cv2.resize(pitch_small, (w, h), interpolation=cv2.INTER_NEAREST)
        # foreground: far from the local background
        bg = cv2.resize(bg_small, (w, h), interpolation=cv2.INTER_LINEAR)
        ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
        bg_ycrcb = cv2.cvtColor(bg, cv2.COLOR_RGB2YCrCb)
        # L1 distance in YCrCb with luma at half weight (shadows and mowing stripes change
        # brightness more than colour), doubled to stay in integers: |dY| + 2|dCr| + 2|dCb|
        # > 2 × threshold. OpenCV's uint8 adds saturate at 255, which keeps the comparison
        # right for any threshold below 127, and run 3× faster than a float transform.
        d_y, d_cr, d_cb = cv2.split(cv2.absdiff(ycrcb, bg_ycrcb))
        dist2 = cv2.add(cv2.add(d_y, cv2.add(d_cr, d_cr)), cv2.add(d_cb, d_cb))
        _, fg = cv2.threshold(dist2, 2.0 * cfg.fg_threshold, 255, cv2.THRESH_BINARY)
        fg = cv2.bitwise_and(fg, pitch)
        fg = _grass_beside(ycrcb, fg, bg_small, pitch_small, k, 2.0 * cfg.fg_threshold,
                           _sunlit_shaded(small, grass_px, bg_small, k), (median, grass > 0))
        fg, paint = _split_foreground(image, bg, ycrcb, bg_ycrcb, fg)
        return pitch, fg, paint

    def reset(self) -> None:
        """Forget the size prior: call at a camera cut (the detect stage's ``end_shot``).

        Players' size on the new camera has nothing to do with the old one's (a broadcast
        cuts from a wide shot to a close-up and back); forgetting alone would take dozens
        of frames, boxing fragments meanwhile.
        """
        self.prior = SizePrior(self.config.prior_min_samples, self.config.prior_forget)

    def _grass(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 0/255 mask of grass-coloured pixels."""
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        lo, hi = self.config.grass_hue
        return (((hsv[..., 0] >= lo) & (hsv[..., 0] <= hi)
                 & (hsv[..., 1] >= self.config.grass_min_sat)).astype(np.uint8) * 255)

    @staticmethod
    def _largest_region(grass: np.ndarray) -> np.ndarray:
        """The largest grass component with small notches closed.

        ``grass`` is computed on the median-filtered background, where players are
        already gone, so the holes left in it are large non-grass areas — score
        overlays, big logos — and they stay out of the pitch.
        """
        k = max(3, int(0.03 * grass.shape[1]) | 1)
        closed = cv2.morphologyEx(grass, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
        if n <= 1:
            return np.zeros_like(grass)
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if stats[biggest, cv2.CC_STAT_AREA] < 0.05 * grass.size:
            return np.zeros_like(grass)  # no pitch in view
        return np.where(labels == biggest, 255, 0).astype(np.uint8)

    def _remove_lines(self, fg: np.ndarray, paint: np.ndarray, frame_h: int) -> tuple[np.ndarray, np.ndarray]:
        """Cut out long painted lines, open away thin structures, then regrow limbs inside the foreground.

        Returns the blobs' mask and the foreground without the long lines (uint8 (H, W)).
        """
        cfg = self.config
        unit = frame_h / 720.0
        fg = cv2.subtract(fg, _long_lines(paint, self._player_px_by_row(frame_h), cfg.max_line_width_px * unit))
        no_lines = fg
        # the rest works on the foreground's bounding rectangle only (the pitch's rows:
        # a third less at 720p); erosion there must see zeros beyond its edge, as it
        # would in the whole frame
        out = np.zeros_like(fg)
        x0, y0, w, h = cv2.boundingRect(fg)
        if w == 0 or h == 0:
            return out, no_lines
        fg = np.ascontiguousarray(fg[y0:y0 + h, x0:x0 + w])
        lw = max(2, int(round(cfg.line_width_px * unit)) + 1)
        core = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (lw, lw + 2)),
                                borderType=cv2.BORDER_CONSTANT, borderValue=0)
        # regrow limbs: a few steps in every direction (arms, spread legs), then further up
        # and down only (legs, heads), so that a pitch line a player stands on is
        # re-attached by a few pixels at most
        vertical, square = np.ones((3, 1), np.uint8), np.ones((3, 3), np.uint8)
        grown = core
        for _ in range(max(1, int(round(cfg.limb_regrow_px * unit)))):
            grown = cv2.dilate(grown, square) & fg
        for _ in range(max(2, int(round(5 * unit)))):
            grown = cv2.dilate(grown, vertical) & fg
        if cfg.wiped_players and self.prior.coef is not None:
            grown |= self._wiped_players(fg, grown, paint[y0:y0 + h, x0:x0 + w], y0, 2 * lw)
        out[y0:y0 + h, x0:x0 + w] = grown
        return out, no_lines

    def _wiped_players(self, fg: np.ndarray, kept: np.ndarray, paint: np.ndarray, y0: int, min_width: int,
                       min_frac: float = 0.6, max_frac: float = 1.4, max_paint: float = 0.5) -> np.ndarray:
        """The foreground parts the opening wiped out whole that are shaped like a player: a far
        player in a kit close to the grass colour, or a dark one, comes out in specks and thin
        strokes with no part as wide as a line's opening. A part qualifies when nothing of it was
        kept, it is ``min_frac`` to ``max_frac`` × the expected height at its foot row tall, and 0.2
        to 0.8 × as wide as tall and ``min_width`` wide (line pieces are flat or needle-thin, and so
        are the strands of a goal's net) and under ``max_paint`` of it is
        line-white in ``paint`` (a piece of a goal's net). uint8 mask of their pixels, in ``fg``'s frame
        (rows from ``y0``).
        """
        out = np.zeros_like(fg)
        stats, ids, labels, (lx, ly) = _components(fg)
        if len(stats) == 0:
            return out
        x, y, w, h, area = (stats[:, i].astype(np.float32) for i in range(5))
        expected = self.prior.expected(y + h + y0)
        ok = ((h >= min_frac * expected) & (h <= max_frac * expected) & (w >= 0.2 * h) & (w <= 0.8 * h)
              & (w >= min_width))
        if not ok.any():
            return out
        index = np.zeros(int(ids.max()) + 1, np.int64)
        index[ids] = np.arange(len(ids))
        points = cv2.findNonZero(kept)
        if points is not None:  # something of it was kept
            ok[index[labels[points[:, 0, 1] - ly, points[:, 0, 0] - lx]]] = False
        points = cv2.findNonZero(cv2.bitwise_and(paint, fg))
        if points is not None:
            white = np.bincount(index[labels[points[:, 0, 1] - ly, points[:, 0, 0] - lx]], minlength=len(ids))
            ok &= white < max_paint * area
        for i in np.flatnonzero(ok):
            x1, y1, x2, y2 = int(x[i]), int(y[i]), int(x[i] + w[i]), int(y[i] + h[i])
            part = labels[y1 - ly:y2 - ly, x1 - lx:x2 - lx] == ids[i]
            out[y1:y2, x1:x2] |= np.where(part, 255, 0).astype(np.uint8)
        return out

    def _player_px_by_row(self, frame_h: int) -> np.ndarray:
        """(H,) the player height (px) the size prior expects for each foot row."""
        expected = self.prior.expected(np.arange(1, frame_h + 1, dtype=np.float32))
        if expected is None:  # not learnt yet: a generous guess
            return np.full(frame_h, 0.25 * frame_h, np.float32)
        return np.minimum(expected, 0.5 * frame_h)

    # -- detection -----------------------------------------------------------------
    def __call__(self, image: np.ndarray) -> Detections:
        cfg = self.config
        h = image.shape[0]
        unit = h / 720.0
        pitch, fg, paint = self.masks(image)
        blobs, no_lines = self._remove_lines(fg, paint, h)
        stats, ids, labels, origin = _components(blobs)
        if len(stats) == 0:
            self.prior.update(np.zeros(0), np.zeros(0))
            return Detections.empty()
        x, y, bw, bh, area = (stats[:, i].astype(np.float32) for i in range(5))
        keep = (bh >= cfg.min_height_px * unit) & (bh <= cfg.max_height_px * unit)
        boxes = np.stack([x, y, x + bw, y + bh], axis=1)[keep]
        fill = (area / np.maximum(1.0, bw * bh))[keep]
        boxes, fill = self._split_wide(boxes, fill, ids[keep], labels, origin, image)
        if len(boxes) == 0:
            return Detections.empty()
        foot_x = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2).astype(int), 0, image.shape[1] - 1)
        foot_y = np.clip((boxes[:, 3] - 1).astype(int), 0, h - 1)
        on_pitch = self.inner_pitch[foot_y, foot_x] > 0
        boxes, fill = boxes[on_pitch], fill[on_pitch]
        marking = _line_fragments(image, fg, boxes)
        if self.prior.coef is not None:  # a post is told from a player by his expected size
            marking |= _posts(image, fg, boxes, self._player_px_by_row(h))
        boxes, fill = boxes[~marking], fill[~marking]
        if len(boxes) == 0:
            return Detections.empty()
        boxes = self._regrow_ends(boxes, no_lines)
        foot = boxes[:, 3]
        height = boxes[:, 3] - boxes[:, 1]
        width = boxes[:, 2] - boxes[:, 0]
        expected = self.prior.expected(foot)
        if expected is None:
            size_fit = np.ones(len(boxes), np.float32)
        else:
            size_fit = np.exp(-np.abs(np.log(height / expected)) / 0.7)
        # people stand: lines and logos sprawl, line fragments are needle-thin
        shape_ok = (height >= 0.8 * width) & (height <= 5.0 * width)
        score = (size_fit * np.clip(fill / 0.3, 0.0, 1.0) * np.where(shape_ok, 1.0, 0.3)).astype(np.float32)
        if self.verifier is not None and len(boxes):
            score = score * (0.3 + 0.7 * self.verifier(image, boxes))
        # learn the prior from confident, solid, upright blobs only
        learn = (score > 0.5) & shape_ok
        self.prior.update(foot[learn], height[learn])
        # a blob lying down is a board, a line or a shadow: two players side by side were split
        keep = (score >= cfg.min_score) & (width <= 2.0 * height)
        if expected is not None:
            # under half a player where he stands: a ball, a corner flag's foot, a boot, a piece
            # of a line or a post, or someone less than half in view; none is a person to find.
            # Not a box whose top is the pitch's edge: the legs of a player standing at the
            # boards, his body above the grass (the auto detector looks for him round them)
            top = np.maximum(boxes[:, 1].astype(int) - 3, 0)
            at_edge = np.array([not pitch[t, int(x1):max(int(x1) + 1, int(x2))].all()
                                for t, x1, x2 in zip(top, boxes[:, 0], boxes[:, 2], strict=True)], bool)
            keep &= (height >= cfg.min_height_frac * expected) | at_edge
        # spread legs and arms reach the final boxes only: scoring and the size prior see the blobs
        # (grown, a fragment can look like a standing person)
        return Detections(self._regrow_limbs(boxes[keep], no_lines).astype(np.float32), score[keep])

    def _regrow_ends(self, boxes: np.ndarray, fg: np.ndarray, max_gap: int = 2) -> np.ndarray:
        """Boxes shorter than the size prior expects, grown down (legs) and then up (head)
        over the foreground rows that carry on under (above) them within the box's columns.

        The opening that removes thin structures takes a far player's thin legs, and the
        limb regrowth cannot cross the gaps compression leaves at the knees or the shorts:
        the box stopped at the waist. Rows are followed while no more than ``max_gap`` in a
        row are empty, up to 10 % past the expected height (down: at most half a player;
        up: a quarter), never into another box; slivers narrower than a fifth of the
        expected height are left alone.
        """
        if len(boxes) == 0 or self.prior.coef is None:
            return boxes
        out = boxes.copy()
        h_img = fg.shape[0]
        for i, (x1, _, x2, y2) in enumerate(boxes.astype(int)):
            expected = float(self.prior.expected(np.array([y2], np.float32))[0])
            if x2 - x1 < 0.2 * expected:  # a sliver (a post, a board's edge, a limb) is no torso
                continue
            others = np.delete(boxes, i, axis=0)
            beside = others[(others[:, 0] < x2) & (others[:, 2] > x1)]
            for down, cap in ((True, 0.5), (False, 0.25)):
                missing = 1.1 * expected - (out[i, 3] - out[i, 1])
                reach = int(min(missing, cap * expected))
                if reach < 2:
                    break
                if down:
                    lo, hi = int(out[i, 3]), min(h_img, int(out[i, 3]) + reach)
                    below = beside[:, 1][(beside[:, 1] >= lo) & (beside[:, 3] > out[i, 3])]
                    hi = min(hi, int(below.min())) if len(below) else hi
                    rows = fg[lo:hi, x1:x2].any(axis=1)
                else:
                    lo, hi = max(0, int(out[i, 1]) - reach), int(out[i, 1])
                    above = beside[:, 3][(beside[:, 3] <= hi) & (beside[:, 1] < out[i, 1])]
                    lo = max(lo, int(above.max())) if len(above) else lo
                    rows = fg[lo:hi, x1:x2].any(axis=1)[::-1]
                last, gap = -1, 0
                for k, filled in enumerate(rows):
                    gap = 0 if filled else gap + 1
                    if gap > max_gap:
                        break
                    if filled:
                        last = k
                if down:
                    out[i, 3] += last + 1
                else:
                    out[i, 1] -= last + 1
        return out

    def _regrow_limbs(self, boxes: np.ndarray, fg: np.ndarray, side: float = 0.3, up: float = 0.2, down: float = 1.15,
                      max_width: float = 0.9, max_height: float = 1.3, flat: float = 1.5) -> np.ndarray:
        """Boxes grown over the foreground connected to what they hold, near them: spread legs and
        arms the opening took and the limb regrowth did not reach.

        Within a window round each box (``side`` × the expected height on each side, ``up`` above its
        top, down to ``down`` × the expected height below its top), the foreground's 8-connected parts
        that touch the box's pixels, not entering another box, are added where they stick out of the
        box in pieces that stand up: a piece more than ``flat`` × as wide as tall is a line, and one
        reaching the window's edge is a line or a neighbour. A growth beyond ``max_width`` /
        ``max_height`` × the expected height is undone. Boxes only grow.
        """
        if len(boxes) == 0 or self.prior.coef is None:
            return boxes
        h_img, w_img = fg.shape
        out = boxes.copy()
        expected = self.prior.expected(boxes[:, 3])
        ints = boxes.astype(int)
        for i, (box, he) in enumerate(zip(ints, expected, strict=True)):
            x1, y1, x2, y2 = (int(v) for v in box)
            wx1, wy1 = max(0, int(x1 - side * he)), max(0, int(y1 - up * he))
            wx2, wy2 = min(w_img, int(x2 + side * he) + 1), min(h_img, max(y2, int(y1 + down * he)) + 1)
            window = fg[wy1:wy2, wx1:wx2].copy()
            # nothing beside the box to grow over: done
            if cv2.countNonZero(window) == cv2.countNonZero(window[y1 - wy1:y2 - wy1, x1 - wx1:x2 - wx1]):
                continue
            near = np.flatnonzero((ints[:, 0] < wx2) & (ints[:, 2] > wx1) & (ints[:, 1] < wy2) & (ints[:, 3] > wy1))
            for ox1, oy1, ox2, oy2 in ints[near[near != i]]:
                window[max(0, oy1 - wy1):max(0, oy2 - wy1), max(0, ox1 - wx1):max(0, ox2 - wx1)] = 0
            n, labels = cv2.connectedComponents(window, connectivity=8, ltype=cv2.CV_16U)
            if n <= 1:
                continue
            own = np.zeros(n, np.uint8)
            own[labels[y1 - wy1:y2 - wy1, x1 - wx1:x2 - wx1].ravel()] = 255
            own[0] = 0
            grown = own[labels]
            grown[y1 - wy1:y2 - wy1, x1 - wx1:x2 - wx1] = 0
            m, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
            nx1, ny1, nx2, ny2 = x1, y1, x2, y2
            for px, py, pw, ph, _ in stats[1:m]:
                # a piece lying flat is a line, one reaching the window's edge a line or a neighbour
                if pw > flat * ph or (px == 0 and wx1 > 0) or (py == 0 and wy1 > 0) \
                        or (px + pw == wx2 - wx1 and wx2 < w_img) or (py + ph == wy2 - wy1 and wy2 < h_img):
                    continue
                nx1, ny1 = min(nx1, wx1 + px), min(ny1, wy1 + py)
                nx2, ny2 = max(nx2, wx1 + px + pw), max(ny2, wy1 + py + ph)
            if nx2 - nx1 > max_width * he:
                nx1, nx2 = x1, x2
            if ny2 - ny1 > max_height * he:
                ny1, ny2 = y1, y2
            out[i] = (nx1, ny1, nx2, ny2)
        return out

    def _split_wide(self, boxes: np.ndarray, fill: np.ndarray, ids: np.ndarray, labels: np.ndarray,
                    origin: tuple[int, int], image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split blobs holding several players: players of two teams by kit colour
        (:func:`_colour_parts`), then side by side at column-profile valleys, one behind
        the other (stacked in the image) at row-profile valleys.

        Each blob is split on its own pixels (``labels == id``): the box of a blob that
        sprawls (a line network with players on it) also holds other, separate blobs,
        and a part cut from it must not be one of those again — that made two identical
        detections of one player, and two tracks that then lived on together.
        """
        out: list[tuple[np.ndarray, float]] = []
        ox, oy = origin
        for box, f, label in zip(boxes, fill, ids, strict=True):
            expected = self.prior.expected(np.array([box[3]], np.float32))
            player_h = float(expected[0]) if expected is not None else float(box[3] - box[1])
            x1, y1, x2, y2 = (int(v) for v in box)
            own = labels[y1 - oy:y2 - oy, x1 - ox:x2 - ox] == label
            shift = np.array([x1, y1, x1, y1], np.float32)
            for mask in _colour_parts(image[y1:y2, x1:x2], own, player_h):
                if mask is own:
                    local, mask_fill = np.array([0, 0, x2 - x1, y2 - y1], np.float32), f
                else:
                    tight = _tight(mask, 0, 0, x2 - x1, y2 - y1)
                    if tight is None:
                        continue
                    local, mask_fill = tight
                for part, part_fill in self._split_axis(local, mask_fill, mask, player_h, axis=1):
                    out.extend((b + shift, pf) for b, pf in self._split_axis(part, part_fill, mask, player_h, axis=0))
        if not out:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.asarray([b for b, _ in out], np.float32), np.asarray([f for _, f in out], np.float32)

    def _split_axis(self, box: np.ndarray, fill: float, mask: np.ndarray, player_h: float,
                    axis: int) -> list[tuple[np.ndarray, float]]:
        """Cut ``box`` along columns (axis=1) or rows (axis=0) into as many players as fit."""
        x1, y1, x2, y2 = (int(v) for v in box)
        bw, bh = x2 - x1, y2 - y1
        if axis == 1:
            span, unit = bw, 0.45 * player_h
            crowded = bw > self.config.split_width_ratio * max(bh, player_h)
        else:
            span, unit = bh, player_h
            crowded = bh > 1.7 * player_h
        n = min(4, int(round(span / unit))) if crowded else 1
        if n <= 1:
            return [(box, fill)]
        profile = (mask[y1:y2, x1:x2] > 0).sum(axis=1 - axis).astype(np.float32)
        cuts = [0]
        for k in range(1, n):
            centre = int(round(k * span / n))
            lo, hi = max(1, centre - int(unit / 3)), min(span - 1, centre + int(unit / 3))
            cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else centre)
        cuts.append(span)
        # cut only at a real valley: one tall player is not two stacked ones, and a player
        # widened by the line he stands on is not two side by side
        if min(profile[c] for c in cuts[1:-1]) > (0.35 if axis == 0 else 0.5) * profile.max():
            return [(box, fill)]
        parts = []
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            if b - a < 2:
                continue
            if axis == 1:
                parts.append(_tight(mask, x1 + a, y1, x1 + b, y2))
            else:
                parts.append(_tight(mask, x1, y1 + a, x2, y1 + b))
        return [p for p in parts if p is not None]


def _colour_parts(crop: np.ndarray, own: np.ndarray, player_h: float, min_chroma_gap: float = 12.0,
                  max_iou: float = 0.4) -> list[np.ndarray]:
    """A blob too big for one player, split into two players of different kit colours.

    ``crop`` (h, w, 3) RGB and ``own`` (h, w) bool: the blob's box and its pixels. Two
    players of different teams that touch or overlap (a duel, one behind the other) make
    one blob without a column or row valley between them; their kits differ in chroma
    (white and black are both neutral, so one team's shirt and shorts stay together).
    The blob's pixels are split in two by k-means on (Cr, Cb); each cluster's largest
    connected part (after a small closing) is a player when both are at least 0.8 player
    heights tall and a quarter of the pixels, their colours differ by ``min_chroma_gap``
    and their boxes overlap little (a kit and the skin of one player's arms and legs
    overlap much). One of them may be only 0.6 player heights tall (his legs hidden behind
    the other's, or lost in the grass) if the two stand side by side (their columns overlap
    by at most 0.7 of the narrower one: not one player's shirt over his own legs, nor a
    player and the line under his feet) and are 1.5 player heights tall together.
    Returns the masks (h, w) bool of the parts, or ``[own]``.
    """
    h, w = own.shape
    if not ((w > 0.6 * player_h and h > 0.8 * player_h) or h > 1.3 * player_h) or own.sum() < 40 \
            or w * h > 6.0 * 0.4 * player_h * player_h:  # a line network, a board: not two players
        return [own]
    ycc = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2YCrCb)
    chroma = ycc[own][:, 1:].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 0.5)
    cv2.setRNGSeed(0)
    _, assign, centres = cv2.kmeans(chroma, 2, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    if float(np.abs(centres[0] - centres[1]).sum()) < min_chroma_gap:
        return [own]
    parts, boxes = [], []
    for c in range(2):
        cluster = np.zeros((h, w), np.uint8)
        cluster[own] = (assign[:, 0] == c).astype(np.uint8) * 255
        cluster = cv2.morphologyEx(cluster, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) & own.astype(np.uint8) * 255
        n, labels, stats, _ = cv2.connectedComponentsWithStats(cluster, connectivity=8)
        if n <= 1:
            return [own]
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, bw, bh, area = stats[biggest]
        if bh < 0.6 * player_h or area < 0.25 * own.sum():
            return [own]
        parts.append(labels == biggest)
        boxes.append([x, y, x + bw, y + bh])
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = boxes
    if min(ay2 - ay1, by2 - by1) < 0.8 * player_h:
        # one hidden in part (legs behind the other's): only side by side, and tall enough for two
        beside = min(ax2, bx2) - max(ax1, bx1) <= 0.7 * min(ax2 - ax1, bx2 - bx1)
        if not beside or ay2 - ay1 + by2 - by1 < 1.5 * player_h:
            return [own]
    inter = max(0, min(ax2, bx2) - max(ax1, bx1)) * max(0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return parts if inter / max(union, 1) < max_iou else [own]


def _line_fragments(image: np.ndarray, fg: np.ndarray, boxes: np.ndarray, white_share: float = 0.7,
                    attached_share: float = 0.5) -> np.ndarray:
    """(N,) bool: boxes that hold a piece of a pitch marking rather than a player.

    A marking piece is almost all line-white (bright, unsaturated) and its foreground
    carries on outside the box (the rest of the line or circle); a player has skin, hair,
    shorts and boots, and stands apart from other foreground unless on a line.
    """
    out = np.zeros(len(boxes), bool)
    h_img, w_img = fg.shape
    for i, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        crop = image[y1:y2, x1:x2]
        mask = fg[y1:y2, x1:x2] > 0
        if crop.size == 0 or not mask.any():
            continue
        hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2HSV)[mask]
        if ((hsv[:, 1] < 70) & (hsv[:, 2] > 150)).mean() < white_share:
            continue
        pad = max(3, (y2 - y1) // 2)
        wx1, wy1, wx2, wy2 = max(0, x1 - pad), max(0, y1 - pad), min(w_img, x2 + pad), min(h_img, y2 + pad)
        around = int((fg[wy1:wy2, wx1:wx2] > 0).sum()) - int(mask.sum())
        out[i] = around > attached_share * mask.sum()
    return out


def _post_whiteness(image: np.ndarray, fg: np.ndarray, box: np.ndarray, player_px: np.ndarray,
                    band_frac: float = 0.1) -> tuple[float, float]:
    """(share of the box's rows the blob's densest narrow column band covers, share of those rows
    where the band is mostly line-white) for one box; see :func:`_posts`."""
    x1, y1, x2, y2 = (int(v) for v in box)
    mask = fg[y1:y2, x1:x2] > 0
    if mask.size == 0 or not mask.any():
        return 0.0, 0.0
    band = max(3, int(round(band_frac * float(player_px[min(y2, len(player_px)) - 1]))))
    band = min(band, x2 - x1)
    counts = np.r_[0, np.cumsum(mask.sum(axis=0))]
    j = int(np.argmax(counts[band:] - counts[:-band]))
    sub = mask[:, j:j + band]
    covered = sub.any(axis=1)
    crop = np.ascontiguousarray(image[y1:y2, x1 + j:x1 + j + band])
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    white = (hsv[..., 1] < 70) & (hsv[..., 2] > 150) & sub
    white_rows = (white.sum(axis=1) >= 0.5 * sub.sum(axis=1)) & covered
    return float(covered.mean()), float(white_rows.sum() / max(1, covered.sum()))


def _posts(image: np.ndarray, fg: np.ndarray, boxes: np.ndarray, player_px: np.ndarray,
           min_covered: float = 0.85, min_white_rows: float = 0.8, min_player_px: float = 40.0) -> np.ndarray:
    """(N,) bool: boxes that hold a goalpost (or another white pole) rather than a player.

    ``player_px`` (H,): the expected player height per foot row. A post is a narrow white
    upright: the blob's densest band of columns a tenth of a player wide runs down at least
    ``min_covered`` of the box's rows and is mostly line-white (bright, unsaturated) on at
    least ``min_white_rows`` of them. A player in an all-white kit is not: his hair, face,
    arms, legs and boots are not white, on a third of his rows or more. Only where a player
    is expected ``min_player_px`` tall or more: a post is ~0.07 of a player wide, and a
    smaller player's band (3 px at least) is his whole body, his blurred limbs as pale as
    his white kit (far players of a wide shot came out as posts).
    """
    out = np.zeros(len(boxes), bool)
    for i, box in enumerate(boxes):
        if player_px[min(int(box[3]), len(player_px)) - 1] < min_player_px:
            continue
        covered, white_rows = _post_whiteness(image, fg, box, player_px)
        out[i] = covered >= min_covered and white_rows >= min_white_rows
    return out


def _grass_mean(small: np.ndarray, grass: np.ndarray, k: int, fallback: np.ndarray,
                min_support: float = 0.2, max_l1: float = 30.0) -> np.ndarray:
    """(h, w, 3) uint8 local mean of the grass pixels in a k×k window, in two passes.

    The second pass leaves out the grass-hued pixels far from the first mean (cells
    half covered by a line or a player); where less than ``min_support`` of the window
    is grass, ``fallback`` (the median) is kept.
    """
    pixels = small.astype(np.float32)
    mask = grass.astype(np.float32)
    for _ in range(2):
        weight = cv2.blur(mask, (k, k))
        mean = np.where((weight > min_support)[..., None],
                        cv2.blur(pixels * mask[..., None], (k, k)) / np.maximum(weight, 1e-3)[..., None],
                        fallback)
        diff = np.abs(pixels - mean)  # channels summed as slices (numpy is slow along a short last axis)
        mask = mask * (diff[..., 0] + diff[..., 1] + diff[..., 2] <= max_l1)
    return np.clip(mean + 0.5, 0, 255).astype(np.uint8)


def _sunlit_shaded(small: np.ndarray, grass: np.ndarray, bg_small: np.ndarray, k: int,
                   min_support: float = 0.15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h, w, 3) uint8 local means of the grass brighter and of the grass darker than the
    local mean (sunlit and shaded grass where a stadium's shadow crosses the window), and
    (h, w) bool where both have support."""
    pixels = small.astype(np.float32)
    luma = pixels @ np.float32([0.299, 0.587, 0.114])
    ref = bg_small.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    means, support = [], []
    for part in (luma > ref, luma < ref):
        mask = (part & (grass > 0)).astype(np.float32)
        weight = cv2.blur(mask, (k, k))
        means.append(np.clip(cv2.blur(pixels * mask[..., None], (k, k)) / np.maximum(weight, 1e-3)[..., None]
                             + 0.5, 0, 255).astype(np.uint8))
        support.append(weight > min_support)
    return means[0], means[1], support[0] & support[1]


def _grass_beside(ycrcb: np.ndarray, fg: np.ndarray, bg_small: np.ndarray, pitch_small: np.ndarray, k: int,
                  threshold2: float, two_sided: tuple[np.ndarray, np.ndarray, np.ndarray],
                  median: tuple[np.ndarray, np.ndarray], ratio: float = 0.5,
                  median_ratio: float = 0.8) -> np.ndarray:
    """The foreground without the grass on either side of a sharp sun/shadow edge.

    A window centred on a pixel near the edge mixes sunlit and shaded grass: its mean
    matches neither, and a strip of grass along the edge came out as foreground (rows
    of boxes along a stadium's shadow). Candidates for the grass a pixel really lies on:
    the mean of a window shifted by its own width to one side (8 directions; only
    where that window lies on the pitch), which lies all on the pixel's side of the
    edge, the means of the sunlit and of the shaded grass in the centred window, and
    the window's median where that is grass (where most of the window is sunlit, the
    mean's second pass keeps the shaded grass only).
    A pixel clearly closer to one of them than to the centred mean is grass; so is one
    that is a mix of two opposite ones (the blurred edge itself) that differ in luma by
    more than the foreground threshold. A player matches none of them.
    """
    sh, sw = bg_small.shape[:2]

    def ycc(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.int32)

    def dist2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        diff = np.abs(a - b)
        return diff[..., 0] + 2 * diff[..., 1] + 2 * diff[..., 2]

    bg_yc = ycc(bg_small)
    on_pitch = np.pad(pitch_small > 0, k, constant_values=False)
    padded = np.pad(bg_yc, ((k, k), (k, k), (0, 0)), mode="edge")

    def shifted(dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
        """The grass one window beside each cell of the small grid, and where that is on the pitch (views)."""
        rows, cols = slice(k + dy * k, k + dy * k + sh), slice(k + dx * k, k + dx * k + sw)
        return padded[rows, cols], on_pitch[rows, cols]

    sunlit, shaded, both = two_sided
    # (one side's grass, its validity, the opposite side's, its validity), on the small grid
    shifts = ((-1, 0), (0, -1), (-1, -1), (1, -1))
    pairs = [(*shifted(dx, dy), *shifted(-dx, -dy)) for dx, dy in shifts]
    pairs.append((ycc(sunlit), both, ycc(shaded), both))
    med_yc, med_ok = ycc(median[0]), median[1] > 0
    # speed: by the triangle inequality a candidate can only win where it differs from the
    # centred window's grass by (1 - its ratio) x the threshold; in even grass none does
    uneven = med_ok & (dist2(med_yc, bg_yc) >= (1.0 - median_ratio) * threshold2)
    for one, one_ok, other, other_ok in pairs:
        uneven |= one_ok & (dist2(one, bg_yc) >= (1.0 - ratio) * threshold2)
        uneven |= other_ok & (dist2(other, bg_yc) >= (1.0 - ratio) * threshold2)
    # ...and only near an edge worth the name: two opposite candidates a threshold apart
    # (mowing stripes differ less; this skips most of a striped pitch)
    edge_near = np.zeros_like(uneven)
    for one, one_ok, other, other_ok in pairs:
        edge_near |= one_ok & other_ok & (dist2(one, other) >= threshold2)
    uneven &= cv2.dilate(edge_near.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if not uneven.any():
        return fg
    # the foreground pixels where ``uneven`` resized to the frame (nearest) is set, looked up
    # through that resize's row and column maps rather than resized (a whole-frame pass)
    h, w = fg.shape
    flat = np.flatnonzero(fg != 0)
    ys, xs = np.divmod(flat, w)
    rows, cols = _nearest_maps((sh, sw), (h, w))
    gated = uneven[rows[ys], cols[xs]]
    if not gated.any():
        return fg
    flat, ys, xs = flat[gated], ys[gated], xs[gated]
    cell = np.minimum((ys * sh) // h, sh - 1) * sw + np.minimum((xs * sw) // w, sw - 1)

    # per point, one 1-D array per channel (numpy is much faster on long 1-D arrays than
    # along the short axis of (n, 3) ones)
    def at(grid: np.ndarray) -> list[np.ndarray]:
        if grid.ndim == 2:
            return np.take(grid.reshape(-1), cell)
        return [np.take(np.ascontiguousarray(grid[..., c]).reshape(-1), cell).astype(np.float32) for c in range(3)]

    def d2(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
        return np.abs(a[0] - b[0]) + 2.0 * (np.abs(a[1] - b[1]) + np.abs(a[2] - b[2]))

    # the shifted windows' grass of each point, gathered from the padded grid by offset (one
    # float32 plane per channel, converted once; no shifted copies)
    planes = [np.ascontiguousarray(padded[..., c], dtype=np.float32).reshape(-1) for c in range(3)]
    pitch_plane = on_pitch.reshape(-1)
    pw = sw + 2 * k
    cell_y, cell_x = np.divmod(cell, sw)
    centre = (cell_y + k) * pw + (cell_x + k)

    def beside(dx: int, dy: int) -> tuple[list[np.ndarray], np.ndarray]:
        index = centre + (dy * k * pw + dx * k)
        return [np.take(plane, index) for plane in planes], np.take(pitch_plane, index)

    pixels = ycrcb.reshape(-1)  # interleaved: no per-channel copies of the whole frame
    px = [np.take(pixels, flat * 3 + c).astype(np.float32) for c in range(3)]
    best = d2(px, beside(0, 0)[0])  # from the centred window's grass
    near = d2(px, at(med_yc))
    grass = at(med_ok) & (near <= threshold2) & (near <= median_ratio * best)
    point_pairs = [(*beside(dx, dy), *beside(-dx, -dy)) for dx, dy in shifts]
    point_pairs.append(tuple(at(a) for a in pairs[-1]))
    for one, one_ok, other, other_ok in point_pairs:
        span = one[0] - other[0]
        edge = np.abs(span) >= threshold2
        for side, ok in ((one, one_ok), (other, other_ok)):
            # a clear match only: far closer than to the centred window's grass (a leg in
            # even grass is a little closer to a lighter or darker mowing stripe beside it)
            near = d2(px, side)
            grass |= ok & (near <= threshold2) & (near <= ratio * best)
        # the blurred edge itself (penumbra, compression): a mix of the grass on its two sides
        t = np.clip((px[0] - other[0]) / np.where(edge, span, 1.0), 0.0, 1.0)
        mix = [t * a + (1.0 - t) * b for a, b in zip(one, other, strict=True)]
        grass |= one_ok & other_ok & edge & (d2(px, mix) <= 0.5 * threshold2)
    out = fg.copy()
    out.reshape(-1)[flat[grass]] = 0
    return out


def _nearest_maps(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(dst rows,) and (dst cols,): the source row and column ``cv2.resize(..., INTER_NEAREST)``
    copies to each destination row and column (the resize of an index row and column: exact)."""
    (sh, sw), (h, w) = src_hw, dst_hw
    cols = cv2.resize(np.arange(sw, dtype=np.int32)[None, :], (w, 1), interpolation=cv2.INTER_NEAREST)[0]
    rows = cv2.resize(np.arange(sh, dtype=np.int32)[:, None], (1, h), interpolation=cv2.INTER_NEAREST)[:, 0]
    return rows, cols


def _split_foreground(image: np.ndarray, bg: np.ndarray, ycrcb: np.ndarray, bg_ycrcb: np.ndarray,
                      fg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(foreground without cast shadows, white paint) uint8 masks (H, W), from one pass
    over the foreground pixels (gathered once: the frame's few percent, not all of it).

    Shadows: a shadow scales the grass's RGB by one factor (0.3..0.88), so its
    chromaticity (r, g, b) / (r + g + b) stays the grass's; dark kits, hair and boots
    differ in chromaticity. Players' shadows widen their boxes and join neighbours.

    Paint: a pixel on a line's blurred edge is a mix of paint (luma 235, no colour)
    and the grass behind it: its share of paint follows from its luma, and its colour
    must then be the grass's colour scaled down by the rest; a pixel at least 30 %
    paint is marked.
    """
    flat = np.flatnonzero(fg != 0)  # raster order (as cv2.findNonZero, 3-6x faster)
    paint_mask = np.zeros_like(fg)
    if len(flat) == 0:
        return fg, paint_mask

    def gather(channels: np.ndarray, index: np.ndarray) -> np.ndarray:
        # (3, n) float32, one row per channel: numpy reduces long rows much faster than
        # (n, 3) along its short axis
        return np.take(channels.reshape(-1, 3), index, axis=0).T.astype(np.float32, order="C")

    px, ref = gather(image, flat), gather(bg, flat)
    px_sum, ref_sum = px.sum(axis=0) + 1.0, ref.sum(axis=0) + 1.0
    ratio = px_sum / ref_sum
    # Σ|px/px_sum - ref/ref_sum| <= 0.04, multiplied through by both sums
    chroma_gap = np.abs(px * ref_sum - ref * px_sum).sum(axis=0)
    shadow = (ratio >= 0.3) & (ratio <= 0.88) & (chroma_gap <= 0.04 * px_sum * ref_sum)
    out = fg.copy()
    out.reshape(-1)[flat[shadow]] = 0
    flat = flat[~shadow]
    yc, yc_ref = gather(ycrcb, flat), gather(bg_ycrcb, flat)
    share = (yc[0] - yc_ref[0]) / np.maximum(235.0 - yc_ref[0], 1.0)
    rest = 1.0 - np.clip(share, 0.0, 1.0)
    chroma_off = (np.abs(yc[1] - 128.0 - rest * (yc_ref[1] - 128.0))
                  + np.abs(yc[2] - 128.0 - rest * (yc_ref[2] - 128.0)))
    paint = (share >= 0.3) & (chroma_off <= 14.0)
    paint_mask.reshape(-1)[flat[paint]] = 255
    return out, paint_mask


def _fill_player_holes(pitch: np.ndarray, max_width: float = 0.25, min_upright: float = 0.5) -> np.ndarray:
    """The pitch with its upright holes filled: players wider than the background window.

    The grass test runs on the median background, where a player wider than the window
    is still there: he leaves a hole in the pitch (or a notch, cut by the frame's bottom
    edge) and would never be searched. Such a hole is at most ``max_width`` of the frame
    wide and at least ``min_upright`` as tall as wide (a player's legs may leave a hole of
    their own under his torso's), and touches no frame edge but the bottom; score
    overlays and logos (wide), the stands and the boards (at the top or the sides,
    frame-wide) stay out.
    """
    h, w = pitch.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(np.where(pitch > 0, 0, 255).astype(np.uint8),
                                                           connectivity=4)
    x, y, bw, bh = (stats[1:, i] for i in range(4))
    fill = ((bw <= max_width * w) & (bh >= min_upright * bw) & (x > 0) & (y > 0) & (x + bw < w))
    if not fill.any():
        return pitch
    return np.where(np.isin(labels, 1 + np.flatnonzero(fill)), 255, pitch).astype(np.uint8)


def _trim_border(pitch: np.ndarray, grass: np.ndarray) -> np.ndarray:
    """The pitch without the non-grass pixels connected to what lies outside it.

    The median background reaches a few pixels past the real grass edge, taking in
    the bottom of ad boards; those pixels are not grass themselves and touch the
    outside, unlike players, who stand on grass inside the pitch.
    """
    not_grass = np.where((grass == 0) | (pitch == 0), 255, 0).astype(np.uint8)
    _, labels = cv2.connectedComponents(not_grass, connectivity=4)
    outside = np.unique(labels[pitch == 0])
    outside = outside[outside > 0]
    return np.where(np.isin(labels, outside), 0, pitch).astype(np.uint8)


def _long_lines(white: np.ndarray, player_px: np.ndarray, max_width_px: float) -> np.ndarray:
    """uint8 mask (H, W) of the pixels of long painted lines in a white-paint mask.

    ``player_px`` (H,): the expected player height for each foot row. A white
    stroke whose box's diagonal is over 1.2 players standing at its lowest row (a
    white shirt's is well under: a ragged one looked long by area over width) and
    longer (along its curve) than 1.8 such players is
    a pitch line or arc (or several joined), whatever its width in the image: near
    lines are wider than the opening that removes far ones. Its typical width is the
    median stroke width along its ridge; parts much thicker than that — a white shirt
    on the line, a logo the line runs into — are kept, and so is a stroke typically
    wider than ``max_width_px``.
    The removed strip is one pixel wider than the paint, for its blended edges.
    """
    out = np.zeros_like(white)
    stats, ids, labels, (x0, y0) = _components(white)
    if len(stats) == 0:
        return out
    x, y, w, h, area = (stats[:, i] for i in range(5))
    square = np.ones((3, 3), np.uint8)
    player = player_px[y + h - 1]
    for i in np.flatnonzero(np.hypot(w, h) > 1.2 * player):
        x1, y1, x2, y2 = x[i], y[i], x[i] + w[i], y[i] + h[i]
        stroke = np.where(labels[y1 - y0:y2 - y0, x1 - x0:x2 - x0] == ids[i], 255, 0).astype(np.uint8)
        depth = cv2.distanceTransform(cv2.copyMakeBorder(stroke, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                                      cv2.DIST_L2, 3)[1:-1, 1:-1]
        ridge = (depth > 0) & (depth >= cv2.dilate(depth, square))
        width = 2.0 * float(np.median(depth[ridge])) if ridge.any() else 0.0
        # an arc is longer than its box's diagonal: its length is its area over its width
        if max(float(np.hypot(w[i], h[i])), area[i] / max(width, 1.0)) <= 1.8 * player[i]:
            continue
        if width > max_width_px:
            continue
        k = int(round(2.0 * width)) + 3
        thick = cv2.morphologyEx(stroke, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        thin = cv2.dilate(cv2.subtract(stroke, thick), square)
        out[y1:y2, x1:x2] |= cv2.subtract(thin, cv2.dilate(thick, square))
    return out


def _tight(mask: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> tuple[np.ndarray, float] | None:
    """The tight box of the mask inside a window, with its fill ratio (None when empty)."""
    window = mask[y1:y2, x1:x2] > 0
    rows, cols = np.flatnonzero(window.any(axis=1)), np.flatnonzero(window.any(axis=0))
    if len(rows) == 0:
        return None
    box = np.array([x1 + cols[0], y1 + rows[0], x1 + cols[-1] + 1, y1 + rows[-1] + 1], np.float32)
    area = (box[2] - box[0]) * (box[3] - box[1])
    return box, float(window.sum() / max(1.0, area))

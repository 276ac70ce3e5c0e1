"""Team assignment from jersey colour: two teams, referees and goalkeepers as outliers.

Shape legend: ``N`` players in a frame; ``T`` tracks seen so far; ``K`` keypoints.

1. **Jersey colour** of each player in a frame: the median CIELAB colour (a perceptual
   space: equal distances look equally different) of the torso pixels that differ from
   the grass around the player. The torso is the shoulder-hip quadrilateral of the
   player's keypoints when they are confident, else a fixed part of the box. Grass is
   measured on a ring around each box rather than by a fixed hue range, so a lime-green
   kit is not mistaken for grass.
2. **Team colours**: k-means (k = 4) over the tracks' mean colours, each track counting
   once however long it is seen; clusters of nearly the same colour merge and the two
   heaviest are the teams, if their colours differ by at least ``min_team_delta_e`` (at
   the start only one team may be in view, its kit split in sun and shade: the fit then
   waits); tracks farther than ``outlier_delta_e`` (or 3 robust sigmas) from both team
   colours are others (referees, goalkeepers, people beside the pitch). Team 0 is the
   lighter kit. Later refits are matched to the previous colours, so labels do not swap.
3. **Votes**: every frame a player's colour votes for the nearest centre (or "other");
   a track's team is the winner of its votes so far, so it does not flicker when a
   player is occluded for a few frames. Each refit re-counts all votes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

TEAM_UNKNOWN, TEAM_OTHER = -1, 2
#: keypoints that outline the torso, in quadrilateral order
TORSO_NAMES = ("left_shoulder", "right_shoulder", "right_hip", "left_hip")


@dataclass(frozen=True, slots=True)
class TeamConfig:
    grass_delta_e: float = 14.0  # torso pixels this close (CIELAB ΔE) to the surrounding grass are dropped
    min_pixels: int = 6  # a torso with fewer jersey pixels gives no colour this frame
    outlier_delta_e: float = 15.0  # farther than this from both team colours: referee / goalkeeper
    merge_delta_e: float = 15.0  # colour clusters closer than this are one kit (shade, lighting)
    min_team_delta_e: float = 25.0  # two team colours must differ by this much, else the fit waits
    min_tracks: int = 6  # tracks with a colour needed before the team colours are fitted
    min_track_samples: int = 3  # frames of colour a track needs to take part in the fit
    keypoint_min_conf: float = 0.3  # torso keypoints below this confidence fall back to the box


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB → float32 CIELAB (L in 0..100, a/b about -128..127)."""
    arr = np.ascontiguousarray(rgb, np.uint8).reshape(-1, 1, 3)
    lab = cv2.cvtColor(np.divide(arr, np.float32(255.0), dtype=np.float32), cv2.COLOR_RGB2Lab)
    return lab.reshape(*rgb.shape[:-1], 3)


def _box_torso(box: np.ndarray) -> np.ndarray:
    """(4, 2) quadrilateral of a box's torso part: rows 18-50 %, middle 50 % of columns."""
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    xa, xb, ya, yb = x1 + 0.25 * bw, x2 - 0.25 * bw, y1 + 0.18 * bh, y1 + 0.5 * bh
    return np.array([[xa, ya], [xb, ya], [xb, yb], [xa, yb]])


def torso_quads(
    boxes_xyxy: np.ndarray,
    keypoints_xy: np.ndarray | None,
    keypoints_conf: np.ndarray | None,
    torso_index: np.ndarray | None,
    min_conf: float,
) -> np.ndarray:
    """(N, 4, 2) torso quadrilaterals (pixels): from keypoints where confident, else from boxes.

    Args:
        boxes_xyxy: (N, 4) player boxes.
        keypoints_xy: (N, K, 2) or None; keypoints_conf: (N, K) or None.
        torso_index: (4,) rows of left shoulder, right shoulder, right hip, left hip, or None.
    """
    quads = np.array([_box_torso(b) for b in np.asarray(boxes_xyxy, np.float64)]).reshape(-1, 4, 2)
    if keypoints_xy is None or keypoints_conf is None or torso_index is None:
        return quads
    pts = keypoints_xy[:, torso_index].astype(np.float64)
    ok = (keypoints_conf[:, torso_index] >= min_conf).all(axis=1)
    centre = pts.mean(axis=1, keepdims=True)
    # shrink toward the centre: arms and the shorts' edge stay out
    shrunk = centre + 0.7 * (pts - centre)
    quads[ok] = shrunk[ok]
    return quads


def _median_rows(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)`` of (P, 3) float32 rows without its per-call overhead."""
    n = len(values)
    mid = n // 2
    columns = values.T.copy()  # (3, P): each channel's values side by side, partitioned in place
    if n % 2:
        columns.partition(mid, axis=1)
        return columns[:, mid]
    columns.partition((mid - 1, mid), axis=1)
    return (columns[:, mid - 1] + columns[:, mid]) / 2


def jersey_colours(
    image: np.ndarray, boxes_xyxy: np.ndarray, quads: np.ndarray, cfg: TeamConfig
) -> np.ndarray:
    """(N, 3) float32 median CIELAB jersey colour per player; NaN rows where too few pixels.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes_xyxy: (N, 4) boxes (the grass ring is taken around them).
        quads: (N, 4, 2) torso quadrilaterals in pixels.
    """
    h, w = image.shape[:2]
    out = np.full((len(boxes_xyxy), 3), np.nan, np.float32)
    rows: list[int] = []
    sizes: list[tuple[int, int]] = []  # per player: how many ring pixels, how many torso pixels
    parts: list[np.ndarray] = []  # per player: its ring's pieces, then its torso pixels ((P, 3) uint8 RGB)
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    for i, (box, quad) in enumerate(zip(boxes.tolist(), np.asarray(quads, np.float64).tolist(), strict=True)):
        x1, y1, x2, y2 = box
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        # grass: a ring around the box
        ox1, oy1 = int(max(0, x1 - 0.5 * bw)), int(max(0, y1 - 0.1 * bh))
        ox2, oy2 = int(min(w, math.ceil(x2 + 0.5 * bw))), int(min(h, math.ceil(y2 + 0.1 * bh)))
        if ox2 - ox1 < 2 or oy2 - oy1 < 2:
            continue
        patch = image[oy1:oy2, ox1:ox2]
        ph, pw = oy2 - oy1, ox2 - ox1
        # the ring: the patch less the box, as four bands (its pixels in another order than a
        # mask would give; only their median is used)
        ry1 = min(ph, int(max(0, y1 - oy1)))
        ry2 = max(ry1, min(ph, math.ceil(y2 - oy1)))
        rx1 = min(pw, int(max(0, x1 - ox1)))
        rx2 = max(rx1, min(pw, math.ceil(x2 - ox1)))
        ring = [patch[:ry1], patch[ry2:], patch[ry1:ry2, :rx1], patch[ry1:ry2, rx2:]]
        ring = [piece.reshape(-1, 3) for piece in ring if piece.size]
        # the torso: rasterised in its own bounding rectangle only
        if all(math.isfinite(v) for corner in quad for v in corner):
            corners = [(round(x - ox1), round(y - oy1)) for x, y in quad]  # as np.rint: halves to even
            tx1, ty1 = max(0, min(c[0] for c in corners)), max(0, min(c[1] for c in corners))
            tx2, ty2 = min(pw, max(c[0] for c in corners) + 1), min(ph, max(c[1] for c in corners) + 1)
        else:  # no quadrilateral to speak of: rasterised over the whole patch as it always was
            corners = np.rint(np.asarray(quad) - [ox1, oy1]).astype(np.int32).tolist()
            tx1, ty1, tx2, ty2 = 0, 0, pw, ph
        torso = patch[:0, 0]
        if tx2 > tx1 and ty2 > ty1:
            mask = np.zeros((ty2 - ty1, tx2 - tx1), np.uint8)
            cv2.fillConvexPoly(mask, np.array([(x - tx1, y - ty1) for x, y in corners], np.int32), 1)
            torso = patch[ty1:ty2, tx1:tx2][mask > 0]
        rows.append(i)
        sizes.append((sum(len(piece) for piece in ring), len(torso)))
        parts += [*ring, torso]
    if not rows:
        return out
    # one colour conversion for every player's pixels (per-pixel, so the same values as per patch)
    lab = _to_lab(np.concatenate(parts))
    start = 0
    for i, (n_ring, n_torso) in zip(rows, sizes, strict=True):
        ring = lab[start : start + n_ring]
        pixels = lab[start + n_ring : start + n_ring + n_torso]
        start += n_ring + n_torso
        grass = _median_rows(ring) if len(ring) >= 8 else None
        if grass is not None and len(pixels):
            pixels = pixels[np.linalg.norm(pixels - grass, axis=1) >= cfg.grass_delta_e]
        if len(pixels) >= cfg.min_pixels:
            out[i] = _median_rows(pixels)
    return out


def kmeans(
    features: np.ndarray, weights: np.ndarray, init: np.ndarray, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means of (T, 3) features from (k, 3) ``init``: centres (k, 3), labels (T,)."""
    centres = np.asarray(init, np.float64).copy()
    label = np.zeros(len(features), np.int64)
    for _ in range(iterations):
        label = np.argmin(np.linalg.norm(features[:, None] - centres[None], axis=2), axis=1)
        new = centres.copy()
        for k in range(len(centres)):
            sel = label == k
            if weights[sel].sum() > 0:
                new[k] = np.average(features[sel], axis=0, weights=weights[sel])
        if np.allclose(new, centres):
            break
        centres = new
    return centres, label


def _farthest_points(features: np.ndarray, k: int) -> np.ndarray:
    """(k, 3) deterministic k-means seeds: the point farthest from the median, then greedily
    the point farthest from all seeds so far."""
    seeds = [features[np.argmax(np.linalg.norm(features - np.median(features, axis=0), axis=1))]]
    while len(seeds) < k:
        d = np.min(np.linalg.norm(features[:, None] - np.array(seeds)[None], axis=2), axis=1)
        seeds.append(features[np.argmax(d)])
    return np.array(seeds)


def fit_team_colours(
    features: np.ndarray, weights: np.ndarray, cfg: TeamConfig, init: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Team colours from per-track colours (None when no two groups of players stand out).

    Four clusters are sought first (two teams plus room for referees, goalkeepers and people
    beside the pitch); clusters closer than ``merge_delta_e`` merge; the two heaviest are the
    teams. Points farther than a gate from both are set aside and the two centres refitted.

    Args:
        features: (T, 3) CIELAB mean colour of each track; weights: (T,) how much each counts.
        init: (2, 3) previous centres: the new teams are matched to them so labels keep.

    Returns:
        centres: (2, 3) CIELAB, team 0 first (the lighter kit on a first fit).
        gate: (2,) ΔE beyond which a colour is not of that team.
    """
    if len(features) < 4:
        return None
    centres, label = kmeans(features, weights, _farthest_points(features, 4))
    groups = [[k] for k in range(4)]
    merged = True
    while merged and len(groups) > 2:  # merge the closest pair of clusters while close
        merged = False
        means = [
            np.average(features[np.isin(label, g)], axis=0, weights=weights[np.isin(label, g)])
            if np.isin(label, g).any()
            else np.full(3, np.inf)
            for g in groups
        ]
        best, pair = cfg.merge_delta_e, None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                d = float(np.linalg.norm(means[i] - means[j]))
                if d < best:
                    best, pair = d, (i, j)
        if pair is not None:
            groups[pair[0]] += groups.pop(pair[1])
            merged = True
    mass = np.array([weights[np.isin(label, g)].sum() for g in groups])
    top = np.argsort(-mass)[:2]
    if len(top) < 2 or mass[top[1]] < 2:
        return None
    member = [np.isin(label, groups[t]) for t in top]
    centres = np.array([np.average(features[m], axis=0, weights=weights[m]) for m in member])
    keep = member[0] | member[1]
    gate = np.full(2, cfg.outlier_delta_e)
    for _ in range(3):  # gates from the spread of each team, refit without the outliers
        centres, _ = kmeans(features[keep], weights[keep], centres)
        d = np.linalg.norm(features[:, None] - centres[None], axis=2)
        near = np.argmin(d, axis=1)
        dist = d[np.arange(len(d)), near]
        for k in range(2):
            sel = keep & (near == k)
            if sel.sum() >= 3:
                med = float(np.median(dist[sel]))
                mad = float(np.median(np.abs(dist[sel] - med)))
                gate[k] = max(cfg.outlier_delta_e, med + 3 * 1.4826 * mad)
        keep = dist <= gate[near]
    if np.linalg.norm(centres[0] - centres[1]) < cfg.min_team_delta_e:
        return None  # one kit in sun and shade, seen before the other team came into view
    if init is not None:
        swap = np.linalg.norm(centres[0] - init[1]) + np.linalg.norm(centres[1] - init[0]) < np.linalg.norm(
            centres[0] - init[0]
        ) + np.linalg.norm(centres[1] - init[1])
    else:
        swap = centres[1, 0] > centres[0, 0]
    if swap:
        centres, gate = centres[::-1].copy(), gate[::-1].copy()
    return centres, gate


def classify(colours: np.ndarray, centres: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """(N,) int64 per-colour label: 0/1 team, 2 other (beyond both gates), -1 no colour."""
    out = np.full(len(colours), TEAM_UNKNOWN, np.int64)
    ok = np.isfinite(colours).all(axis=1)
    if not ok.any():
        return out
    d = np.linalg.norm(colours[ok][:, None] - centres[None], axis=2)
    label = np.argmin(d, axis=1)
    far = d[np.arange(len(d)), label] > gate[label]
    out[ok] = np.where(far, TEAM_OTHER, label)
    return out


class _TrackColour:
    """One track's per-frame jersey colours (a growing (T, 3) array) and its votes."""

    def __init__(self) -> None:
        self._colours = np.zeros((16, 3), np.float32)
        self.count = 0
        self.votes = np.zeros(3)  # frames voting team 0, team 1, other

    def add(self, colour: np.ndarray) -> None:
        if self.count == len(self._colours):
            self._colours = np.concatenate([self._colours, np.zeros_like(self._colours)])
        self._colours[self.count] = colour
        self.count += 1

    @property
    def colours(self) -> np.ndarray:
        return self._colours[: self.count]

    @property
    def mean(self) -> np.ndarray:
        return self.colours.mean(axis=0) if self.count else np.zeros(3)


class TeamAssigner:
    """Accumulates jersey colours per track; labels tracks once the team colours are known.

    Every fit re-counts every track's votes from its stored colours (12 bytes per player
    per frame), so a track's team always agrees with the latest team colours, whatever an
    early fit on the first few players said.
    """

    def __init__(self, cfg: TeamConfig) -> None:
        self.cfg = cfg
        self.tracks: dict[int, _TrackColour] = {}
        self.centres: np.ndarray | None = None  # (2, 3)
        self.gate = np.full(2, cfg.outlier_delta_e)
        self._fitted_on = 0

    def observe(self, track_ids: np.ndarray, colours: np.ndarray) -> None:
        """Add one frame's (N,) track ids and (N, 3) colours (NaN rows skipped)."""
        ok = np.isfinite(colours).all(axis=1)
        labels = classify(colours, self.centres, self.gate) if self.centres is not None else None
        for i in np.flatnonzero(ok):
            state = self.tracks.setdefault(int(track_ids[i]), _TrackColour())
            state.add(colours[i])
            if labels is not None:
                state.votes[labels[i]] += 1
        self._maybe_fit()

    def _maybe_fit(self) -> None:
        ready = [s for s in self.tracks.values() if s.count >= self.cfg.min_track_samples]
        # refit when the number of usable tracks has grown by a quarter (cheap, keeps up with
        # new players without refitting every frame)
        if len(ready) < self.cfg.min_tracks or len(ready) < 1.25 * self._fitted_on:
            return
        feats = np.array([s.mean for s in ready])
        fitted = fit_team_colours(feats, np.ones(len(ready)), self.cfg, self.centres)
        if fitted is None:
            return
        self.centres, self.gate = fitted
        self._fitted_on = len(ready)
        for state in self.tracks.values():  # re-count every vote under the new colours
            state.votes = np.bincount(classify(state.colours, self.centres, self.gate), minlength=3).astype(
                float
            )

    @property
    def ready(self) -> bool:
        return self.centres is not None

    def team_of(self, track_id: int) -> int:
        """The track's team by its votes so far (-1 while unknown)."""
        state = self.tracks.get(int(track_id))
        if state is None or self.centres is None or state.votes.sum() == 0:
            return TEAM_UNKNOWN
        return int(np.argmax(state.votes))

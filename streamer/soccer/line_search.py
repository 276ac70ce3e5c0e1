"""Finding the pitch in a frame from scratch: line families, homography hypotheses, scoring.

Shape legend: ``L`` image lines; ``K`` hypotheses; ``P`` model points.

1. **Families.** Straight image lines (:func:`streamer.soccer.lines.straight_lines`) are
   split by vanishing point: painted lines parallel on the pitch meet at one point in the
   image. The pair of lines whose crossing most other lines point at gives the first
   family, the rest the second. Nothing assumes a family's image direction, so views of a
   goal area (where the goal line runs nearly flat across the frame) work as well as
   views of the centre; the split into flat and steep lines is tried as well.
2. **Hypotheses.** Either family may be the *long* one (along the touchlines). Two lines
   of each family, taken in either order, matched with two model lines of the same family,
   give four crossings and so one homography (solved for all hypotheses at once). Views
   with a single line across the pitch get hypotheses from the centre circle instead
   (:mod:`streamer.soccer.circle_search`).
3. **Pruning.** A hypothesis survives only if the camera it implies is one a broadcast
   could use: a focal length between 0.3 and 30 frame widths, standing 2-200 m above the
   pitch, behind the near touchline (this also drops mirrored solutions).
4. **Scoring.** Model points every metre are projected; points landing on line pixels
   count, points landing on bare grass count half against. The best few are refined
   (:func:`streamer.soccer.line_fit.refine`) and the best refined fit wins.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable

import numpy as np

from streamer.soccer import pitch_model
from streamer.soccer.circle_search import circle_hypotheses
from streamer.soccer.line_fit import FitConfig, LineFit, ModelSamples, plausible_cameras, refine
from streamer.soccer.lines import LineImage, straight_lines

_MAX_VP_ANGLE_DEG = 2.0  # a line points at a vanishing point if within this angle of it
_BATCH = 4096  # hypotheses scored at once (memory: batch x model points)


def _points_on(lines: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(L, 2) the point of each line nearest to ``centre``."""
    return centre - (lines[:, :2] @ centre + lines[:, 2])[:, None] * lines[:, :2]


def vanishing_families(lines: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """Indices of the lines of the two largest vanishing-point families (fewer if not found).

    Args:
        lines: (L, 3) ``a x + b y + c = 0`` with ``a² + b² = 1``.
        size: (W, H) of the frame.
    """
    centre = np.array([size[0] / 2, size[1] / 2])
    anchor = _points_on(lines, centre)
    direction = np.column_stack([-lines[:, 1], lines[:, 0]])
    remaining = np.arange(len(lines))
    families: list[np.ndarray] = []
    cos_min = np.cos(np.radians(_MAX_VP_ANGLE_DEG))
    while len(families) < 2 and len(remaining) >= 2:
        best: np.ndarray | None = None
        for i, j in itertools.combinations(remaining, 2):
            vp = np.cross(lines[i], lines[j])
            if abs(vp[2]) < 1e-9 * np.linalg.norm(vp[:2]):
                to_vp = np.broadcast_to(vp[:2], (len(remaining), 2))  # a point at infinity
            else:
                to_vp = vp[:2] / vp[2] - anchor[remaining]
            norm = np.linalg.norm(to_vp, axis=1)
            cos = np.abs(np.sum(to_vp * direction[remaining], axis=1)) / np.maximum(norm, 1e-9)
            members = remaining[(cos >= cos_min) | (norm < 1e-6)]
            if best is None or len(members) > len(best):
                best = members
        if best is None or len(best) < 2:
            break
        families.append(best)
        remaining = np.setdiff1d(remaining, best)
    return families


def groupings(
    lines: np.ndarray, size: tuple[int, int], flat_deg: float = 20.0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Candidate splits of (L, 3) lines into two families, as index arrays (best supported first).

    The largest vanishing-point family against every other line (a spurious line can steal
    the second family's vanishing point, so the rest are all kept), and, as a second
    opinion for views of the middle of the pitch, flat lines against steep ones.
    """
    out: list[tuple[np.ndarray, np.ndarray]] = []
    families = vanishing_families(lines, size)
    if families:
        rest = np.setdiff1d(np.arange(len(lines)), families[0])
        if len(rest) >= 2:
            out.append((np.sort(families[0]), rest))
    angle = np.degrees(np.arctan2(np.abs(lines[:, 0]), np.abs(lines[:, 1])))
    flat, steep = np.flatnonzero(angle < flat_deg), np.flatnonzero(angle >= flat_deg)
    if (
        len(flat) >= 2
        and len(steep) >= 2
        and not any(np.array_equal(flat, a) and np.array_equal(steep, b) for a, b in out)
    ):
        out.append((flat, steep))
    return out


def _order(lines: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lines of one family sorted across the family (by where they cross a transversal)."""
    centre = np.array([size[0] / 2, size[1] / 2])
    mean_dir = np.column_stack([-lines[:, 1], lines[:, 0]])
    mean_dir = mean_dir * np.sign(mean_dir @ mean_dir[0])[:, None]
    d = mean_dir.mean(axis=0)
    normal = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-12)
    # where each line crosses the transversal through the centre along ``normal``
    denom = lines[:, :2] @ normal
    s = -(lines[:, :2] @ centre + lines[:, 2]) / np.where(np.abs(denom) > 1e-9, denom, 1e-9)
    return lines[np.argsort(s)]


@functools.cache
def _model_corner_sets() -> np.ndarray:
    """(C, 4, 2) every choice of two long and two cross model lines, in either order, as the
    four crossings (x1, y1), (x2, y1), (x1, y2), (x2, y2)."""
    model_long = np.array(sorted(pitch_model.LONG_LINES_Y_M))
    model_cross = np.array(sorted(pitch_model.CROSS_LINES_X_M))
    sets = []
    for (ya, yb), (xc, xd) in itertools.product(
        itertools.combinations(model_long, 2), itertools.combinations(model_cross, 2)
    ):
        for y1, y2 in ((ya, yb), (yb, ya)):  # image order may run either way
            for x1, x2 in ((xc, xd), (xd, xc)):
                sets.append([[x1, y1], [x2, y1], [x1, y2], [x2, y2]])
    return np.asarray(sets, np.float64)


def _corner_sets(long_l: np.ndarray, cross_l: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every hypothesis's four image crossings and four model points.

    Returns:
        image_px: (K, 4, 2); pitch_m: (K, 4, 2), in the same corner order.
    """
    quads = []
    for (i, j), (k, m) in itertools.product(
        itertools.combinations(range(len(long_l)), 2), itertools.combinations(range(len(cross_l)), 2)
    ):
        pts = np.array([np.cross(long_l[a], cross_l[b]) for a, b in ((i, k), (i, m), (j, k), (j, m))])
        if (np.abs(pts[:, 2]) < 1e-9).any():
            continue
        quads.append(pts[:, :2] / pts[:, 2:])
    if not quads:
        return np.zeros((0, 4, 2)), np.zeros((0, 4, 2))
    model = _model_corner_sets()
    return np.repeat(np.asarray(quads), len(model), axis=0), np.tile(model, (len(quads), 1, 1))


def _basis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, 3, 3) homographies taking the projective basis (1, 0, 0), (0, 1, 0), (0, 0, 1),
    (1, 1, 1) to (K, 4, 2) points, up to scale, and (K,) the smallest |weight| of its columns
    (0 when three of the points are collinear: no such homography)."""
    hom = np.concatenate([points, np.ones(points.shape[:2] + (1,))], axis=2)
    a, b, c, d = hom[:, 0], hom[:, 1], hom[:, 2], hom[:, 3]
    # the columns' weights solve [a b c] w = d; Cramer's rule up to the common factor det
    w = np.stack([np.einsum("ki,ki->k", np.cross(b, c), d), np.einsum("ki,ki->k", np.cross(c, a), d),
                  np.einsum("ki,ki->k", np.cross(a, b), d)], axis=1)  # fmt: skip
    return np.stack([a, b, c], axis=2) * w[:, None, :], np.abs(w).min(axis=1)


def homographies_from_corners(pitch_m: np.ndarray, image_px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(K, 3, 3) pitch → image homographies of (K, 4, 2) corner pairs (NaN where singular).

    Each is the image corners' basis homography times the inverse of the pitch corners' one
    (closed form, no 8 x 8 solve per hypothesis), on conditioned coordinates."""
    w, h = size
    s_img, s_pitch = 2.0 / max(w, h), 1.0 / pitch_model.HALF_LENGTH_M
    img = (np.asarray(image_px, np.float64) - [w / 2, h / 2]) * s_img
    model = np.asarray(pitch_m, np.float64) * s_pitch
    to_img, w_img = _basis(img)
    to_model, w_model = _basis(model)
    # the adjugate is the inverse up to scale: rows are the cross products of the columns
    c0, c1, c2 = to_model[:, :, 0], to_model[:, :, 1], to_model[:, :, 2]
    adj = np.stack([np.cross(c1, c2), np.cross(c2, c0), np.cross(c0, c1)], axis=1)
    hn = to_img @ adj
    ok = (w_img > 1e-12) & (w_model > 1e-12) & (np.abs(hn[:, 2, 2]) > 1e-12)
    out = np.full((len(hn), 3, 3), np.nan)
    if ok.any():
        hn = hn[ok] / hn[ok][:, 2:3, 2:3]
        t_img = np.array([[s_img, 0, -s_img * w / 2], [0, s_img, -s_img * h / 2], [0, 0, 1.0]])
        out[ok] = np.linalg.inv(t_img) @ hn @ np.diag([s_pitch, s_pitch, 1.0])
    return out


def score_hypotheses(
    pitch_to_image: np.ndarray, lines: LineImage, points_m: np.ndarray, on_px: float
) -> np.ndarray:
    """(K,) points on line pixels minus half the points on bare pitch, for (K, 3, 3) homographies."""
    h, w = lines.mask.shape
    hom = np.concatenate([points_m, np.ones((len(points_m), 1))], axis=1)
    scores = np.full(len(pitch_to_image), -np.inf)
    for a in range(0, len(pitch_to_image), _BATCH):
        batch = pitch_to_image[a : a + _BATCH]
        q = (batch.reshape(-1, 3) @ hom.T).reshape(len(batch), 3, -1)  # one matrix product (BLAS)
        front = q[:, 2] * np.sign(batch[:, 2, 2])[:, None] > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            u, v = q[:, 0] / q[:, 2], q[:, 1] / q[:, 2]
        inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        ui = np.where(inside, np.floor(u), 0).astype(np.int64)
        vi = np.where(inside, np.floor(v), 0).astype(np.int64)
        visible = inside & (lines.pitch[vi, ui] > 0)
        on = visible & (lines.distance_px[vi, ui] <= on_px)
        scores[a : a + _BATCH] = on.sum(axis=1) - 0.5 * (visible & ~on).sum(axis=1)
    return scores


def search(
    lines: LineImage,
    samples: ModelSamples,
    cfg: FitConfig,
    accept: Callable[[np.ndarray], bool] | None = None,
) -> LineFit | None:
    """A calibration from scratch (None when the frame shows too few lines to find one).

    ``accept(image_to_pitch)``, when given, vetoes hypotheses and fits that fail a check the
    lines cannot make (e.g. the frame's grass must land on the pitch); the search then goes
    on down its ranking, so a right but lower-scored hypothesis is still refined. Vetoed
    hypotheses among the best ``search_keep`` are refined too: when a vetoed fit explains the
    lines ``search_rival_ratio`` times better than the best accepted one, the frame is
    ambiguous and None is returned (the check refused the lines' best answer, and a worse one
    that passes it is a wrong fit more often than a right one: the generated clip of seed 2's
    right fit fails the grass check on stands its grass mask takes in, and a fit shifted along
    the pitch passed instead).
    """
    h, w = lines.mask.shape
    size = (w, h)
    found, _ = straight_lines(lines.thin_mask)
    if len(found) < 2:
        return None
    candidates = [circle_hypotheses(lines.thin_mask, found)]
    for first, second in groupings(found, size) if len(found) >= 4 else []:
        fam = [_order(found[f[: cfg.lines_per_family]], size) for f in (first, second)]
        for long_l, cross_l in ((fam[0], fam[1]), (fam[1], fam[0])):  # either may run along the touchlines
            img, mod = _corner_sets(long_l, cross_l)
            if len(img):
                candidates.append(homographies_from_corners(mod, img, size))
    p2i = np.concatenate(candidates)
    with np.errstate(invalid="ignore", divide="ignore"):
        p2i = p2i / p2i[:, 2:3, 2:3]
    p2i = p2i[np.isfinite(p2i).all(axis=(1, 2))]
    p2i = p2i[plausible_cameras(p2i, size)] if len(p2i) else p2i
    if len(p2i) == 0:
        return None
    from_scratch = dataclasses.replace(cfg, iterations=cfg.search_iterations)
    on_px = 3.0 * h / 720.0
    # a first pass on model points every 4 m keeps the best few hundred, which are scored again
    # on points every metre (the right hypothesis scores high on both)
    sparse = score_hypotheses(p2i, lines, pitch_model.sample_markings(4.0)[0], on_px)
    keep = np.argsort(-sparse, kind="stable")[: max(cfg.search_prescore_keep, cfg.search_keep)]
    p2i = p2i[keep]
    scores = score_hypotheses(p2i, lines, pitch_model.sample_markings(1.0)[0], on_px)
    best: LineFit | None = None
    rival = -np.inf  # the best quality of a vetoed fit
    tried = 0
    for rank, k in enumerate(np.argsort(-scores)):
        if tried >= cfg.search_keep:
            break
        start = np.linalg.inv(p2i[k])
        vetoed = accept is not None and not accept(start)
        if vetoed and rank >= cfg.search_keep:
            continue
        tried += 0 if vetoed else 1
        fit = refine(start, lines, samples, from_scratch)
        if fit is None or fit.inlier_fraction < cfg.search_min_inlier_frac:
            continue
        if vetoed or (accept is not None and not accept(fit.image_to_pitch)):
            rival = max(rival, _quality(fit))
            continue
        if best is None or _quality(fit) > _quality(best):
            best = fit
    if best is not None and rival > cfg.search_rival_ratio * max(_quality(best), 1e-9):
        return None
    return best


def _quality(fit: LineFit) -> float:
    """Ranks fits: matched points, minus visible points left without a line."""
    return fit.matched - 0.5 * (fit.visible - fit.matched)

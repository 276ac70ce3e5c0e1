"""Refining a pitch homography on a frame's line evidence (per-frame ICP), and scoring fits.

Shape legend: ``P`` model points sampled along the markings; ``M`` matched points.

**Refine** (every frame, from a calibration propagated through the camera motion):
project the model points, pair each with the nearest line pixel within a search radius
that shrinks over the iterations, and take a damped Gauss-Newton step on the
point-to-*line* distances (the offset along the painted line's normal, so points slide
freely along their line, as in point-to-plane ICP), with robust weights. The damping
keeps directions the visible lines do not constrain where they were. The fit is accepted
only if enough markings of enough kinds are matched (each straight line pins 2 of the
homography's 8 degrees of freedom, a curve 4), the RMS point-to-line distance is small, and
the camera it implies is one a broadcast could use (:func:`plausible_cameras`).

The from-scratch search that gives a first homography is :mod:`streamer.soccer.line_search`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.soccer import pitch_model
from streamer.soccer.homography import apply_homography
from streamer.soccer.lines import LineImage

_FAMILY_CODE = {"long": 0, "cross": 1, "curve": 2}


@dataclass(frozen=True, slots=True)
class FitConfig:
    """Pixel values are for a 720-row frame and scale with the frame height."""

    max_error_px: float = 3.0  # RMS model-to-line distance above which a fit is rejected
    search_radius_px: float = 14.0  # first ICP search radius; larger recovers bigger errors,
    final_radius_px: float = 4.0  # ...and snaps to wrong lines more often
    iterations: int = 5  # association + Gauss-Newton rounds from a neighbouring frame's calibration
    search_iterations: int = 10  # ...and from a from-scratch hypothesis (further off)
    min_matched: int = 30  # model points on lines needed to accept a fit
    min_dof: int = 6  # constraints needed (2 per straight marking, 4 per curve; a homography has 8)
    min_inlier_frac: float = 0.35  # share of the visible model points a refined fit must put on lines
    search_min_inlier_frac: float = 0.5  # ...and a fit from scratch (nothing vouches for it yet)
    damping: float = 1e-3  # Levenberg-Marquardt damping: keeps unconstrained directions where they were
    sample_step_m: float = 0.5  # spacing of the model points
    lines_per_family: int = 4  # the search tries this many of each family (cost grows as n^4)
    search_keep: int = 6  # best hypotheses refined by the search
    search_prescore_keep: int = 500  # hypotheses kept by the search's first, sparser scoring
    search_rival_ratio: float = 1.25  # a vetoed fit (search's accept) whose quality beats the best
    # accepted one by this factor makes the frame ambiguous: no fit (the lines' best answer fails a
    # check, so a worse one that passes it is no calibration to trust either)


@dataclass(frozen=True, slots=True, eq=False)
class LineFit:
    """A pitch homography fitted to lines, with how well it fits.

    Attributes:
        image_to_pitch: (3, 3) float64.
        rms_px: RMS distance (pixels) of the matched model points to their line pixels.
        matched: model points within the final radius of a line pixel.
        visible: model points that project into the frame's pitch region.
        dof: constraints from the matched markings (see :class:`FitConfig.min_dof`).
    """

    image_to_pitch: np.ndarray
    rms_px: float
    matched: int
    visible: int
    dof: int

    @property
    def inlier_fraction(self) -> float:
        return self.matched / self.visible if self.visible else 0.0


@dataclass(frozen=True, slots=True, eq=False)
class ModelSamples:
    """The model points and what they lie on (built once per run)."""

    points_m: np.ndarray  # (P, 2)
    marking: np.ndarray  # (P,) int64 index into pitch_model.markings()
    family: np.ndarray  # (P,) int64: 0 long, 1 cross, 2 curve

    @classmethod
    def build(cls, step_m: float) -> ModelSamples:
        pts, idx = pitch_model.sample_markings(step_m)
        fam = np.array([_FAMILY_CODE[m.family] for m in pitch_model.markings()], np.int64)
        return cls(pts, idx, fam[idx])


def _project(
    pitch_to_image: np.ndarray, samples: ModelSamples, lines: LineImage
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the samples that land on the frame's pitch and the (M, 2) continuous pixel
    position (column, row) each lands at (pixel i spans [i, i + 1))."""
    h, w = lines.mask.shape
    with np.errstate(invalid="ignore", over="ignore"):
        proj = apply_homography(pitch_to_image, samples.points_m)
        ok = np.isfinite(proj).all(axis=1) & (proj[:, 0] >= 0) & (proj[:, 0] < w)
        ok &= (proj[:, 1] >= 0) & (proj[:, 1] < h)
    # points behind the camera also land "in" the frame: keep only those with positive depth
    hom = samples.points_m @ pitch_to_image[2, :2] + pitch_to_image[2, 2]
    ok &= hom * np.sign(pitch_to_image[2, 2] if pitch_to_image[2, 2] != 0 else 1.0) > 0
    idx = np.flatnonzero(ok)
    uv = np.floor(proj[idx]).astype(np.int64)
    on_pitch = lines.pitch[uv[:, 1], uv[:, 0]] > 0
    return idx[on_pitch], proj[idx[on_pitch]]


def _near_frame(
    pitch_to_image: np.ndarray, samples: ModelSamples, size: tuple[int, int], margin_px: float
) -> ModelSamples:
    """The samples that project within ``margin_px`` of the frame (in front of the camera)."""
    w, h = size
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        proj = apply_homography(pitch_to_image, samples.points_m)
        ok = np.isfinite(proj).all(axis=1) & (proj[:, 0] >= -margin_px) & (proj[:, 0] < w + margin_px)
        ok &= (proj[:, 1] >= -margin_px) & (proj[:, 1] < h + margin_px)
    hom = samples.points_m @ pitch_to_image[2, :2] + pitch_to_image[2, 2]
    ok &= hom * np.sign(pitch_to_image[2, 2] if pitch_to_image[2, 2] != 0 else 1.0) > 0
    keep = np.flatnonzero(ok)
    return ModelSamples(samples.points_m[keep], samples.marking[keep], samples.family[keep])


def _dof(marking: np.ndarray, family: np.ndarray, min_points: int) -> int:
    """Constraints given by the markings with at least ``min_points`` matches."""
    if len(marking) == 0:
        return 0
    counts = np.bincount(marking)
    fam_of = np.zeros(len(counts), np.int64)
    fam_of[marking] = family
    strong = np.flatnonzero(counts >= min_points)
    return int(sum(4 if fam_of[m] == 2 else 2 for m in strong))


def evaluate(
    image_to_pitch: np.ndarray, lines: LineImage, samples: ModelSamples, radius_px: float
) -> LineFit:
    """How well a homography's model lines sit on the frame's line pixels."""
    idx, xy = _project(np.linalg.inv(image_to_pitch), samples, lines)
    d = lines.nearest(xy, radius_px)[0] if len(idx) else np.zeros(0)
    m = d <= radius_px
    rms = float(np.sqrt(np.mean(d[m] ** 2))) if m.any() else float("nan")
    dof = _dof(samples.marking[idx[m]], samples.family[idx[m]], 8)
    return LineFit(image_to_pitch, rms, int(m.sum()), len(idx), dof)


def _conditioners(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Similarities taking image pixels and pitch metres to coordinates of order 1."""
    w, h = size
    s = 2.0 / max(w, h)
    t_img = np.array([[s, 0, -s * w / 2], [0, s, -s * h / 2], [0, 0, 1.0]])
    t_pitch = np.diag([1 / pitch_model.HALF_LENGTH_M, 1 / pitch_model.HALF_LENGTH_M, 1.0])
    return t_img, t_pitch


def _gauss_newton_step(
    hn: np.ndarray, xn: np.ndarray, qn: np.ndarray, normal: np.ndarray, weight: np.ndarray, damping: float
) -> np.ndarray:
    """One damped Gauss-Newton step of the point-to-line residuals ``normal · (H x - q)``.

    Args:
        hn: (3, 3) conditioned pitch → image homography with hn[2, 2] = 1 (its 8 other
            entries are the unknowns).
        xn: (M, 3) conditioned homogeneous model points; qn: (M, 2) their line pixels;
        normal: (M, 2) unit line normals at the line pixels; weight: (M,).
    """
    a, b, c = xn @ hn[0], xn @ hn[1], xn @ hn[2]
    u, v = a / c, b / c
    r = normal[:, 0] * (u - qn[:, 0]) + normal[:, 1] * (v - qn[:, 1])
    jac = np.hstack(
        [
            normal[:, :1] * xn / c[:, None],
            normal[:, 1:] * xn / c[:, None],
            -((normal[:, 0] * u + normal[:, 1] * v) / c)[:, None] * xn[:, :2],
        ]
    )
    jtj = jac.T @ (weight[:, None] * jac)
    grad = jac.T @ (weight * r)
    lhs = jtj + damping * np.diag(np.maximum(np.diag(jtj), 1e-12 * np.trace(jtj) + 1e-18))
    delta = np.linalg.solve(lhs, -grad)
    out = hn.copy().ravel()
    out[:8] += delta
    return out.reshape(3, 3)


def plausible_cameras(pitch_to_image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(K,) bool: which (K, 3, 3) homographies a broadcast camera on the near side could give."""
    w, h = size
    shift = np.array([[1.0, 0, -w / 2], [0, 1.0, -h / 2], [0, 0, 1.0]])
    hc = shift @ pitch_to_image
    hc = hc / np.linalg.norm(hc[:, :, :2], axis=(1, 2))[:, None, None]
    h1, h2 = hc[:, :, 0], hc[:, :, 1]
    # 1/f² from the two constraints on the rotation's columns (as focal_from_homography)
    a = np.stack([h1[:, 0] * h2[:, 0] + h1[:, 1] * h2[:, 1],
                  h1[:, 0] ** 2 + h1[:, 1] ** 2 - h2[:, 0] ** 2 - h2[:, 1] ** 2], axis=1)  # fmt: skip
    b = -np.stack([h1[:, 2] * h2[:, 2], h1[:, 2] ** 2 - h2[:, 2] ** 2], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_f2 = np.sum(a * b, axis=1) / np.sum(a * a, axis=1)
        focal = 1.0 / np.sqrt(inv_f2)
    ok = np.isfinite(focal) & (inv_f2 > 0) & (focal >= 0.3 * w) & (focal <= 30 * w)
    focal = np.where(ok, focal, w)
    m = hc.copy()
    m[:, :2] /= focal[:, None, None]  # K^-1 H with the principal point already removed
    m /= ((np.linalg.norm(m[:, :, 0], axis=1) + np.linalg.norm(m[:, :, 1], axis=1)) / 2)[:, None, None]
    m *= np.where(m[:, 2, 2] < 0, -1.0, 1.0)[:, None, None]  # the pitch centre in front of the camera
    r1, r2, t = m[:, :, 0], m[:, :, 1], m[:, :, 2]
    rot = np.stack([r1, r2, np.cross(r1, r2)], axis=2)
    centre = -np.einsum("kji,kj->ki", rot, t)  # -R^T t
    return (
        ok & (centre[:, 2] >= 2.0) & (centre[:, 2] <= 200.0)
        & (centre[:, 1] < -pitch_model.HALF_WIDTH_M + 10) & (np.abs(centre[:, 0]) < 150)
    )  # fmt: skip


def refine(
    image_to_pitch: np.ndarray, lines: LineImage, samples: ModelSamples, cfg: FitConfig
) -> LineFit | None:
    """ICP of the line model onto the line pixels from ``image_to_pitch`` (3, 3); None if it fails."""
    h, w = lines.mask.shape
    unit = h / 720.0
    if lines.num_pixels == 0:
        return None
    t_img, t_pitch = _conditioners((w, h))
    hn = t_img @ np.linalg.inv(image_to_pitch) @ np.linalg.inv(t_pitch)
    if abs(hn[2, 2]) < 1e-12:
        return None
    hn = hn / hn[2, 2]
    radii = np.geomspace(cfg.search_radius_px, cfg.final_radius_px, max(1, cfg.iterations)) * unit
    scale = t_img[0, 0]
    # the iterations move the model by about the search radius: only the model points that
    # start near the frame can land in it
    near_frame = _near_frame(np.linalg.inv(image_to_pitch), samples, (w, h), 4 * radii[0])
    for radius in radii:
        p2i = np.linalg.inv(t_img) @ hn @ t_pitch
        idx, xy = _project(p2i, near_frame, lines)
        if len(idx) < cfg.min_matched:
            return None
        d, near = lines.nearest(xy, radius)
        m = d <= radius
        if m.sum() < cfg.min_matched:
            return None
        normal = lines.normals_at(near[m])
        xn = np.column_stack([near_frame.points_m[idx[m]] * t_pitch[0, 0], np.ones(int(m.sum()))])
        qn = lines.points_px[near[m]] * scale + t_img[:2, 2]
        weight = 1.0 / (1.0 + (d[m] / (0.5 * radius)) ** 2)  # Cauchy: far pairs count less
        try:
            hn = _gauss_newton_step(hn, xn, qn, normal, weight, cfg.damping)
        except np.linalg.LinAlgError:
            return None
        if not np.isfinite(hn).all() or abs(hn[2, 2]) < 1e-12:
            return None
        hn = hn / hn[2, 2]
    try:
        current = np.linalg.inv(np.linalg.inv(t_img) @ hn @ t_pitch)
    except np.linalg.LinAlgError:
        return None
    current = current / current[2, 2] if abs(current[2, 2]) > 1e-12 else current
    fit = evaluate(current, lines, samples, cfg.final_radius_px * unit)
    if fit.matched < cfg.min_matched or fit.dof < cfg.min_dof or not fit.rms_px <= cfg.max_error_px * unit:
        return None
    if fit.inlier_fraction < cfg.min_inlier_frac:
        return None
    # lines can be fitted by a camera no broadcast has (lying on the grass, behind the far
    # touchline) when few of them are visible: such a fit is wrong however well it fits
    if not plausible_cameras(np.linalg.inv(current)[None], (w, h))[0]:
        return None
    return fit

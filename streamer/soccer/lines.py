"""White pitch lines in a broadcast frame: a thin line mask, its distance field, straight lines.

Shape legend: ``H, W`` frame size; ``N`` player boxes; ``S`` Hough segments; ``L`` lines.

1. **Pitch mask.** Grass colour on a median-filtered, downscaled frame (players and
   lines vanish in the median), its largest region, grown a little so the touchlines
   on its border stay in.
2. **Line pixels.** White-top-hat of the darkest RGB channel (white is bright in all
   three, grass is dark in red and blue) with a disc a few line widths wide: bright
   structures narrower than the disc, inside the pitch, outside the player boxes.
   Kept only on the response's crest across the line (one pixel per row or column, as a
   thinning gives, far cheaper), so a distance to the mask is a distance to a line's
   centre. Nearest line pixels are looked up in a k-d tree of these pixels (the dense
   distance field is made only when the from-scratch search asks for it).
3. **Straight lines** for the from-scratch fit: probabilistic Hough segments merged
   into lines and refitted by total least squares on the mask pixels near them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True, slots=True)
class LineMaskConfig:
    """Pixel sizes are for a 720-row frame and scale with the frame height."""

    tophat_px: float = 11.0  # disc of the top-hat: lines narrower than this pass, torsos do not
    min_contrast: float = 18.0  # darkest-channel brightness above the local grass (0-255)
    grass_hue: tuple[int, int] = (30, 95)  # OpenCV hue range (0..180) of grass
    grass_min_sat: int = 40
    pitch_grow_px: float = 8.0  # the pitch region is grown by this (touchlines lie on its edge)
    box_grow: float = 0.25  # player boxes are grown by this fraction before they are cut out
    max_box_height_ratio: float = 2.5  # boxes taller than this x a typical box are not players
    ring_px: float = 5.0  # a line pixel needs grass on a ring of this radius around it...
    ring_grass_frac: float = 0.5  # ...over at least this fraction (rejects board and roof edges)


@dataclass(frozen=True, slots=True, eq=False)
class LineImage:
    """One frame's line evidence.

    Attributes:
        mask: (H, W) uint8, 255 on the one-pixel centre lines of the white markings.
        pitch: (H, W) uint8, 255 on the pitch (grass) region.
        points_px: (K, 2) float64 centres of the mask's pixels, in the project's continuous
            pixel coordinates (boxes, keypoints, homographies): pixel (i, j) spans
            [i, i + 1) x [j, j + 1), its centre is (i + 0.5, j + 0.5).
        normals: (K, 2) float64 unit normal of the line through each of those pixels (the
            minor axis of its neighbours' spread); NaN until :meth:`normals_at` made it.
        wide: (H, W) uint8, 255 on the whole width of the line pixels (before the crest);
            :attr:`thin_mask` thins it for the from-scratch search (None: use ``mask``).
    """

    mask: np.ndarray
    pitch: np.ndarray
    points_px: np.ndarray
    normals: np.ndarray
    wide: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def thin_mask(self) -> np.ndarray:
        """(H, W) uint8 0/255: ``wide`` thinned to one-pixel centre lines, made on first use.

        The from-scratch search (straight lines, ellipses, hypothesis scores) reads this one:
        a topological thinning keeps faint, broken far lines in one piece a little better
        than the crest, and the search runs at most once a second; the per-frame refinement
        uses the crest pixels.
        """
        if "thin" not in self._cache:
            self._cache["thin"] = self.mask if self.wide is None else cv2.ximgproc.thinning(self.wide)
        return self._cache["thin"]

    @property
    def num_pixels(self) -> int:
        return len(self.points_px)

    @property
    def distance_px(self) -> np.ndarray:
        """(H, W) float32 distance of every pixel to the nearest pixel of :attr:`thin_mask`
        (inf without lines); made on first use (the search scores its hypotheses on it)."""
        if "distance" not in self._cache:
            if not self.num_pixels:
                self._cache["distance"] = np.full(self.mask.shape, np.inf, np.float32)
            else:
                inverted = np.where(self.thin_mask > 0, 0, 255).astype(np.uint8)
                self._cache["distance"] = cv2.distanceTransform(inverted, cv2.DIST_L2, 5)
        return self._cache["distance"]

    def nearest(self, xy_px: np.ndarray, max_px: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """Distance (M,) from each of (M, 2) continuous pixel positions to the nearest line
        pixel centre and that pixel's row in ``points_px`` (inf and K beyond ``max_px``)."""
        tree = self._tree()
        if tree is None:
            return np.full(len(xy_px), np.inf), np.full(len(xy_px), 0, np.int64)
        d, i = tree.query(xy_px, k=1, distance_upper_bound=max_px)
        return d, np.asarray(i, np.int64)

    def normals_at(self, rows: np.ndarray) -> np.ndarray:
        """(M, 2) unit normals of the line pixels ``rows`` of ``points_px``, made on first use
        (a refinement needs them only where model points landed)."""
        todo = rows[np.isnan(self.normals[rows, 0])]
        if len(todo):
            todo = np.unique(todo)
            self.normals[todo] = line_normals(self, todo)
        return self.normals[rows]

    def _tree(self) -> cKDTree | None:
        if "tree" not in self._cache:
            self._cache["tree"] = cKDTree(self.points_px) if self.num_pixels else None
        return self._cache["tree"]


#: the quantile of a frame's box heights taken as a player's typical height (:func:`typical_height`)
TYPICAL_HEIGHT_QUANTILE = 0.75


def typical_height(heights_px: np.ndarray) -> float:
    """A typical player's height (px) among a frame's (N,) box heights (N >= 1).

    Boxes err short far more than tall: fragments (a limb, a piece of a line or a board, the
    segmenter's boxes on the first frames of a shot), people half hidden, cut by the frame
    edge or crouching; a box too tall (a goal, two players merged) is rarer. So the median
    is dragged down once fragments are half the boxes (the first wide frame after a cut: 27
    of 49 boxes 4-45 px, players 68-213 px, median 45), where the upper quartile stays
    on the players until three quarters of the boxes are fragments.
    """
    return float(np.quantile(np.asarray(heights_px, np.float64), TYPICAL_HEIGHT_QUANTILE))


def player_sized(boxes_xyxy: np.ndarray, max_ratio: float) -> np.ndarray:
    """(N,) bool: boxes of (N, 4) within ``max_ratio`` x of :func:`typical_height`, either way:
    taller ones hold a goal, a board or merged players; shorter ones are fragments of a
    person or of the paint, or people mostly hidden, whose bottom edge is no ground point."""
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    if len(b) == 0:
        return np.zeros(0, bool)
    height = b[:, 3] - b[:, 1]
    typical = typical_height(height)
    return (height <= max_ratio * typical) & (height * max_ratio >= typical)


def shrink(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """``image`` scaled down to ``size_wh``: averaged over whole blocks of pixels first (cheap at
    an integer factor), the rest interpolated (OpenCV's area resampling at a non-integer
    factor costs several times a bilinear one: 8.6 vs 1.6 ms for 720p -> 480 rows)."""
    h, w = image.shape[:2]
    factor = int(min(w / size_wh[0], h / size_wh[1]))
    if factor >= 2:
        image = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    if image.shape[1] == size_wh[0] and image.shape[0] == size_wh[1]:
        return image
    return cv2.resize(image, size_wh, interpolation=cv2.INTER_LINEAR)


def pitch_mask(image: np.ndarray, cfg: LineMaskConfig) -> np.ndarray:
    """(H, W) uint8 0/255: the largest grass region of an RGB frame (all zeros if none)."""
    h, w = image.shape[:2]
    scale = 0.125
    small = shrink(image, (max(8, int(w * scale)), max(8, int(h * scale))))
    k = max(3, int(61 * (h / 720.0) * scale) | 1)
    grass = _grass(cv2.cvtColor(cv2.medianBlur(small, k), cv2.COLOR_RGB2HSV), cfg)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grass, connectivity=8)
    if n <= 1:
        return np.zeros((h, w), np.uint8)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[biggest, cv2.CC_STAT_AREA] < 0.05 * grass.size:
        return np.zeros((h, w), np.uint8)
    region = np.where(labels == biggest, 255, 0).astype(np.uint8)
    region = cv2.morphologyEx(region, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    region = cv2.resize(region, (w, h), interpolation=cv2.INTER_LINEAR)
    grow = max(1, int(round(cfg.pitch_grow_px * h / 720.0)))
    region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return cv2.threshold(region, 127, 255, cv2.THRESH_BINARY)[1]


def _grass(hsv: np.ndarray, cfg: LineMaskConfig) -> np.ndarray:
    """(H, W) uint8 0/255: grass-coloured pixels of an HSV (OpenCV ranges) image."""
    lo = (cfg.grass_hue[0], cfg.grass_min_sat, 0)
    return cv2.inRange(hsv, lo, (cfg.grass_hue[1], 255, 255))


def line_pixels(
    image: np.ndarray, boxes_xyxy: np.ndarray | None, cfg: LineMaskConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Line centre pixels and the pitch mask of an RGB frame.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes_xyxy: (N, 4) player boxes (pixels) whose inside is not searched, or None.

    Returns:
        lines: (H, W) uint8 0/255 line centre mask (one pixel across a line).
        pitch: (H, W) uint8 0/255 pitch mask.
    """
    mask, tophat, pitch = _line_candidates(image, boxes_xyxy, cfg)
    return (_ridges(tophat, mask) if mask.any() else mask), pitch


def _line_candidates(
    image: np.ndarray, boxes_xyxy: np.ndarray | None, cfg: LineMaskConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W) uint8 0/255 pixels bright enough to be line (whole line widths), the top-hat
    response, and the pitch mask."""
    h, w = image.shape[:2]
    pitch = pitch_mask(image, cfg)
    r, g, b = cv2.split(image)
    darkest = cv2.min(cv2.min(r, g), b)
    k = max(3, int(round(cfg.tophat_px * h / 720.0)) | 1)
    tophat = cv2.morphologyEx(darkest, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    # 255 where tophat >= min_contrast (uint8: above ceil(min_contrast) - 1) and on the 0/255 pitch
    bright = cv2.threshold(tophat, float(np.ceil(cfg.min_contrast)) - 1, 255, cv2.THRESH_BINARY)[1]
    mask = cv2.bitwise_and(bright, pitch)
    if not mask.any():
        return mask, tophat, pitch
    # a painted line has grass on both sides; the edge of a board, a roof or a stand does not
    grass = cv2.multiply(_grass(cv2.cvtColor(image, cv2.COLOR_RGB2HSV), cfg), 1.0 / 255.0, dtype=cv2.CV_32F)
    r = max(4, int(round(cfg.ring_px * h / 720.0)))
    ring = np.zeros((2 * r + 1, 2 * r + 1), np.uint8)
    cv2.circle(ring, (r, r), r, 1, 1)
    ring_frac = cv2.filter2D(grass, -1, ring.astype(np.float32) / ring.sum(), borderType=cv2.BORDER_REPLICATE)
    mask[ring_frac < cfg.ring_grass_frac] = 0
    if boxes_xyxy is not None and len(boxes_xyxy):
        b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        # only player-sized boxes hide lines: a detector's box around a goal or a board would
        # wipe out the very lines the calibration needs
        height = b[:, 3] - b[:, 1]
        b = b[height <= cfg.max_box_height_ratio * typical_height(height)]
        gw, gh = cfg.box_grow * (b[:, 2] - b[:, 0]), cfg.box_grow * (b[:, 3] - b[:, 1])
        x1 = np.clip(b[:, 0] - gw / 2, 0, w).astype(int)
        x2 = np.clip(np.ceil(b[:, 2] + gw / 2), 0, w).astype(int)
        y1 = np.clip(b[:, 1] - gh / 2, 0, h).astype(int)
        y2 = np.clip(np.ceil(b[:, 3] + gh / 4), 0, h).astype(int)  # feet stand on lines: grow less down
        for a, c, d, e in zip(x1, y1, x2, y2, strict=True):
            mask[c:e, a:d] = 0
    return mask, tophat, pitch


def _ridges(response: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) uint8 0/255: the pixels of ``mask`` on the crest of ``response`` (a line's centre).

    A pixel is kept when the lightly smoothed response peaks there across the line: along the
    row where the response, smoothed wider, curves down more along the row than along the
    column (a steep line; the wider smoothing keeps a line's flanks facing the same way as
    its crest), along the column otherwise, and where it curves down overall (not on the
    tails beside a line, where noise makes small peaks). One pixel per row (or column) of a
    line, as a thinning gives, for a fraction of its cost.
    """
    out = np.zeros(mask.shape, np.uint8)
    ys, xs = _ridge_pixels(response, mask)
    out[ys, xs] = 255
    return out


def _ridge_pixels(response: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (row-major order) of :func:`_ridges`' crest pixels. The tests run only
    at the mask's pixels (a few % of the frame), not over the whole image."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return ys, xs
    r = cv2.GaussianBlur(response, (3, 3), 0).astype(np.int16)
    p = cv2.copyMakeBorder(r, 1, 1, 1, 1, cv2.BORDER_REPLICATE)  # p[y + 1, x + 1] = r[y, x]
    centre = r[ys, xs]
    across_row = (centre >= p[ys + 1, xs]) & (centre > p[ys + 1, xs + 2])
    across_col = (centre >= p[ys, xs + 1]) & (centre > p[ys + 2, xs + 1])
    wide = cv2.GaussianBlur(response.astype(np.float32), (7, 7), 1.5)
    curve_row = cv2.Sobel(wide, cv2.CV_32F, 2, 0, ksize=3)[ys, xs]
    curve_col = cv2.Sobel(wide, cv2.CV_32F, 0, 2, ksize=3)[ys, xs]
    crest = np.where(curve_row <= curve_col, across_row, across_col)
    crest &= curve_row + curve_col < 0  # on the bright side of the line's flanks, not its tails
    return ys[crest], xs[crest]


def line_image(image: np.ndarray, boxes_xyxy: np.ndarray | None, cfg: LineMaskConfig) -> LineImage:
    """The :class:`LineImage` of an RGB frame (``boxes_xyxy`` (N, 4) players to ignore)."""
    wide, tophat, pitch = _line_candidates(image, boxes_xyxy, cfg)
    ys, xs = _ridge_pixels(tophat, wide)
    mask = np.zeros(wide.shape, np.uint8)
    mask[ys, xs] = 255
    points = np.column_stack([xs, ys]).astype(np.float64) + 0.5
    return LineImage(mask, pitch, points, np.full((len(points), 2), np.nan), wide)


def line_normals(
    lines: LineImage, rows: np.ndarray | None = None, neighbours: int = 8, radius_px: float = 4.0
) -> np.ndarray:
    """(M, 2) unit normals of the line pixels ``rows`` (all when None): across the spread of
    each pixel's nearest neighbours (within ``radius_px``), as the structure tensor of a small
    window gives."""
    pts = lines.points_px
    at = pts if rows is None else pts[rows]
    k = min(neighbours, len(pts))
    d, idx = lines._tree().query(at, k=k, distance_upper_bound=radius_px)
    d, idx = d.reshape(len(at), k), idx.reshape(len(at), k)
    ok = np.isfinite(d)
    nb = pts[np.where(ok, idx, 0)]
    w = ok.astype(np.float64)
    n = np.maximum(w.sum(axis=1), 1.0)
    mean = (nb * w[..., None]).sum(axis=1) / n[:, None]
    dx, dy = (nb[..., 0] - mean[:, :1]) * w, (nb[..., 1] - mean[:, 1:]) * w
    cxx, cxy, cyy = (dx * dx).sum(axis=1), (dx * dy).sum(axis=1), (dy * dy).sum(axis=1)
    along = 0.5 * np.arctan2(2 * cxy, cxx - cyy)  # the spread's major axis: along the line
    return np.column_stack([-np.sin(along), np.cos(along)])


def _tls_line(xy: np.ndarray) -> np.ndarray:
    """(3,) line a x + b y + c = 0 with (a, b) unit, fitted to (M, 2) points by total least squares."""
    centre = xy.mean(axis=0)
    _, _, vt = np.linalg.svd(xy - centre, full_matrices=False)
    normal = vt[1]
    return np.array([normal[0], normal[1], -normal @ centre])


def straight_lines(
    mask: np.ndarray, min_length_frac: float = 0.06, max_lines: int = 12
) -> tuple[np.ndarray, np.ndarray]:
    """Straight lines in a thinned line mask, longest support first.

    Args:
        mask: (H, W) uint8 line mask.
        min_length_frac: shortest line kept, as a fraction of the frame width.

    Returns:
        lines: (L, 3) float64 ``a x + b y + c = 0`` with ``a² + b² = 1`` (continuous pixel
            coordinates: pixel centres at + 0.5).
        support_px: (L,) int64 mask pixels within 1.5 px of each line.
    """
    h, w = mask.shape
    min_len = max(12.0, min_length_frac * w)
    segments = cv2.HoughLinesP(
        mask,
        1,
        np.pi / 360,
        threshold=int(min_len / 2),
        minLineLength=min_len,
        maxLineGap=max(4.0, 0.015 * w),
    )
    if segments is None:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    segments = segments[:, 0, :].astype(np.float64)
    order = np.argsort(-np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]))
    ys, xs = np.nonzero(mask)
    pts = np.column_stack([xs, ys]).astype(np.float64) + 0.5  # pixel centres, continuous coordinates
    lines: list[np.ndarray] = []
    supports: list[int] = []
    for x1, y1, x2, y2 in segments[order]:
        if any(
            abs(ln[0] * x1 + ln[1] * y1 + ln[2]) < 3 and abs(ln[0] * x2 + ln[1] * y2 + ln[2]) < 3
            for ln in lines
        ):
            continue  # a piece of a line already found
        line = _tls_line(np.array([[x1, y1], [x2, y2]]))
        for _ in range(3):  # refit on the mask pixels near it
            near = np.abs(pts @ line[:2] + line[2]) < 1.5
            if near.sum() < 2:
                break
            line = _tls_line(pts[near])
        near = np.abs(pts @ line[:2] + line[2]) < 1.5
        # collinear support only: pixels near the line but spread along it sparsely (a
        # curve touching it) do not count as a line
        direction = np.array([-line[1], line[0]])
        along = np.sort(pts[near] @ direction)
        if len(along) < min_len * 0.6:
            continue
        gaps = np.diff(along)
        if (gaps[gaps < 6].sum()) < 0.6 * min_len:
            continue
        lines.append(line)
        supports.append(int(near.sum()))
        if len(lines) >= max_lines:
            break
    if not lines:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    sort = np.argsort(-np.asarray(supports))
    return _suppress_duplicates(np.asarray(lines)[sort], np.asarray(supports, np.int64)[sort], (h, w))


def _suppress_duplicates(
    lines: np.ndarray, support: np.ndarray, shape: tuple[int, int], min_gap_frac: float = 0.012
) -> tuple[np.ndarray, np.ndarray]:
    """Drop lines that stay within ``min_gap_frac`` × width of a better-supported one across
    the frame (the two edges of one thick line, a board edge hugging a touchline)."""
    h, w = shape
    probe = np.array([[0, 0], [w / 2, h / 2], [w, h], [0, h], [w, 0]], np.float64)
    keep: list[int] = []
    for i, line in enumerate(lines):
        # the points of line i nearest to the probes, and their distance to each kept line
        foot = probe - (probe @ line[:2] + line[2])[:, None] * line[:2]
        inside = (foot[:, 0] >= -1) & (foot[:, 0] <= w + 1) & (foot[:, 1] >= -1) & (foot[:, 1] <= h + 1)
        foot = foot[inside] if inside.any() else foot
        if any(np.abs(foot @ lines[k][:2] + lines[k][2]).max() < min_gap_frac * w for k in keep):
            continue
        keep.append(i)
    return lines[keep], support[keep]


def line_angle_deg(lines: np.ndarray) -> np.ndarray:
    """(L,) direction of each line against the image rows, degrees in [0, 90]."""
    # direction (-b, a); its angle to the x axis folded into [0, 90]
    return np.degrees(np.arctan2(np.abs(lines[:, 0]), np.abs(lines[:, 1])))

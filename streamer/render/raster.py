"""Vectorised triangle rasterisation with a per-pixel z-buffer (numpy, no per-pixel loops).

Shape legend: ``T`` triangles; ``M`` fragments (pixel samples inside a triangle);
``P = H * W`` pixels, flat index ``row * W + col``.

Each triangle is tested against the pixel centres inside its bounding box: the boxes are
expanded into one flat array of candidate pixels, barycentric coordinates come from the
three edge functions, and depth is interpolated as 1/z (affine in screen space, so exact
for planar triangles). Visibility is resolved with ``np.minimum.at`` on a depth buffer:
exact per pixel, independent of the order the triangles come in. Cost grows with the
summed bounding-box area of the triangles, which suits many small triangles (bodies a few
dozen pixels tall); large triangles are processed in chunks so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: candidate pixels expanded at once; bounds temporary memory to about 200 MB
MAX_CANDIDATES = 1_000_000


@dataclass(frozen=True, slots=True, eq=False)
class Fragments:
    """Pixel samples covered by triangles, ordered by triangle index.

    Attributes:
        pixel: (M,) int64 flat pixel index.
        triangle: (M,) int64 index into the triangles given to :func:`rasterize`.
        depth_m: (M,) float32 camera-frame z of the surface at the pixel centre.
    """

    pixel: np.ndarray
    triangle: np.ndarray
    depth_m: np.ndarray


def rasterize(
    points_cam: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    width: int,
    height: int,
    *,
    near_m: float = 0.05,
    cull_backfaces: bool = True,
) -> Fragments:
    """Fragments of a triangle mesh given in the camera frame.

    Args:
        points_cam: (N, 3) vertices in the camera frame (x right, y down, z forward), metres.
        faces: (T, 3) int vertex indices, counter-clockwise seen from the front.
        K: (3, 3) intrinsics (pixels).
        width / height: image size.
        near_m: triangles with a corner nearer than this are dropped (no clipping).
        cull_backfaces: drop triangles whose counter-clockwise side faces away.

    Returns:
        :class:`Fragments` for the pixel centres inside each kept triangle.
    """
    points_cam = np.asarray(points_cam, np.float64)
    z = points_cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_zv = np.where(z > near_m, 1.0 / z, np.nan)
    uv_u = K[0, 0] * points_cam[:, 0] * inv_zv + K[0, 1] * points_cam[:, 1] * inv_zv + K[0, 2]
    uv_v = K[1, 1] * points_cam[:, 1] * inv_zv + K[1, 2]
    corners = np.asarray(faces).T  # (3, T): row-wise gathers keep each corner contiguous
    u, v = uv_u[corners], uv_v[corners]
    # signed area in pixels; with y down a counter-clockwise front face has area < 0
    area = (u[1] - u[0]) * (v[2] - v[0]) - (u[2] - u[0]) * (v[1] - v[0])
    with np.errstate(invalid="ignore"):  # NaN corners (behind the near plane) fail both tests
        keep = (area < -1e-12) if cull_backfaces else (np.abs(area) > 1e-12)
    sel = np.flatnonzero(keep)
    u, v, area = u[:, sel], v[:, sel], area[sel]
    # pixel c is sampled at its centre c + 0.5
    x0 = np.ceil(np.minimum(np.minimum(u[0], u[1]), u[2]) - 0.5)
    x1 = np.floor(np.maximum(np.maximum(u[0], u[1]), u[2]) - 0.5)
    y0 = np.ceil(np.minimum(np.minimum(v[0], v[1]), v[2]) - 0.5)
    y1 = np.floor(np.maximum(np.maximum(v[0], v[1]), v[2]) - 0.5)
    x0, x1 = np.maximum(x0, 0), np.minimum(x1, width - 1)
    y0, y1 = np.maximum(y0, 0), np.minimum(y1, height - 1)
    hit = np.flatnonzero((x1 >= x0) & (y1 >= y0))  # covers a pixel centre inside the image
    sel, u, v, area = sel[hit], u[:, hit], v[:, hit], area[hit]
    x0, y0 = x0[hit].astype(np.int64), y0[hit].astype(np.int64)
    box_w = x1[hit].astype(np.int64) - x0 + 1
    box_h = y1[hit].astype(np.int64) - y0 + 1
    # edge function coefficients, normalised by the signed area: b_k = A_k x + B_k y + C_k
    inv_area = 1.0 / area
    coef = np.empty((len(sel), 3, 3))
    for k, (a, b) in enumerate(((1, 2), (2, 0), (0, 1))):
        coef[:, k, 0] = (v[a] - v[b]) * inv_area
        coef[:, k, 1] = (u[b] - u[a]) * inv_area
        coef[:, k, 2] = (u[a] * v[b] - u[b] * v[a]) * inv_area
    counts = box_w * box_h
    inv_z = inv_zv[corners[:, sel]].T  # (T', 3)
    parts = [_expand(chunk, x0, y0, box_w, counts, coef, inv_z, width) for chunk in _chunks(counts, MAX_CANDIDATES)]
    if not parts:
        return Fragments(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    pixel, local, depth = (np.concatenate(p) for p in zip(*parts, strict=True))
    return Fragments(pixel, sel[local], depth)


def _chunks(counts: np.ndarray, budget: int) -> list[np.ndarray]:
    """Split triangle indices into runs whose candidate counts sum to about ``budget``."""
    if len(counts) == 0:
        return []
    ends = np.cumsum(counts)
    cuts = np.searchsorted(ends, np.arange(budget, ends[-1], budget), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(counts)]]))
    return [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _expand(
    chunk: np.ndarray, x0: np.ndarray, y0: np.ndarray, box_w: np.ndarray, counts: np.ndarray,
    coef: np.ndarray, inv_z: np.ndarray, width: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test every pixel centre in the boxes of triangles ``chunk``: (pixel, triangle, depth) inside."""
    n = counts[chunk]
    local = np.repeat(chunk, n)
    offset = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    w = box_w[local]
    px = x0[local] + offset % w
    py = y0[local] + offset // w
    cx, cy = px + 0.5, py + 0.5
    c = coef[local]  # (m, 3, 3)
    bary = c[:, :, 0] * cx[:, None] + c[:, :, 1] * cy[:, None] + c[:, :, 2]
    inside = (bary >= 0).all(1)
    bary, local = bary[inside], local[inside]
    depth = 1.0 / np.einsum("mk,mk->m", bary, inv_z[local])
    return (py[inside] * width + px[inside]), local, depth.astype(np.float32)


def resolve_visibility(fragments: Fragments, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest surface per pixel.

    Returns:
        depth_m (P,) float32 (inf where empty) and triangle (P,) int64 (-1 where empty).
    """
    depth = np.full(n_pixels, np.inf, np.float32)
    np.minimum.at(depth, fragments.pixel, fragments.depth_m)
    nearest = fragments.depth_m == depth[fragments.pixel]
    triangle = np.full(n_pixels, -1, np.int64)
    triangle[fragments.pixel[nearest]] = fragments.triangle[nearest]
    return depth, triangle

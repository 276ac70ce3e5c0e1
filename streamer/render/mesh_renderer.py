"""Render many shaded meshes into an RGB frame, with an instance mask and per-mesh boxes.

Shape legend: ``H, W`` image size; ``M`` meshes; ``V`` / ``F`` a mesh's vertices / faces.

This is the project's one CPU mesh renderer: the synthetic clip generator draws players
with it (and takes exact boxes, visibility and occlusion from its instance mask), the
overlay video draws fitted bodies with it. Flat Lambert shading (one colour per face:
``albedo * (ambient + (1 - ambient) * max(0, n . l))``), a per-pixel z-buffer, no
anti-aliasing, alpha blending onto the given frame. Pixel conventions are those of
:mod:`streamer.render.camera`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamer.render.camera import PinholeCamera, project_camera_points
from streamer.render.raster import rasterize, resolve_visibility

#: toward the light, camera frame: from above (−y), a little left and from the camera side
DEFAULT_LIGHT_CAM = (-0.35, -0.8, -0.5)


@dataclass(frozen=True, slots=True, eq=False)
class MeshInstance:
    """One mesh to draw.

    Attributes:
        vertices: (V, 3) world-frame positions, metres.
        faces: (F, 3) int vertex indices, counter-clockwise seen from outside.
        face_rgb: (F, 3) or (3,) uint8 albedo per face (or one for all).
        instance_id: >= 1, written to :attr:`RenderResult.instance_id` where the mesh is visible.
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_rgb: np.ndarray
    instance_id: int

    def __post_init__(self) -> None:
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"MeshInstance.vertices: expected shape (V, 3), got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"MeshInstance.faces: expected shape (F, 3), got {self.faces.shape}")
        if np.shape(self.face_rgb) not in ((3,), (len(self.faces), 3)):
            raise ValueError(f"MeshInstance.face_rgb: expected shape (3,) or ({len(self.faces)}, 3), "
                             f"got {np.shape(self.face_rgb)}")
        if self.instance_id < 1:
            raise ValueError(f"MeshInstance.instance_id must be >= 1, got {self.instance_id}")


@dataclass(frozen=True, slots=True, eq=False)
class RenderResult:
    """A rendered frame and what each mesh covers.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        instance_id: (H, W) int32 id of the nearest mesh per pixel, 0 where none.
        depth_m: (H, W) float32 camera z of the nearest surface, inf where none.
        xyxy_full_px: (M, 4) float32 extent of each mesh's projected vertices, ignoring
            occlusion and the image border (NaN when the mesh is behind the camera).
        xyxy_visible_px: (M, 4) float32 extent of the pixels where the mesh is nearest
            (pixel edges, so one pixel is 1 px wide); NaN when none.
        visible_px: (M,) int64 pixels where the mesh is the nearest surface.
        unoccluded_px: (M,) int64 pixels inside the image the mesh would cover on its own.
    """

    image: np.ndarray
    instance_id: np.ndarray
    depth_m: np.ndarray
    xyxy_full_px: np.ndarray
    xyxy_visible_px: np.ndarray
    visible_px: np.ndarray
    unoccluded_px: np.ndarray

    @property
    def visibility(self) -> np.ndarray:
        """(M,) float32 visible / unoccluded pixels (0 where the mesh covers no pixel)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.unoccluded_px > 0, self.visible_px / self.unoccluded_px, 0.0).astype(np.float32)


def shade_faces(tri_cam: np.ndarray, albedo: np.ndarray, light_dir_cam: np.ndarray, ambient: float) -> np.ndarray:
    """(T, 3) float32 Lambert colours of camera-frame triangles (T, 3, 3) with albedo (T, 3)."""
    normal = np.cross(tri_cam[:, 1] - tri_cam[:, 0], tri_cam[:, 2] - tri_cam[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    light = np.asarray(light_dir_cam, np.float64)
    light = light / np.linalg.norm(light)
    lambert = np.clip(normal @ light, 0.0, 1.0)
    return (albedo * (ambient + (1.0 - ambient) * lambert)[:, None]).astype(np.float32)


def render_meshes(
    camera: PinholeCamera,
    meshes: Sequence[MeshInstance],
    background: np.ndarray | None = None,
    *,
    alpha: float = 1.0,
    light_dir_cam: tuple[float, float, float] | np.ndarray = DEFAULT_LIGHT_CAM,
    ambient: float = 0.45,
    cull_backfaces: bool = True,
) -> RenderResult:
    """Draw ``meshes`` seen by ``camera`` over ``background``.

    Args:
        camera: pinhole camera; its size is the output size.
        meshes: the meshes, any number (ids need not be unique, but boxes are per mesh).
        background: (H, W, 3) uint8 frame to draw on (not modified), or None for black.
        alpha: opacity of the meshes, 1 = opaque; 0.5 shows the frame through them.
        light_dir_cam: (3,) direction toward the light in the camera frame.
        ambient: share of the albedo lit regardless of orientation, in [0, 1].
        cull_backfaces: skip faces turned away (meshes must be closed and outward-wound).
    """
    width, height = camera.width, camera.height
    image = np.zeros((height, width, 3), np.uint8) if background is None else background.copy()
    if image.shape != (height, width, 3) or image.dtype != np.uint8:
        raise ValueError(f"background: expected ({height}, {width}, 3) uint8, got {image.shape} {image.dtype}")
    n = len(meshes)
    full_box = np.full((n, 4), np.nan, np.float32)
    if n == 0:
        return RenderResult(image, np.zeros((height, width), np.int32), np.full((height, width), np.inf, np.float32),
                            full_box, full_box.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64))
    n_vertices = np.array([len(mesh.vertices) for mesh in meshes])
    vertex_start = np.concatenate([[0], np.cumsum(n_vertices)])
    points_cam = camera.to_camera(np.concatenate([mesh.vertices for mesh in meshes]))
    faces = np.concatenate([mesh.faces + vertex_start[m] for m, mesh in enumerate(meshes)])
    face_owner = np.repeat(np.arange(n), [len(mesh.faces) for mesh in meshes])
    albedo = np.concatenate([np.broadcast_to(np.asarray(mesh.face_rgb, np.float32), (len(mesh.faces), 3))
                             for mesh in meshes])
    uv, _ = project_camera_points(camera.K, points_cam)  # NaN behind the camera
    starts = vertex_start[:-1][n_vertices > 0]
    with np.errstate(invalid="ignore"):
        full_box[n_vertices > 0] = np.concatenate([np.fmin.reduceat(uv, starts), np.fmax.reduceat(uv, starts)], 1)
    fragments = rasterize(points_cam, faces, camera.K, width, height, cull_backfaces=cull_backfaces)
    depth, triangle = resolve_visibility(fragments, width * height)
    covered = np.flatnonzero(triangle >= 0)
    hit_tri = triangle[covered]
    mesh_of_pixel = face_owner[hit_tri]
    # shade only the faces that won a pixel
    faces_used, inverse = np.unique(hit_tri, return_inverse=True)
    colour = shade_faces(points_cam[faces[faces_used]], albedo[faces_used], light_dir_cam, ambient)
    flat = image.reshape(-1, 3)
    drawn = colour[inverse]
    if alpha < 1.0:
        drawn = (1.0 - alpha) * flat[covered] + alpha * drawn
    flat[covered] = np.clip(drawn + 0.5, 0, 255).astype(np.uint8)
    ids = np.array([mesh.instance_id for mesh in meshes], np.int32)
    instance = np.zeros(width * height, np.int32)
    instance[covered] = ids[mesh_of_pixel]
    visible_box, visible_px = pixel_boxes(covered, mesh_of_pixel, n, width)
    frag_owner = face_owner[fragments.triangle]  # fragments come in triangle order: grouped by mesh
    starts = np.searchsorted(frag_owner, np.arange(n + 1))
    unoccluded = np.array([np.unique(fragments.pixel[a:b]).size for a, b in zip(starts[:-1], starts[1:],
                                                                                   strict=True)], np.int64)
    return RenderResult(image, instance.reshape(height, width), depth.reshape(height, width),
                        full_box, visible_box, visible_px, unoccluded)


def pixel_boxes(pixels: np.ndarray, group: np.ndarray, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Extent and count of flat pixel indices per group.

    Args:
        pixels: (Q,) flat pixel indices ``row * width + col``.
        group: (Q,) int group of each pixel, in [0, n).

    Returns:
        (n, 4) float32 xyxy boxes on pixel edges (NaN for empty groups) and (n,) int64 counts.
    """
    x, y = pixels % width, pixels // width
    lo = np.full((n, 2), np.iinfo(np.int64).max)
    hi = np.full((n, 2), -1, np.int64)
    np.minimum.at(lo, group, np.stack([x, y], 1))
    np.maximum.at(hi, group, np.stack([x, y], 1))
    count = np.bincount(group, minlength=n).astype(np.int64)
    box = np.concatenate([lo, hi + 1], 1).astype(np.float32)
    box[count == 0] = np.nan
    return box, count


def mask_boxes(instance_id: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and pixel counts of the given ids in an (H, W) instance mask (0 = background).

    Returns:
        (M, 4) float32 xyxy pixel-edge boxes (NaN where an id has no pixel) and (M,) int64 counts.
    """
    ids = np.asarray(ids, np.int64)
    flat = instance_id.reshape(-1)
    pixels = np.flatnonzero(flat)
    lookup = np.full(max(int(ids.max(initial=0)), int(flat.max(initial=0))) + 1, -1, np.int64)
    lookup[ids] = np.arange(len(ids))
    group = lookup[flat[pixels]]
    known = group >= 0
    return pixel_boxes(pixels[known], group[known], len(ids), instance_id.shape[1])

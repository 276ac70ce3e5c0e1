"""CPU mesh rendering (numpy): pinhole camera, vectorised z-buffer rasteriser, shaded meshes.

Used by the synthetic clip generator (:mod:`streamer.synth`) and the overlay video.
"""

from streamer.render.camera import PinholeCamera, intrinsics, look_at, project_camera_points
from streamer.render.mesh_renderer import (
    MeshInstance,
    RenderResult,
    mask_boxes,
    pixel_boxes,
    render_meshes,
    shade_faces,
)
from streamer.render.raster import Fragments, rasterize, resolve_visibility

__all__ = [
    "Fragments", "MeshInstance", "PinholeCamera", "RenderResult", "intrinsics", "look_at", "mask_boxes",
    "pixel_boxes", "project_camera_points", "rasterize", "render_meshes", "resolve_visibility", "shade_faces",
]

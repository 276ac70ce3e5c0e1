"""CPU mesh renderer: silhouettes match projections, the z-buffer orders depth, blending and boxes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from streamer.render import MeshInstance, PinholeCamera, intrinsics, look_at, rasterize, render_meshes
from streamer.render import raster as raster_module

W, H = 320, 240


def camera(eye=(0.0, -10.0, 0.0), target=(0.0, 0.0, 0.0), focal=300.0) -> PinholeCamera:
    R, t = look_at(np.array(eye), np.array(target))
    return PinholeCamera(intrinsics(focal, W, H), R, t, W, H)


def convex_mesh(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and outward, counter-clockwise faces of the convex hull of ``points``."""
    hull = ConvexHull(points)
    faces = hull.simplices.copy()
    tri = points[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = np.einsum("fi,fi->f", normal, tri.mean(1) - points.mean(0)) < 0
    faces[inward] = faces[inward][:, ::-1]
    return points, faces


def cube(center=(0.0, 0.0, 0.0), size=1.0) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    return convex_mesh(corners * size / 2 + np.asarray(center))


def sphere(center=(0.0, 0.0, 0.0), radius=1.0, n=400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.normal(size=(n, 3))
    return convex_mesh(p / np.linalg.norm(p, axis=1, keepdims=True) * radius + np.asarray(center))


def hull_mask(uv: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixel centres inside the convex hull of the 2D points ``uv``."""
    hull = ConvexHull(uv)
    xs, ys = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    pts = np.stack([xs.ravel(), ys.ravel()], 1)
    inside = (pts @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9).all(1)
    return inside.reshape(H, W)


def mesh(vertices, faces, rgb=(200, 50, 50), instance_id=1) -> MeshInstance:
    return MeshInstance(vertices, faces, np.array(rgb, np.uint8), instance_id)


@pytest.mark.parametrize("shape", ["cube", "sphere"])
def test_silhouette_matches_projected_hull(shape):
    cam = camera(eye=(3.0, -9.0, 4.0))
    vertices, faces = cube(size=2.0) if shape == "cube" else sphere(radius=1.5)
    result = render_meshes(cam, [mesh(vertices, faces)])
    rendered = result.instance_id == 1
    uv, _ = cam.project(vertices)
    expected = hull_mask(uv)
    iou = (rendered & expected).sum() / (rendered | expected).sum()
    assert iou > 0.995, iou
    # boxes: the visible extent (pixel edges) lies within a pixel of the projected extent
    np.testing.assert_allclose(result.xyxy_visible_px[0], result.xyxy_full_px[0], atol=1.0)
    np.testing.assert_allclose(result.xyxy_full_px[0], [*uv.min(0), *uv.max(0)], atol=1e-4)
    assert result.visible_px[0] == result.unoccluded_px[0] == rendered.sum()


def test_body_silhouette_is_contained_in_its_projection():
    from streamer.body.mannequin_backend import MannequinBody

    body = MannequinBody("convex", lod=2)
    pose = np.zeros((21, 3), np.float32)
    pose[15, 2], pose[16, 2] = -1.1, 1.1  # arms down
    verts = body(body_pose=pose, global_orient=[np.pi / 2, 0, 0]).vertices.numpy()  # SMPL-X y up → world z up
    cam = camera(eye=(0.0, -6.0, 0.0), focal=250.0)
    result = render_meshes(cam, [mesh(verts.astype(np.float64), body.faces)])
    ys, xs = np.nonzero(result.instance_id)
    x1, y1, x2, y2 = result.xyxy_full_px[0]
    assert xs.min() + 0.5 >= x1 and xs.max() + 0.5 <= x2 and ys.min() + 0.5 >= y1 and ys.max() + 0.5 <= y2
    assert 70 < (y2 - y1) < 85  # a standing body 1.72 m tall at about 6 m, f = 250 px
    np.testing.assert_allclose(result.xyxy_visible_px[0], result.xyxy_full_px[0], atol=1.5)


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_near_mesh_occludes_far_mesh(order):
    cam = camera()
    near = mesh(*cube(center=(0.3, -3.0, 0.0), size=1.0), rgb=(255, 0, 0), instance_id=7)
    far = mesh(*cube(center=(0.0, 3.0, 0.0), size=2.0), rgb=(0, 0, 255), instance_id=9)
    meshes = [near, far]
    result = render_meshes(cam, [meshes[i] for i in order])
    near_alone = render_meshes(cam, [near]).instance_id == 7
    far_alone = render_meshes(cam, [far]).instance_id == 9
    overlap = near_alone & far_alone
    assert overlap.sum() > 100
    assert (result.instance_id[overlap] == 7).all()
    assert (result.instance_id[far_alone & ~near_alone] == 9).all()
    stats = {meshes[i].instance_id: k for k, i in enumerate(order)}
    k_near, k_far = stats[7], stats[9]
    assert result.visible_px[k_near] == result.unoccluded_px[k_near] == near_alone.sum()
    assert result.unoccluded_px[k_far] == far_alone.sum()
    assert result.visible_px[k_far] == (far_alone & ~near_alone).sum()
    assert 0 < result.visibility[k_far] < 1 and result.visibility[k_near] == 1
    # depth: the near cube's front face is 1 m nearer than the far cube's... 2.5 m vs 12 m away
    assert np.allclose(result.depth_m[overlap], 6.5, atol=1e-3)
    assert np.isinf(result.depth_m[result.instance_id == 0]).all()


def test_alpha_blend_and_background_untouched():
    cam = camera()
    background = np.full((H, W, 3), 100, np.uint8)
    vertices, faces = cube(size=2.0)
    opaque = render_meshes(cam, [mesh(vertices, faces, rgb=(200, 200, 200))], background, ambient=1.0)
    half = render_meshes(cam, [mesh(vertices, faces, rgb=(200, 200, 200))], background, alpha=0.5, ambient=1.0)
    inside = opaque.instance_id == 1
    assert (opaque.image[inside] == 200).all() and (half.image[inside] == 150).all()
    assert (half.image[~inside] == 100).all() and (background == 100).all()


def test_lambert_shading_brighter_facing_the_light():
    cam = camera(eye=(4.0, -8.0, 6.0))
    vertices, faces = cube(size=2.0)
    top_lit = render_meshes(cam, [mesh(vertices, faces, rgb=(250, 250, 250))],
                            light_dir_cam=cam.R @ np.array([0.0, 0.0, 1.0]), ambient=0.2)
    uv, _ = cam.project(np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]))  # top face, front face centres
    (tx, ty), (fx, fy) = uv.astype(int)
    assert top_lit.image[ty, tx, 0] > 240 and top_lit.image[fy, fx, 0] < 80


def test_backface_culling_uses_winding():
    cam = camera()
    tri = np.array([[-1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # in the plane y = 0
    towards = np.array([[0, 1, 2]])  # normal (0, -4, 0): toward the camera at y = -10
    away = towards[:, ::-1]
    assert (render_meshes(cam, [mesh(tri, towards)]).instance_id == 1).sum() > 100
    assert (render_meshes(cam, [mesh(tri, away)]).instance_id == 1).sum() == 0
    assert (render_meshes(cam, [mesh(tri, away)], cull_backfaces=False).instance_id == 1).sum() > 100


def test_behind_camera_and_outside_image():
    cam = camera()
    behind = mesh(*cube(center=(0.0, -12.0, 0.0)), instance_id=2)
    partly_out = mesh(*cube(center=(5.0, 0.0, 0.0), size=2.0), instance_id=3)
    result = render_meshes(cam, [behind, partly_out])
    assert np.isnan(result.xyxy_full_px[0]).all() and result.visible_px[0] == 0
    assert np.isnan(result.xyxy_visible_px[0]).all()
    assert result.xyxy_full_px[1, 2] > W and result.xyxy_visible_px[1, 2] == W
    assert result.visible_px[1] == (result.instance_id == 3).sum() > 0


def test_chunked_rasterisation_is_identical(monkeypatch):
    cam = camera(focal=900.0)
    vertices, faces = sphere(radius=1.0, n=200)
    points = cam.to_camera(vertices)
    whole = rasterize(points, faces, cam.K, W, H)
    monkeypatch.setattr(raster_module, "MAX_CANDIDATES", 500)
    chunked = rasterize(points, faces, cam.K, W, H)
    for a, b in zip((whole.pixel, whole.triangle, whole.depth_m), (chunked.pixel, chunked.triangle,
                                                                     chunked.depth_m), strict=True):
        np.testing.assert_array_equal(a, b)


def test_camera_projection_and_ground_homography():
    cam = camera(eye=(0.0, -40.0, 20.0), target=(0.0, 0.0, 0.0), focal=1000.0)
    uv, depth = cam.project(np.array([0.0, 0.0, 0.0]))
    np.testing.assert_allclose(uv, [W / 2, H / 2], atol=1e-9)
    assert depth == pytest.approx(np.hypot(40, 20))
    ground = np.array([[3.0, 5.0, 0.0], [-10.0, 2.0, 0.0]])
    uv, _ = cam.project(ground)
    hom = np.c_[ground[:, :2], np.ones(2)] @ cam.ground_homography().T
    np.testing.assert_allclose(hom[:, :2] / hom[:, 2:], uv, atol=1e-9)
    np.testing.assert_allclose(cam.ray_to_ground(uv), ground[:, :2], atol=1e-9)
    np.testing.assert_allclose(cam.center_world, [0.0, -40.0, 20.0], atol=1e-9)
    # world up is image up
    (_, v_low), (_, v_high) = cam.project(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]))[0]
    assert v_high < v_low

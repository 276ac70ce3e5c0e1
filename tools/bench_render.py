"""CPU mesh renderer speed: 20 players at 1280x720 on one core (target >= 15 fps).

Players are mannequin bodies in a running pose, spread over a pitch seen by a broadcast
camera (20 m up, 40 m behind the near touchline, f = 1700 px), so they are 28-68 px tall
as in a real wide shot, and drawn over a green frame. Only ``render_meshes`` is timed
(posing the bodies is reported separately). The process is pinned to one CPU core.

Usage: python tools/bench_render.py [--frames 40] [--players 20] [--designs convex2 convex1 convex0 wooden]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# one core means one BLAS thread too (set before numpy loads its BLAS)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def build_scene(design: str, players: int, seed: int = 0):  # noqa: ANN201 - (camera, meshes, background, pose s)
    from scipy.spatial.transform import Rotation

    from streamer.body.mannequin_backend import MannequinBody
    from streamer.render import MeshInstance, PinholeCamera, intrinsics, look_at

    kind, lod = ("wooden", None) if design == "wooden" else ("convex", int(design[-1]))
    body = MannequinBody(kind, lod=lod)
    rng = np.random.default_rng(seed)
    heading = rng.uniform(0, 2 * np.pi, players)
    forward = np.stack([np.cos(heading), np.sin(heading), np.zeros(players)], 1)
    up = np.array([0.0, 0.0, 1.0])
    frames = np.stack([np.cross(up, forward), np.broadcast_to(up, forward.shape), forward], 2)
    global_orient = Rotation.from_matrix(frames).as_rotvec()
    pose = np.zeros((players, 21, 3))
    pose[:, 0, 0], pose[:, 1, 0], pose[:, 3, 0], pose[:, 4, 0] = -0.6, 0.4, 0.3, 1.2  # hips, knees
    pose[:, 15, 2], pose[:, 16, 2], pose[:, 17, 1], pose[:, 18, 1] = -1.2, 1.2, -1.2, 1.2  # arms
    transl = np.stack([rng.uniform(-40, 40, players), rng.uniform(-30, 30, players), np.full(players, 1.25)], 1)
    body(global_orient=global_orient, body_pose=pose, transl=transl)  # warm-up
    t0 = time.perf_counter()
    vertices = body(global_orient=global_orient, body_pose=pose, transl=transl).vertices.numpy()
    pose_s = time.perf_counter() - t0
    width, height = 1280, 720
    R, t = look_at(np.array([0.0, -74.0, 20.0]), np.array([0.0, 0.0, 0.0]))  # 40 m behind the near touchline
    camera = PinholeCamera(intrinsics(1700.0, width, height), R, t, width, height)
    colours = np.array([[200, 30, 40], [240, 240, 240]], np.uint8)
    meshes = [MeshInstance(vertices[i].astype(np.float64), body.faces, colours[i % 2], i + 1) for i in range(players)]
    background = np.empty((height, width, 3), np.uint8)
    background[:] = (52, 120, 48)
    return camera, meshes, background, pose_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--players", type=int, default=20)
    parser.add_argument("--designs", nargs="+", default=["convex2", "convex1", "convex0", "wooden"])
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from streamer.render import render_meshes

    print(f"{'design':<8} {'faces':>7} {'tall px':>9} {'ms/frame':>9} {'fps':>6} {'pose ms':>8}")
    for design in args.designs:
        camera, meshes, background, pose_s = build_scene(design, args.players)
        result = render_meshes(camera, meshes, background)  # warm-up
        heights = result.xyxy_full_px[:, 3] - result.xyxy_full_px[:, 1]
        times = []
        for _ in range(args.frames):
            t0 = time.perf_counter()
            render_meshes(camera, meshes, background)
            times.append(time.perf_counter() - t0)
        ms = 1000 * statistics.median(times)
        print(f"{design:<8} {len(meshes[0].faces):>7} {heights.min():>4.0f}-{heights.max():<4.0f} "
              f"{ms:>9.1f} {1000 / ms:>6.1f} {1000 * pose_s:>8.1f}")


if __name__ == "__main__":
    main()

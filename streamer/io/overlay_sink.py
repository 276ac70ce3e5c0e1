"""``overlay.mp4``: the input frames with what the pipeline found drawn on them.

Layers, bottom to top: shaded body meshes (the fitted SMPL-X parameters posed on
a light body model and drawn with the project's renderer, alpha-blended),
2D skeletons, boxes and player ids in team colours. Each layer appears only when
its record exists, so the same sink serves a detect-only run and a full one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from streamer.io.video_writer import VideoWriter
from streamer.records import TEAM_RGB, Packet

#: mesh albedo per team (0, 1, referee/other); unknown = light grey (boxes and labels: records.TEAM_RGB)
TEAM_MESH_RGB = {0: (205, 80, 80), 1: (90, 130, 215), 2: (220, 200, 60), -1: (200, 200, 200)}
#: largest change of any shape coefficient (std) the overlay lets pass before it reshapes a
#: player's mesh: a drift this small moves no vertex by a visible amount, and reshaping the
#: mannequin costs ~20 ms per body, posing it well under 1 ms
SHAPE_TOLERANCE = 0.05
#: frames after which a track's drawn shape is forgotten when it has not been drawn
SHAPE_MEMORY_FRAMES = 250


def _teams(packet: Packet) -> dict[int, int]:
    metrics = packet.metrics
    if metrics is None:
        return {}
    return {int(t): int(team) for t, team in zip(metrics.track_id, metrics.team, strict=True)}


def draw_tracks(image: np.ndarray, packet: Packet, out: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image`` with track boxes and ids drawn in team colours (the input when none);
    drawn into ``out`` instead when given (``image`` itself or a copy of it; returned)."""
    tracks = packet.tracks
    if tracks is None or len(tracks) == 0:
        return image if out is None else out
    import cv2  # only paid for when there is something to draw

    teams = _teams(packet)
    canvas = image.copy() if out is None else out
    for track_id, box in zip(tracks.track_id, tracks.xyxy_px, strict=True):
        colour = TEAM_RGB.get(teams.get(int(track_id), -1), TEAM_RGB[-1])
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 1, cv2.LINE_AA)
        cv2.putText(canvas, str(int(track_id)), (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    colour, 1, cv2.LINE_AA)
    return canvas


class MeshLayer:
    """Poses a light body model with each player's parameters and renders it over the frame.

    Only players whose track box is at least ``min_height_px`` tall get a mesh (a body a
    few dozen pixels tall reads better as its skeleton, and posing and rasterising it
    is most of the overlay's cost on a broadcast frame). A track keeps the body shape it was
    first drawn with until its smoothed shape drifts by more than :data:`SHAPE_TOLERANCE`
    in some coefficient (the model's reshaped rest meshes are cached per shape, so a shape
    that moves a little every frame would reshape every frame). Each group of overlapping
    bodies is rasterised in its own window of the frame, not over the whole frame: the
    same pixels, without full-frame depth and index buffers per frame.

    Args:
        body: ``convex`` (mannequin hulls, fastest), ``wooden`` (detailed mannequin) or
            ``smplx`` (the user's SMPL-X model; slow with many players).
        alpha: mesh opacity.
        min_height_px: smallest track box height (pixels) that gets a mesh; 0 = all.
    """

    def __init__(self, body: str = "convex", alpha: float = 0.7, lod: int = 1, min_height_px: float = 0.0) -> None:
        self.body_name, self.alpha, self.lod = body, alpha, lod
        self.min_height_px = float(min_height_px)
        self._model: Any = None
        self._shapes: dict[int, tuple[int, np.ndarray]] = {}  # track id -> (frame drawn, shape drawn)
        self._frames = 0

    def shapes(self, track_id: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """(N, 10) shapes to draw: each track's last drawn shape while ``betas`` stays within
        :data:`SHAPE_TOLERANCE` of it, else ``betas`` (remembered as the new drawn shape)."""
        self._frames += 1
        out = np.array(betas, np.float32, copy=True)
        for k, tid in enumerate(track_id.tolist()):
            seen = self._shapes.get(tid)
            if seen is not None and np.abs(out[k] - seen[1]).max() <= SHAPE_TOLERANCE:
                out[k] = seen[1]
            self._shapes[tid] = (self._frames, out[k])
        if len(self._shapes) > 64:
            old = [t for t, (f, _) in self._shapes.items() if self._frames - f > SHAPE_MEMORY_FRAMES]
            for tid in old:
                del self._shapes[tid]
        return out

    def _body(self) -> Any:
        if self._model is None:
            from streamer.body import load_body_model

            if self.body_name == "smplx":
                self._model = load_body_model("smplx")
            else:
                kind = "convex" if self.body_name == "convex" else "wooden"
                self._model = load_body_model("mannequin", mannequin_kind=kind,
                                              mannequin_lod=self.lod if kind == "convex" else None)
        return self._model

    def _big_enough(self, packet: Packet) -> np.ndarray:
        """Rows of ``packet.body`` to draw: those whose track box is tall enough (all without tracks)."""
        body, tracks = packet.body, packet.tracks
        assert body is not None
        if self.min_height_px <= 0 or tracks is None:
            return np.arange(len(body))
        height = dict(zip(tracks.track_id.tolist(), (tracks.xyxy_px[:, 3] - tracks.xyxy_px[:, 1]).tolist(),
                          strict=True))
        return np.array([i for i, t in enumerate(body.track_id.tolist())
                         if height.get(t, np.inf) >= self.min_height_px], np.int64)

    def __call__(self, image: np.ndarray, packet: Packet) -> np.ndarray:
        body = packet.body
        if body is None or len(body) == 0:
            return image
        rows = self._big_enough(packet)
        if not len(rows):
            return image
        import torch

        from streamer.render.mesh_renderer import MeshInstance

        model = self._body()
        betas = self.shapes(body.track_id[rows], body.betas[rows])
        with torch.no_grad():
            vertices = model(
                betas=torch.from_numpy(betas), global_orient=torch.from_numpy(body.global_orient[rows]),
                body_pose=torch.from_numpy(body.body_pose[rows]), transl=torch.from_numpy(body.transl[rows]),
            ).vertices.numpy()
        teams = _teams(packet)
        faces = np.asarray(model.faces)
        meshes = [
            MeshInstance(vertices[k].astype(np.float64), faces,
                         np.asarray(TEAM_MESH_RGB.get(teams.get(int(t), -1), TEAM_MESH_RGB[-1]), np.uint8), k + 1)
            for k, t in enumerate(body.track_id[rows])
            if np.isfinite(vertices[k]).all() and (vertices[k][:, 2] > 0.1).all()
        ]
        return render_in_windows(image, body.cam_K.astype(np.float64), meshes, self.alpha)


def mesh_windows(K: np.ndarray, meshes: list, width: int, height: int) -> list[tuple[list[int], tuple[int, ...]]]:
    """Groups of overlapping meshes and the frame window (x0, y0, x1, y1) each group covers.

    Meshes are camera-frame vertices in front of the camera; a window holds every pixel
    the projected vertices could touch (one pixel of margin), clipped to the frame.
    Meshes whose windows overlap share one (they may hide each other).
    """
    boxes = []
    for mesh in meshes:
        uv = mesh.vertices @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        lo, hi = np.floor(uv.min(axis=0)) - 1, np.ceil(uv.max(axis=0)) + 1
        boxes.append([max(0, int(lo[0])), max(0, int(lo[1])), min(width, int(hi[0])), min(height, int(hi[1]))])
    groups = [([i], box) for i, box in enumerate(boxes) if box[2] > box[0] and box[3] > box[1]]
    merged = True
    while merged:  # a few dozen boxes at most: merge pairs until none overlap
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                (ia, ba), (ib, bb) = groups[a], groups[b]
                if ba[0] < bb[2] and bb[0] < ba[2] and ba[1] < bb[3] and bb[1] < ba[3]:
                    box = [min(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]), max(ba[3], bb[3])]
                    groups[a] = (ia + ib, box)
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    return [(idx, tuple(box)) for idx, box in groups]


def render_in_windows(image: np.ndarray, K: np.ndarray, meshes: list, alpha: float) -> np.ndarray:
    """``image`` with camera-frame ``meshes`` rendered over it, each overlapping group in its own window."""
    from streamer.render.camera import PinholeCamera
    from streamer.render.mesh_renderer import render_meshes

    height, width = image.shape[:2]
    out = image.copy()
    for group, (x0, y0, x1, y1) in mesh_windows(K, meshes, width, height):
        shifted = K.copy()
        shifted[0, 2] -= x0  # the window's pixel (c, r) is the frame's (c + x0, r + y0)
        shifted[1, 2] -= y0
        camera = PinholeCamera(shifted, np.eye(3), np.zeros(3), x1 - x0, y1 - y0)
        window = np.ascontiguousarray(out[y0:y1, x0:x1])
        out[y0:y1, x0:x1] = render_meshes(camera, [meshes[i] for i in group], window, alpha=alpha).image
    return out


def draw_layers(packet: Packet, mesh: MeshLayer | None = None, skeletons: bool = True) -> np.ndarray:
    """The frame with every layer drawn (meshes, skeletons, boxes and ids, pitch lines, minimap and
    speeds; each when the packet has it): one copy of the frame (a 720p copy costs as much as a
    layer), the layers drawn into that copy in turn; the packet's own image is never changed."""
    image = packet.frame.image
    if mesh is not None:
        image = mesh(image, packet)  # a new image when it drew anything
    canvas = image.copy() if image is packet.frame.image else image
    if skeletons and packet.keypoints is not None and len(packet.keypoints):
        from streamer.pose.draw import draw_skeletons

        draw_skeletons(canvas, packet.keypoints, min_conf=0.3, out=canvas)
    draw_tracks(canvas, packet, out=canvas)
    if packet.calibration is not None or packet.metrics is not None:
        from streamer.soccer.overlay import draw_soccer_layer

        draw_soccer_layer(canvas, packet, out=canvas)
    return canvas


class OverlaySink:
    """Draws each packet and encodes it; frame timing follows the input."""

    name = "overlay"

    def __init__(self, path: str | Path, writer_kwargs: dict, *, meshes: bool = True, mesh_body: str = "convex",
                 mesh_alpha: float = 0.7, skeletons: bool = True, mesh_min_height_px: float = 0.0) -> None:
        self.writer = VideoWriter(path, **writer_kwargs)
        self.mesh = MeshLayer(mesh_body, mesh_alpha, min_height_px=mesh_min_height_px) if meshes else None
        self.skeletons = skeletons
        self._t0: float | None = None

    def draw(self, packet: Packet) -> np.ndarray:
        return draw_layers(packet, self.mesh, self.skeletons)

    def write(self, packet: Packet) -> None:
        frame = packet.frame
        if self._t0 is None:
            self._t0 = frame.time_s  # the overlay starts at 0 even after --start
        self.writer.write(self.draw(packet), frame.time_s - self._t0)

    def counts(self) -> dict[str, int]:
        return {"overlay_frames": self.writer.frames_written}

    def close(self) -> None:
        self.writer.close()

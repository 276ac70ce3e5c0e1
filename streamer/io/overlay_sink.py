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

#: box/label colour per team (0, 1, referee/other) and for an unknown team
#: mesh albedo per team; unknown = light grey
TEAM_MESH_RGB = {0: (205, 80, 80), 1: (90, 130, 215), 2: (220, 200, 60), -1: (200, 200, 200)}


def _teams(packet: Packet) -> dict[int, int]:
    metrics = packet.metrics
    if metrics is None:
        return {}
    return {int(t): int(team) for t, team in zip(metrics.track_id, metrics.team, strict=True)}


def draw_tracks(image: np.ndarray, packet: Packet) -> np.ndarray:
    """A copy of ``image`` with track boxes and ids drawn in team colours (the input when none)."""
    tracks = packet.tracks
    if tracks is None or len(tracks) == 0:
        return image
    import cv2  # only paid for when there is something to draw

    teams = _teams(packet)
    canvas = image.copy()
    for track_id, box in zip(tracks.track_id, tracks.xyxy_px, strict=True):
        colour = TEAM_RGB.get(teams.get(int(track_id), -1), TEAM_RGB[-1])
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 1, cv2.LINE_AA)
        cv2.putText(canvas, str(int(track_id)), (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    colour, 1, cv2.LINE_AA)
    return canvas


class MeshLayer:
    """Poses a light body model with each player's parameters and renders it over the frame.

    Args:
        body: ``convex`` (mannequin hulls, fastest), ``wooden`` (detailed mannequin) or
            ``smplx`` (the user's SMPL-X model; slow with many players).
        alpha: mesh opacity.
    """

    def __init__(self, body: str = "convex", alpha: float = 0.7, lod: int = 1) -> None:
        self.body_name, self.alpha, self.lod = body, alpha, lod
        self._model: Any = None

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

    def __call__(self, image: np.ndarray, packet: Packet) -> np.ndarray:
        body = packet.body
        if body is None or len(body) == 0:
            return image
        import torch

        from streamer.render.camera import PinholeCamera
        from streamer.render.mesh_renderer import MeshInstance, render_meshes

        model = self._body()
        with torch.no_grad():
            vertices = model(
                betas=torch.from_numpy(body.betas), global_orient=torch.from_numpy(body.global_orient),
                body_pose=torch.from_numpy(body.body_pose), transl=torch.from_numpy(body.transl),
            ).vertices.numpy()
        teams = _teams(packet)
        faces = np.asarray(model.faces)
        meshes = [
            MeshInstance(vertices[i].astype(np.float64), faces,
                         np.asarray(TEAM_MESH_RGB.get(teams.get(int(t), -1), TEAM_MESH_RGB[-1]), np.uint8), i + 1)
            for i, t in enumerate(body.track_id)
            if np.isfinite(vertices[i]).all() and (vertices[i][:, 2] > 0.1).all()
        ]
        height, width = image.shape[:2]
        camera = PinholeCamera(body.cam_K.astype(np.float64), np.eye(3), np.zeros(3), width, height)
        return render_meshes(camera, meshes, image, alpha=self.alpha).image


class OverlaySink:
    """Draws each packet and encodes it; frame timing follows the input."""

    name = "overlay"

    def __init__(self, path: str | Path, writer_kwargs: dict, *, meshes: bool = True, mesh_body: str = "convex",
                 mesh_alpha: float = 0.7, skeletons: bool = True) -> None:
        self.writer = VideoWriter(path, **writer_kwargs)
        self.mesh = MeshLayer(mesh_body, mesh_alpha) if meshes else None
        self.skeletons = skeletons
        self._t0: float | None = None

    def draw(self, packet: Packet) -> np.ndarray:
        image = packet.frame.image
        if self.mesh is not None:
            image = self.mesh(image, packet)
        if self.skeletons and packet.keypoints is not None and len(packet.keypoints):
            from streamer.pose.draw import draw_skeletons

            image = draw_skeletons(image, packet.keypoints, min_conf=0.3)
        image = draw_tracks(image, packet)
        if packet.calibration is not None or packet.metrics is not None:
            from streamer.soccer.overlay import draw_soccer_layer

            image = draw_soccer_layer(image, packet)
        return image

    def write(self, packet: Packet) -> None:
        frame = packet.frame
        if self._t0 is None:
            self._t0 = frame.time_s  # the overlay starts at 0 even after --start
        self.writer.write(self.draw(packet), frame.time_s - self._t0)

    def counts(self) -> dict[str, int]:
        return {"overlay_frames": self.writer.frames_written}

    def close(self) -> None:
        self.writer.close()

"""Synthetic broadcast clips with exact ground truth: the scene, the frame loop, the mp4 writer.

Shape legend: ``N`` people (players, then the referee); ``V`` / ``F`` body vertices / faces;
``H, W`` frame size.

Per frame: the camera for that instant renders the empty stadium (:mod:`.stadium`), body
shadows are blended onto the grass, the players (mannequin bodies posed through SMPL-X
``body_pose`` by the gait of :mod:`.gait`, placed along the paths of :mod:`.paths`, dressed
by :mod:`.kits`) are drawn by the project renderer, a slight blur gives broadcast softness,
then the score box and logo go on top. Everything derives from ``config.seed``: the same
config gives the same frames, byte for byte, and the same truth.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from streamer.body.mannequin_backend import MannequinBody
from streamer.body.skeleton import BODY_JOINT_NAMES, NUM_BETAS, NUM_BODY_JOINTS_WITH_ROOT
from streamer.errors import ConfigError
from streamer.render import MeshInstance, PinholeCamera, mask_boxes, render_meshes
from streamer.synth.broadcast import BroadcastRig, aim_path, zoom_path
from streamer.synth.gait import facing_orient, gait_pose
from streamer.synth.hud import draw_logo, draw_score_box
from streamer.synth.kits import face_colours, face_parts, pick_kits
from streamer.synth.paths import TEAM_REFEREE, simulate_people
from streamer.synth.stadium import build_stadium, goal_meshes, render_stadium
from streamer.synth.truth import ClipTruth, FrameTruth

#: instance ids of the goal frames (not people: removed from the truth mask)
_GOAL_ID = 10_000
_GOAL_RGB = np.array([240, 240, 240], np.uint8)
_SHADOW_ALPHA = 0.4
_SHADOW_POINTS = 4  # every 4th vertex outlines a shadow well enough at broadcast scale


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run torch on one thread for a moment: posing 23 small bodies gains nothing from more
    threads, and their OpenMP synchronisation costs tens of ms on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """What to generate.

    Attributes:
        width / height / fps / seconds: video format and length.
        n_players: players on the pitch, 10-22 (two teams, alternating).
        referee: add a referee (team 2).
        seed: every random choice derives from it.
        camera_height_m / camera_back_m: camera elevation and distance behind the near
            touchline; higher/farther = smaller players.
        focal_px: focal length at zoom 1; 0 = 1.4 x width (wide shot, players about 25-60 px at 720p).
        pan: the camera follows play; off = fixed on the halfway line.
        zoom: the focal length swings slowly by ±15 %.
        overlay: draw the score box and channel logo.
        ad_boards: advertising boards (else a plain wall) in front of the far stand.
        shadows: blend body shadows onto the grass.
        blur_sigma_px: Gaussian blur of the final frame (broadcast softness); 0 = sharp.
        mannequin_lod: convex mannequin level of detail, 0 (finest) .. 2 (fastest).
    """

    width: int = 1280
    height: int = 720
    fps: float = 25.0
    seconds: float = 8.0
    n_players: int = 22
    referee: bool = True
    seed: int = 0
    camera_height_m: float = 18.0
    camera_back_m: float = 40.0
    focal_px: float = 0.0
    pan: bool = True
    zoom: bool = False
    overlay: bool = True
    ad_boards: bool = True
    shadows: bool = True
    blur_sigma_px: float = 0.6
    mannequin_lod: int = 1

    def __post_init__(self) -> None:
        if not 10 <= self.n_players <= 22:
            raise ConfigError(f"n_players must be 10-22, got {self.n_players}")
        if self.width < 64 or self.height < 64:
            raise ConfigError(f"frame size must be at least 64x64, got {self.width}x{self.height}")
        if self.fps <= 0 or self.seconds <= 0:
            raise ConfigError(f"fps and seconds must be positive, got {self.fps} and {self.seconds}")
        if self.mannequin_lod not in (0, 1, 2):
            raise ConfigError(f"mannequin_lod must be 0, 1 or 2, got {self.mannequin_lod}")
        if self.camera_height_m <= 2 or self.camera_back_m < 0:
            raise ConfigError("the camera must stand above the pitch (height > 2 m) behind the near touchline")

    @property
    def n_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))


def draw_shadows(image: np.ndarray, camera: PinholeCamera, vertices: np.ndarray, sun_dir: np.ndarray) -> None:
    """Darken the grass under the sun-cast outline of each body, in place.

    Each body's vertices (N, V, 3) are pushed along ``sun_dir`` (toward the sun) onto the
    grass; the convex outline of their image is the shadow (a blob, as a broadcast shows it).
    """
    flat = vertices[:, ::_SHADOW_POINTS] - vertices[:, ::_SHADOW_POINTS, 2:3] / sun_dir[2] * sun_dir
    uv, depth = camera.project(flat)
    mask = np.zeros(image.shape[:2], np.uint8)
    for points, z in zip(uv, depth, strict=True):
        if (z > 0).all():
            hull = cv2.convexHull(np.round(points * 16 - 8).astype(np.int32))  # 4 fractional bits
            cv2.fillConvexPoly(mask, hull, 1, cv2.LINE_8, 4)
    shaded = mask > 0
    image[shaded] = (image[shaded] * (1.0 - _SHADOW_ALPHA)).astype(np.uint8)


class ClipGenerator:
    """Builds the scene of a clip once; :meth:`frame` renders any frame of it."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        rng = np.random.default_rng(config.seed)
        self.kits = pick_kits(rng)
        self.stadium = build_stadium(rng, ad_boards=config.ad_boards)
        self.goals = goal_meshes()
        self.people = simulate_people(rng, config.n_players, config.referee, config.n_frames, config.fps)
        self.rig = BroadcastRig.behind_touchline(config.width, config.height, height_m=config.camera_height_m,
                                                 back_m=config.camera_back_m, focal_px=config.focal_px)
        self.aim = aim_path(self.people.ball_m, config.fps, pan=config.pan)
        self.zoom = zoom_path(config.n_frames, config.fps, rng, zoom=config.zoom)
        n = len(self.people.team)
        self.track_id = np.arange(1, n + 1, dtype=np.int64)
        self.betas = np.zeros((n, NUM_BETAS), np.float32)
        self.betas[:, :2] = rng.normal(0.0, 0.8, (n, 2)).clip(-2, 2)  # height and build vary most
        self.betas[:, 2:] = rng.normal(0.0, 0.3, (n, NUM_BETAS - 2)).clip(-1, 1)
        self.body = MannequinBody("convex", lod=config.mannequin_lod)
        parts = face_parts(self.body)
        team_kit = {0: self.kits[0], 1: self.kits[1], TEAM_REFEREE: self.kits[2]}
        self.face_rgb = [face_colours(parts, team_kit[int(team)], rng) for team in self.people.team]
        elevation, azimuth = rng.uniform(np.deg2rad(35), np.deg2rad(60)), rng.uniform(0, 2 * np.pi)
        self.sun_dir = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                                 np.sin(elevation)])  # toward the sun, pitch frame
        self.score = (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
        self.clock_start_s = float(rng.uniform(60, 85 * 60))
        with _one_torch_thread():
            self.rest_pelvis = self.body.joints(betas=self.betas)[:, 0].numpy().astype(np.float64)  # (N, 3)

    def __len__(self) -> int:
        return self.config.n_frames

    def camera(self, index: int) -> PinholeCamera:
        return self.rig.camera(self.aim[index], self.zoom[index])

    def pose_bodies(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Bodies of frame ``index`` on the pitch.

        Returns:
            vertices (N, V, 3) and body joints (N, 22, 3), pitch frame (float64), and the SMPL-X
            body_pose (N, 21, 3), global_orient (N, 3), transl (N, 3) that produce them.
        """
        people = self.people
        body_pose = gait_pose(people.phase[index], people.speed_mps[index])
        orient = facing_orient(people.heading_rad[index])
        with _one_torch_thread():
            out = self.body(self.betas, orient, body_pose)
        vertices, joints = (a.astype(np.float64) for a in out.numpy())
        joints = joints[:, :NUM_BODY_JOINTS_WITH_ROOT]
        # pelvis over the path point, lowest vertex on the grass
        transl = np.concatenate([people.position_m[index] - joints[:, 0, :2],
                                 -vertices[..., 2].min(1, keepdims=True)], 1)
        vertices += transl[:, None]
        joints += transl[:, None]
        return vertices, joints, body_pose, orient, transl.astype(np.float32)

    def frame(self, index: int) -> tuple[np.ndarray, FrameTruth]:
        """(H, W, 3) uint8 RGB frame ``index`` and its ground truth."""
        config = self.config
        camera = self.camera(index)
        vertices, joints, body_pose, orient, transl = self.pose_bodies(index)
        image = render_stadium(self.stadium, camera)
        faces = self.body.faces
        if config.shadows:
            draw_shadows(image, camera, vertices, self.sun_dir)
        meshes = [MeshInstance(v, faces, rgb, int(i)) for v, rgb, i in zip(vertices, self.face_rgb, self.track_id,
                                                                           strict=True)]
        meshes += [MeshInstance(v, f, _GOAL_RGB, _GOAL_ID + k) for k, (v, f) in enumerate(self.goals)]
        result = render_meshes(camera, meshes, image, light_dir_cam=camera.R @ self.sun_dir)
        image = result.image
        n = len(self.track_id)
        if config.blur_sigma_px > 0:
            image = cv2.GaussianBlur(image, (0, 0), config.blur_sigma_px)
        instance = np.where(result.instance_id < _GOAL_ID, result.instance_id, 0)  # goal posts occlude
        overlays = np.zeros((0, 4), np.float32)
        if config.overlay:
            box = draw_score_box(image, self.kits[0], self.kits[1], self.score,
                                 self.clock_start_s + index / config.fps)
            logo = draw_logo(image)
            x0, y0, x1, y1 = box.astype(int)
            instance[y0:y1, x0:x1] = 0  # the opaque score box hides whoever is behind it
            overlays = np.stack([box, logo])
        visible_box, visible_px = mask_boxes(instance, self.track_id)
        with np.errstate(divide="ignore", invalid="ignore"):
            visibility = np.where(result.unoccluded_px[:n] > 0, visible_px / result.unoccluded_px[:n], 0.0)
        joints_cam = camera.to_camera(joints)
        joints_px, _ = camera.project(joints)
        cam_rot = Rotation.from_matrix(camera.R)
        orient_cam = (cam_rot * Rotation.from_rotvec(orient)).as_rotvec()
        pelvis = self.rest_pelvis
        transl_cam = (pelvis + transl) @ camera.R.T + camera.t - pelvis
        truth = FrameTruth(
            index=index, time_s=index / config.fps, track_id=self.track_id, team=self.people.team,
            xyxy_visible_px=visible_box, xyxy_full_px=result.xyxy_full_px[:n],
            visibility=visibility.astype(np.float32), visible_px=visible_px,
            joints_px=joints_px.astype(np.float32), joints_cam_m=joints_cam.astype(np.float32),
            joints_pitch_m=joints.astype(np.float32), betas=self.betas, body_pose=body_pose,
            global_orient_pitch=orient, transl_pitch=transl,
            global_orient_cam=orient_cam.astype(np.float32), transl_cam=transl_cam.astype(np.float32),
            cam_K=camera.K, cam_R=camera.R, cam_t=camera.t, homography=camera.ground_homography(),
            overlay_xyxy_px=overlays, instance_id=instance,
        )
        return image, truth

    def __iter__(self) -> Iterator[tuple[np.ndarray, FrameTruth]]:
        for index in range(len(self)):
            yield self.frame(index)

    def meta(self) -> dict:
        """JSON-able description of the clip for the truth file."""
        return {
            "config": dataclasses.asdict(self.config),
            "n_frames": len(self),
            "joint_names": list(BODY_JOINT_NAMES),
            "teams": {"0": self.kits[0].name, "1": self.kits[1].name, "2": self.kits[2].name},
            "kit_shirt_rgb": {"0": self.kits[0].shirt, "1": self.kits[1].shirt, "2": self.kits[2].shirt},
            "body_model": f"mannequin convex lod {self.config.mannequin_lod}",
            "frames": "pitch: x along touchlines, y to the far side, z up, origin centre spot (m); "
                      "camera: OpenCV x right, y down, z forward; X_cam = cam_R @ X_pitch + cam_t",
            "pixels": "continuous, pixel (c, r) spans [c, c+1) x [r, r+1); boxes on pixel edges",
        }


def generate(config: SynthConfig) -> Iterator[tuple[np.ndarray, FrameTruth]]:
    """Frames (H, W, 3) uint8 RGB and their :class:`FrameTruth`, in order."""
    yield from ClipGenerator(config)


def write_clip(path: str | os.PathLike[str], config: SynthConfig, *, keep_masks: bool = False) -> ClipTruth:
    """Render a clip to ``path`` (mp4) and its truth to ``<path stem>.truth.npz`` / ``.truth.json``.

    Args:
        keep_masks: also store the (T, H, W) instance masks in the npz (large).
    """
    from streamer.io.video_writer import VideoWriter

    path = Path(path)
    generator = ClipGenerator(config)
    frames = []
    writer = VideoWriter(path, fps=config.fps)
    try:
        for image, truth in generator:
            writer.write(image, truth.time_s)
            frames.append(truth if keep_masks else dataclasses.replace(truth, instance_id=np.zeros((0, 0), np.int32)))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    clip = ClipTruth.from_frames(frames, generator.meta(), keep_masks=keep_masks)
    clip.save(path.parent / (path.stem + ".truth"))
    return clip

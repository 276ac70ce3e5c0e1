"""The static scene behind the players: grass and pitch, stands with a crowd, ad boards, goals.

Shape legend: ``H, W`` frame size; ``h, w`` a texture's size.

Every surface is a textured plane in the pitch frame (see :mod:`streamer.synth.pitch`); a
plane maps to the image by a homography, so a frame is a few ``cv2.warpPerspective`` calls
painted back to front: fill colour, stands, ground, boards. Planes are cut into parts
where needed: parts reaching behind the camera are dropped (else their back-projection
paints a mirrored ghost), and each part is drawn from the mip level matching its texels
per pixel (else far lines break into dashes). The goal frames are meshes, drawn with the
players so they can hide them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.render.camera import PinholeCamera
from streamer.synth.pitch import GOAL_HEIGHT_M, GOAL_WIDTH_M, PITCH_LENGTH_M, GroundTexture, ground_texture

#: back wall / sky colour where no surface is drawn
FILL_RGB = (38, 40, 46)
_BOARD_HEIGHT_M = 0.9
_BOARD_WORDS = ("STREAMER", "SYNTH FC", "PITCHCAM", "GOALNET", "KICKOFF", "MATCHDAY", "TURF+", "OFFSIDE")
_BOARD_COLOURS = ((200, 30, 40), (20, 60, 160), (240, 200, 20), (230, 230, 230), (20, 140, 70), (230, 110, 20))


def _shift(dx: float) -> np.ndarray:
    return np.array([[1.0, 0, dx], [0, 1.0, dx], [0, 0, 1.0]])


#: mip levels kept per texture (each half the size of the one before)
_LEVELS = 4


@dataclass(frozen=True, slots=True, eq=False)
class TexturedPlane:
    """A rectangle in the pitch frame covered by an image, with its mip-map.

    Attributes:
        mips: (h / 2^k, w / 2^k, 3) uint8 RGB images, k = 0 .. levels - 1; level 0 is the texture.
        origin_m: (3,) pitch point at the texture's top-left corner.
        u_m: (3,) pitch-frame step of one level-0 texel to the right.
        v_m: (3,) pitch-frame step of one level-0 texel down.
    """

    mips: tuple[np.ndarray, ...]
    origin_m: np.ndarray
    u_m: np.ndarray
    v_m: np.ndarray

    @classmethod
    def from_image(cls, image: np.ndarray, origin_m: np.ndarray, u_m: np.ndarray, v_m: np.ndarray) -> TexturedPlane:
        """A plane with the mip-map of ``image`` (cropped to a multiple of 2^(levels - 1) texels)."""
        block = 1 << (_LEVELS - 1)
        h, w = image.shape[0] // block * block, image.shape[1] // block * block
        mips = [np.ascontiguousarray(image[:h, :w])]
        for _ in range(_LEVELS - 1):
            mips.append(cv2.resize(mips[-1], (mips[-1].shape[1] // 2, mips[-1].shape[0] // 2),
                                   interpolation=cv2.INTER_AREA))
        return cls(tuple(mips), np.asarray(origin_m, np.float64), np.asarray(u_m, np.float64),
                   np.asarray(v_m, np.float64))

    @property
    def image(self) -> np.ndarray:
        return self.mips[0]

    def homography(self, camera: PinholeCamera, level: int = 0) -> np.ndarray:
        """(3, 3) continuous texel (tx, ty, 1) of mip ``level`` → homogeneous image pixels."""
        scale = float(1 << level)
        columns = [camera.R @ self.u_m * scale, camera.R @ self.v_m * scale, camera.R @ self.origin_m + camera.t]
        return camera.K @ np.stack(columns, 1)


@dataclass(frozen=True, slots=True, eq=False)
class Stadium:
    """Surfaces drawn back to front; ``ground`` is also kept for its pitch→texel map."""

    planes: tuple[TexturedPlane, ...]
    ground: GroundTexture


def _ground_plane(texture: GroundTexture) -> TexturedPlane:
    step = 1.0 / texture.px_per_m
    return TexturedPlane.from_image(texture.image, np.array([texture.x_min_m, texture.y_max_m, 0.0]),
                                    np.array([step, 0.0, 0.0]), np.array([0.0, -step, 0.0]))


def crowd_texture(rng: np.random.Generator, width_m: float, depth_m: float, px_per_m: float = 6.0) -> np.ndarray:
    """(h, w, 3) uint8 seated spectators in rows, with empty stairways every 12 m."""
    w, h = int(width_m * px_per_m), int(depth_m * px_per_m)
    seats = np.array([[48, 52, 64], [70, 30, 34], [40, 44, 50]], np.float32)[rng.integers(0, 3)]
    people = np.array([[210, 180, 160], [150, 110, 90], [235, 235, 235], [30, 30, 34], [190, 50, 50],
                       [50, 80, 160], [220, 200, 80], [110, 110, 110]], np.float32)
    people = 0.55 * people + 0.45 * people.mean(1, keepdims=True)  # a crowd far away reads greyish
    # heads and shoulders: 2x2-texel blobs (about 0.3 m) on a half-resolution grid
    pick = rng.integers(0, len(people), (h // 2 + 1, w // 2 + 1))
    present = rng.random((h // 2 + 1, w // 2 + 1)) < 0.6
    blob = np.where(present[..., None], people[pick], seats)
    image = np.repeat(np.repeat(blob, 2, 0), 2, 1)[:h, :w]
    image *= rng.uniform(0.55, 0.85, (h, w, 1)).astype(np.float32)
    rows = (np.arange(h) / px_per_m) % 0.85 < 0.15
    image[rows] *= 0.55
    aisles = (np.arange(w) / px_per_m) % 14.0 < 1.0
    image[:, aisles] = 0.7 * np.array([110, 110, 112], np.float32) + 0.3 * image[:, aisles]
    return np.clip(image, 0, 255).astype(np.uint8)


def board_texture(rng: np.random.Generator, width_m: float, ads: bool, px_per_m: float = 32.0) -> np.ndarray:
    """(h, w, 3) uint8 advertising boards (coloured panels with words), or a plain wall."""
    w, h = int(width_m * px_per_m), int(_BOARD_HEIGHT_M * px_per_m)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = (30, 70, 45)
    if not ads:
        return image
    panel = int(6.0 * px_per_m)
    for x0 in range(0, w, panel):
        colour = _BOARD_COLOURS[rng.integers(0, len(_BOARD_COLOURS))]
        image[:, x0:x0 + panel] = colour
        text_colour = (20, 20, 20) if sum(colour) > 450 else (245, 245, 245)
        word = _BOARD_WORDS[rng.integers(0, len(_BOARD_WORDS))]
        cv2.putText(image, word, (x0 + int(0.4 * px_per_m), int(0.72 * h)), cv2.FONT_HERSHEY_DUPLEX,
                    h / 40.0, text_colour, max(1, h // 14), cv2.LINE_AA)
    return image


#: the 12 outward (counter-clockwise seen from outside) triangles of a box whose corner k
#: sits at (x, y, z) = bits (k & 1, k >> 1 & 1, k >> 2 & 1) of its min/max corners
_BOX_FACES = np.array([
    [0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6],  # z-, z+
    [0, 1, 4], [1, 5, 4], [2, 6, 3], [3, 6, 7],  # y-, y+
    [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5],  # x-, x+
])


def box_mesh(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (8, 3) and outward faces (12, 3) of the axis-aligned box from ``lo`` to ``hi``."""
    corners = np.array([[(k >> a) & 1 for a in range(3)] for k in range(8)], np.float64)
    return lo + corners * (np.asarray(hi) - lo), _BOX_FACES.copy()


def goal_meshes(post_m: float = 0.12) -> list[tuple[np.ndarray, np.ndarray]]:
    """Posts and crossbar of both goals (7.32 m x 2.44 m inside) as boxes on the goal lines."""
    parts = []
    half_gap, height = GOAL_WIDTH_M / 2, GOAL_HEIGHT_M
    for side in (-1.0, 1.0):
        x0 = side * PITCH_LENGTH_M / 2 + (0.0 if side > 0 else -post_m)
        x = np.array([x0, x0 + post_m])
        for y in (-half_gap - post_m, half_gap):
            parts.append(box_mesh(np.array([x[0], y, 0.0]), np.array([x[1], y + post_m, height + post_m])))
        parts.append(box_mesh(np.array([x[0], -half_gap, height]), np.array([x[1], half_gap, height + post_m])))
    return parts


def _stand(rng: np.random.Generator, front_left: np.ndarray, along: np.ndarray, back: np.ndarray,
           width_m: float, depth_m: float = 45.0, slope_deg: float = 30.0, px_per_m: float = 6.0) -> TexturedPlane:
    """An inclined stand: its front edge starts at ``front_left`` and runs ``width_m`` along
    ``along``; it rises away from the pitch in the horizontal direction ``back``."""
    slope = np.deg2rad(slope_deg)
    up_slope = np.cos(slope) * back + np.sin(slope) * np.array([0.0, 0.0, 1.0])
    return TexturedPlane.from_image(crowd_texture(rng, width_m, depth_m, px_per_m), front_left + depth_m * up_slope,
                                    along / px_per_m, -up_slope / px_per_m)


def _boards(rng: np.random.Generator, top_left: np.ndarray, along: np.ndarray, width_m: float, ads: bool,
            px_per_m: float = 32.0) -> TexturedPlane:
    return TexturedPlane.from_image(board_texture(rng, width_m, ads, px_per_m), top_left, along / px_per_m,
                                    np.array([0.0, 0.0, -1.0 / px_per_m]))


def build_stadium(rng: np.random.Generator, *, ad_boards: bool = True) -> Stadium:
    """Grass and pitch, stands beyond the far touchline and behind both goals, boards in front."""
    ground = ground_texture(rng)
    far_y = ground.y_max_m  # the far boards stand where the grass ends
    end_x = -ground.x_min_m  # grass reaches this far beyond the centre along x
    x_axis, y_axis = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    far_stand = _stand(rng, np.array([-end_x - 40.0, far_y + 0.5, 0.0]), x_axis, y_axis, 2 * end_x + 80.0)
    # stands behind the goals; texture left→right as seen from the pitch
    right_stand = _stand(rng, np.array([end_x, far_y, 0.0]), -y_axis, x_axis, 110.0)
    left_stand = _stand(rng, np.array([-end_x, far_y - 110.0, 0.0]), y_axis, -x_axis, 110.0)
    h, goal_board_x = _BOARD_HEIGHT_M, PITCH_LENGTH_M / 2 + 6.0
    boards = (
        _boards(rng, np.array([-75.0, far_y, h]), x_axis, 150.0, ad_boards),
        _boards(rng, np.array([goal_board_x, 40.0, h]), -y_axis, 80.0, ad_boards),
        _boards(rng, np.array([-goal_board_x, -40.0, h]), y_axis, 80.0, ad_boards),
    )
    return Stadium((far_stand, right_stand, left_stand, _ground_plane(ground), *boards), ground)


#: surface nearer than this (camera z, metres) is not drawn
_NEAR_M = 0.5
#: a plane is halved up to this many times (to leave the camera's back, or to pick finer mip levels)
_MAX_SPLITS = 5
#: split further when the minification across a part varies more than this factor
_MINIFICATION_SPREAD = 2.0


def _split(plane: TexturedPlane, rows: bool) -> tuple[TexturedPlane, TexturedPlane]:
    """Two halves of a plane, cut across its rows (``rows``) or its columns.

    The first half reaches one coarsest-level texel past the cut: warps leave out the last
    half texel of their source, so abutting halves would leave a one-pixel seam.
    """
    block = 1 << (len(plane.mips) - 1)
    h, w = plane.image.shape[:2]
    size = h if rows else w
    cut = max(block, size // 2 // block * block)
    end = min(size, cut + block)
    if rows:
        first = tuple(m[: end >> k] for k, m in enumerate(plane.mips))
        second = tuple(m[cut >> k:] for k, m in enumerate(plane.mips))
        shift = cut * plane.v_m
    else:
        first = tuple(m[:, : end >> k] for k, m in enumerate(plane.mips))
        second = tuple(m[:, cut >> k:] for k, m in enumerate(plane.mips))
        shift = cut * plane.u_m
    return (TexturedPlane(first, plane.origin_m, plane.u_m, plane.v_m),
            TexturedPlane(second, plane.origin_m + shift, plane.u_m, plane.v_m))


def _draw_plane(frame: np.ndarray, plane: TexturedPlane, camera: PinholeCamera, splits: int = _MAX_SPLITS) -> None:
    """Warp ``plane`` into ``frame`` in place, only over the box its corners project to.

    A plane wholly in front of the camera maps exactly by its homography. One that reaches
    behind it would also paint a mirrored ghost (its back-projection), so it is halved until
    each part is wholly in front (drawn) or not (dropped: it lies at the very edge of view).
    Each part is drawn from the mip level that matches its texels per pixel (no aliasing of
    far lines); a part whose near and far ends need very different levels is halved first.
    """
    h, w = plane.image.shape[:2]
    if h == 0 or w == 0:
        return
    corners_tx = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64)
    corners = plane.origin_m + corners_tx @ np.stack([plane.u_m, plane.v_m])
    depth = camera.to_camera(corners)[:, 2]
    if (depth <= _NEAR_M).all():
        return
    if (depth <= _NEAR_M).any():
        if splits > 0:
            for half in _split(plane, rows=h > w):
                _draw_plane(frame, half, camera, splits - 1)
        return
    uv, _ = camera.project(corners)
    # texels per pixel at each corner (top-left, top-right, bottom-left, bottom-right), the
    # worse of the two texture directions: one texel step along u and along v, projected
    steps = np.concatenate([corners + plane.u_m, corners + plane.v_m])
    step_uv, _ = camera.project(steps)
    px_per_texel = np.linalg.norm(step_uv - np.concatenate([uv, uv]), axis=1).reshape(2, 4)
    minification = 1.0 / np.maximum(px_per_texel.min(0), 1e-9)  # (4,)
    if splits > 0 and minification.max() > 1.5 and minification.max() / minification.min() > _MINIFICATION_SPREAD:
        across_rows = abs(np.log(minification[:2].mean() / minification[2:].mean()))
        across_cols = abs(np.log(minification[[0, 2]].mean() / minification[[1, 3]].mean()))
        for half in _split(plane, rows=across_rows >= across_cols):
            _draw_plane(frame, half, camera, splits - 1)
        return
    level = int(np.clip(np.floor(np.log2(max(minification.max(), 1.0))), 0, len(plane.mips) - 1))
    height, width = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(uv.min(0)), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(uv.max(0)), [width, height]).astype(int)
    if x1 <= x0 or y1 <= y0:
        return
    # cv2 puts pixel centres at integers, our continuous coordinates at +0.5; then move to the box
    matrix = _shift(-0.5) @ plane.homography(camera, level) @ _shift(0.5)
    matrix = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]]) @ matrix
    cv2.warpPerspective(plane.mips[level], matrix, (int(x1 - x0), int(y1 - y0)), dst=frame[y0:y1, x0:x1],
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)


def render_stadium(stadium: Stadium, camera: PinholeCamera) -> np.ndarray:
    """(H, W, 3) uint8 frame of the empty stadium seen by ``camera``."""
    frame = np.empty((camera.height, camera.width, 3), np.uint8)
    frame[:] = FILL_RGB
    for plane in stadium.planes:
        _draw_plane(frame, plane, camera)
    return frame

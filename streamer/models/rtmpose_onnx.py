"""RTMPose-style top-down keypoint models (SimCC heads) exported to ONNX, run with onnxruntime.

Shape legend: ``M`` crops, ``K`` keypoints, ``h, w`` the model's input rows and
columns (e.g. 256 × 192), ``r`` the SimCC split ratio (bins per input pixel, 2 for
RTMPose), ``Wx = w·r``, ``Wy = h·r``.

The layout RTMPose's exports use (mmdeploy, rtmlib): input (M, 3, h, w) float32 RGB
normalised with ImageNet mean and std on the 0-255 scale; outputs ``simcc_x``
(M, K, Wx) and ``simcc_y`` (M, K, Wy). A keypoint sits at the arg-max bin of each
axis, ``bin / r`` in the crop's pixel grid (OpenCV convention: pixel centres on
integers); its score is the smaller of the two maxima. Exports with a fixed batch
of 1 are run one crop at a time. ``K`` picks the layout: 17 COCO, 26 Halpe,
133 COCO-WholeBody.

The crop is the box padded by 1.25 and widened or heightened to w / h, as mmpose's
top-down pipeline does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streamer.errors import ConfigError, MissingDependencyError
from streamer.models.litert import default_threads
from streamer.pose.backend import PoseBatch
from streamer.pose.crop import apply_affine, aspect_rois, crop_to_image, warp_crops
from streamer.pose.layouts import get_layout, layout_for_count

MEAN_RGB = np.array([123.675, 116.28, 103.53], np.float32)
STD_RGB = np.array([58.395, 57.12, 57.375], np.float32)


def decode_simcc(
    simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max decoding of SimCC outputs.

    Args:
        simcc_x: (M, K, Wx). simcc_y: (M, K, Wy). split_ratio: bins per input pixel.

    Returns:
        xy_crop: (M, K, 2) float64 continuous crop pixels (pixel centres at +0.5).
        score: (M, K) float32 in [0, 1]: min of the two axis maxima, clipped (the heads
            are trained against unnormalised Gaussians whose peak is 1).
    """
    x_bin = simcc_x.argmax(axis=2)
    y_bin = simcc_y.argmax(axis=2)
    xy = np.stack([x_bin, y_bin], axis=2).astype(np.float64) / split_ratio + 0.5
    score = np.minimum(simcc_x.max(axis=2), simcc_y.max(axis=2))
    return xy, np.clip(score, 0.0, 1.0).astype(np.float32)


def normalise(crops: np.ndarray) -> np.ndarray:
    """(M, h, w, 3) uint8 RGB → (M, 3, h, w) float32, ImageNet mean/std on the 0-255 scale."""
    return np.ascontiguousarray(((crops.astype(np.float32) - MEAN_RGB) / STD_RGB).transpose(0, 3, 1, 2))


class RtmPoseOnnxBackend:
    """A user-supplied RTMPose ``.onnx`` file, batched over all crops of a window."""

    gives_world = False

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "cpu",
        threads: int = 0,
        batch_size: int = 8,
        padding: float = 1.25,
    ) -> None:
        if not model_path:
            raise ConfigError("keypoints.onnx.model: give the path of an RTMPose .onnx file "
                              "(backend onnx has no built-in model)")
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"keypoints.onnx.model: no such file {path}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependencyError("the onnx keypoint backend needs onnxruntime: "
                                         "pip install onnxruntime") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        providers = ["CPUExecutionProvider"]
        if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ConfigError(f"cannot load {path} with onnxruntime: {exc}".splitlines()[0]) from exc
        inputs = self.session.get_inputs()
        shape = inputs[0].shape if len(inputs) == 1 else []
        if len(shape) != 4 or shape[1] != 3 or not all(isinstance(v, int) for v in shape[2:]):
            raise ConfigError(f"{path}: expected one (N, 3, h, w) input with fixed h, w; got "
                              f"{[(i.name, i.shape) for i in inputs]}")
        self.input_name = inputs[0].name
        self.input_hw = (int(shape[2]), int(shape[3]))
        fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.batch_size = fixed_batch or max(1, int(batch_size))
        self.padding = float(padding)
        self.output_names, self.split_ratio, num_keypoints = self._probe(path, fixed_batch or 1)
        try:
            self.layout = layout_for_count(num_keypoints).name
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def _probe(self, path: Path, batch: int) -> tuple[list[str], float, int]:
        """Run one blank batch to learn the outputs' sizes (they are often symbolic in the file)."""
        h, w = self.input_hw
        outputs = self.session.get_outputs()
        if len(outputs) != 2:
            raise ConfigError(f"{path}: expected two SimCC outputs (simcc_x, simcc_y), got {len(outputs)}")
        names = [o.name for o in outputs]
        if "simcc_y" in names[0].lower() or "simcc_x" in names[1].lower():
            names.reverse()
        sx, sy = self.session.run(names, {self.input_name: np.zeros((batch, 3, h, w), np.float32)})
        if sx.ndim != 3 or sy.ndim != 3 or sx.shape[1] != sy.shape[1]:
            raise ConfigError(f"{path}: outputs {sx.shape} and {sy.shape} are not (N, K, bins) SimCC vectors")
        if h != w and sx.shape[2] * h != sy.shape[2] * w and sy.shape[2] * h == sx.shape[2] * w:
            names.reverse()  # positional order was y, x
            sx, sy = sy, sx
        ratio = sx.shape[2] / w
        if sx.shape[2] * h != sy.shape[2] * w or ratio <= 0:
            raise ConfigError(f"{path}: SimCC sizes {sx.shape[2]}, {sy.shape[2]} do not match "
                              f"the input {w}x{h}")
        return names, float(ratio), int(sx.shape[1])

    def rois(self, xyxy_px: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
        """(M, 2, 3) crop → image maps for the boxes."""
        h, w = self.input_hw
        center, size = aspect_rois(xyxy_px, self.padding, w / h)
        return crop_to_image(center, size, angle_rad, (w, h))

    def estimate(
        self,
        images: Sequence[np.ndarray],
        image_index: np.ndarray,
        xyxy_px: np.ndarray,
        angle_rad: np.ndarray,
    ) -> PoseBatch:
        """See :class:`streamer.pose.backend.PoseBackend`."""
        h, w = self.input_hw
        mats = self.rois(xyxy_px, angle_rad)
        crops = warp_crops(images, image_index, mats, (w, h))
        xs, ys = [], []
        for start in range(0, len(crops), self.batch_size):
            batch = normalise(crops[start:start + self.batch_size])
            sx, sy = self.session.run(self.output_names, {self.input_name: batch})
            xs.append(sx)
            ys.append(sy)
        if not xs:
            k = get_layout(self.layout).num_keypoints
            return PoseBatch(np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32),
                             np.zeros((0,), np.float32))
        xy_crop, conf = decode_simcc(np.concatenate(xs), np.concatenate(ys), self.split_ratio)
        xy_px = apply_affine(mats, xy_crop).astype(np.float32)
        return PoseBatch(xy_px, conf, conf.mean(axis=1).astype(np.float32))

"""Per-track Kalman filtering and RTS smoothing of SMPL-X parameters.

Modules, one concept each: ``rotations`` (quaternion manifold math), ``kalman``
(batched 2×2 Kalman/RTS algebra), ``params`` (settings), ``measurement`` (noise
model), ``state`` (per-track filter state and the forward step), ``rts`` (the
backward pass), ``smoother`` (hold/release orchestration), ``testing``
(synthetic gait and metrics for tests and benchmarks).
"""

from streamer.smoothing.params import SmoothingParams
from streamer.smoothing.smoother import Smoother

__all__ = ["Smoother", "SmoothingParams"]

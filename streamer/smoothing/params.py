"""Smoother settings: the ``smooth:`` config section in SI units, validated once.

The config speaks degrees and seconds (what a user can reason about); the
filter works in radians. Each knob's trade-off is documented on the field and
in ``streamer/configs/default.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from scipy.special import chdtri, ndtr

from streamer.errors import ConfigError

MODES: tuple[str, ...] = ("rts", "forward")


@dataclass(frozen=True, slots=True)
class SmoothingParams:
    """Noise model and bookkeeping of the per-track filter (SI units: radians, metres, seconds)."""

    #: "rts" = causal filter + fixed-lag RTS smoother (holds ``lag_s`` of frames);
    #: "forward" = causal filter only, no delay
    mode: str = "rts"
    #: future context each frame is smoothed with (rts only); longer = closer to a
    #: whole-clip smoother, more frames held in memory, later output
    lag_s: float = 0.5
    #: per-frame joint rotation noise (std) at confidence 1 and the reference box height
    rot_noise_rad: float = math.radians(5.0)
    #: angular acceleration noise density, q = rot_accel² · 1 s in rad²/s³, of the root; other
    #: joints scale it from ×0.5 (spine) to ×7.5 (knees), see ``state.JOINT_ACCEL_SCALE``
    rot_accel_rad_s2: float = math.radians(200.0)
    #: per-frame root translation noise (std) across the image (x, y) and in depth (z)
    transl_noise_m: float = 0.03
    depth_noise_m: float = 0.15
    #: root acceleration noise density: q = transl_accel² · 1 s, in m²/s³
    transl_accel_m_s2: float = 3.0
    #: per-frame noise (std) of each shape coefficient, and its drift per √second
    betas_noise: float = 0.2
    betas_drift_per_s: float = 0.01
    #: box height at which the noise values hold; noise scales with ref / height
    ref_box_height_px: float = 200.0
    #: per-frame rotation noise (std) of a joint placed by the keypoint model's 3D guess alone
    #: (a hidden limb, ``BodyParams.joint_world_only``), whatever the box size and confidence
    hidden_rot_noise_rad: float = math.radians(25.0)
    #: filter each joint's rotation relative to the camera (its body segment's orientation, what
    #: the keypoints measure) rather than relative to its parent: the fit's errors of a parent and
    #: a child rotation cancel along the chain, and filtered apart they no longer do
    segment_rotations: bool = True
    #: joints less confident than this carry no measurement this frame
    min_joint_conf: float = 0.05
    #: innovation beyond this many (1-D Gaussian) sigmas = outlier, ignored
    outlier_gate_sigma: float = 4.0
    #: a joint that stays an outlier this long is re-initialised at the measurement
    outlier_patience_s: float = 0.1
    #: a track unseen longer than this restarts from its next measurement (re-birth)
    gap_reset_s: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"config key 'smooth.mode' must be one of {', '.join(MODES)}; got {self.mode!r}")
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name not in ("mode", "segment_rotations") and not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f"smoothing parameter '{field.name}' must be a finite number >= 0, got {value}")
        for name in ("rot_noise_rad", "transl_noise_m", "depth_noise_m", "betas_noise", "ref_box_height_px",
                     "hidden_rot_noise_rad"):
            if getattr(self, name) <= 0.0:
                raise ConfigError(f"smoothing parameter '{name}' must be > 0")
        if self.outlier_gate_sigma <= 0.0:
            raise ConfigError("smoothing parameter 'outlier_gate_sigma' must be > 0")

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> SmoothingParams:
        """From the ``smooth:`` config section (degrees, seconds, metres)."""
        try:
            return cls(
                mode=str(section["mode"]),
                lag_s=float(section["lag_s"]),
                rot_noise_rad=math.radians(float(section["rot_noise_deg"])),
                rot_accel_rad_s2=math.radians(float(section["rot_accel_deg_s2"])),
                transl_noise_m=float(section["transl_noise_m"]),
                depth_noise_m=float(section["depth_noise_m"]),
                transl_accel_m_s2=float(section["transl_accel_m_s2"]),
                betas_noise=float(section["betas_noise"]),
                betas_drift_per_s=float(section["betas_drift_per_s"]),
                ref_box_height_px=float(section["ref_box_height_px"]),
                hidden_rot_noise_rad=math.radians(float(section["hidden_rot_noise_deg"])),
                segment_rotations=bool(section["segment_rotations"]),
                min_joint_conf=float(section["min_joint_conf"]),
                outlier_gate_sigma=float(section["outlier_gate_sigma"]),
                outlier_patience_s=float(section["outlier_patience_s"]),
                gap_reset_s=float(section["gap_reset_s"]),
            )
        except KeyError as exc:
            raise ConfigError(f"config section 'smooth' lacks key {exc.args[0]!r}") from exc

    def gate_sq(self, dof: int) -> float:
        """Squared Mahalanobis threshold for a ``dof``-dimensional innovation.

        The gate is given in 1-D sigmas; the threshold keeps the same tail
        probability for 3-D (a joint), 3-D (translation) and 10-D (shape) innovations.
        """
        tail = 2.0 * ndtr(-self.outlier_gate_sigma)
        return float(chdtri(dof, tail))

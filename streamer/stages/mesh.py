"""The ``mesh`` stage: SMPL-X parameters of every tracked player, one batched solve per window.

Reads ``packet.keypoints`` (backend ``fit``) or ``packet.tracks`` (``blade``) and fills ``packet.body`` with a
:class:`~streamer.records.BodyParams` per frame: one row per player the backend could fit,
in the order of the frame's keypoints, in the camera frame of ``cam_K``. Frames without
such players get an empty record.

Backends (``mesh.backend``):

* ``fit`` — CPU optimisation of the SMPL-X skeleton onto 2D keypoints and BlazePose's metric
  3D landmarks, with an anatomical pose prior and a per-track temporal term
  (:mod:`streamer.fitting`). Needs no weights; the body model is ``mesh.body_model``.

* ``blade`` — BLADE regresses SMPL-X from a crop of each tracked player (needs the ``detect``
  and ``track`` stages, the BLADE weights and the SMPL-X model; GPU advised), placed in the
  frame's camera by a focal/translation solve (:mod:`streamer.stages.mesh_blade`).

A backend is any object with ``name``, ``body_model`` and ``estimate(packets, cam_K) ->
list[BodyParams | None]`` (:class:`MeshBackend`), built by name in :func:`build_backend`.

Camera: ``cam_K`` per frame from :func:`streamer.fitting.camera.packet_intrinsics` — the
pitch calibration's intrinsics (``packet.calibration.cam_K``) when the ``calibrate`` stage
solved them, else ``mesh.focal_px``, else a ``mesh.default_hfov_deg`` field of view;
principal point at the image centre (never a crop's).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from streamer.config import in_range
from streamer.errors import ConfigError
from streamer.records import NUM_BETAS, NUM_BODY_JOINTS, BodyParams, Packet
from streamer.stages import StageContext

#: names ``mesh.backend`` accepts
BACKENDS = ("fit", "blade")
_BODY_MODELS = ("auto", "smplx", "mannequin")


class MeshBackend(Protocol):
    """What the mesh stage needs from a backend."""

    name: str
    #: the body model its parameters drive (``BodyParams.body_model``), e.g. "smplx"
    body_model: str

    def estimate(self, packets: Sequence[Packet], cam_K: Sequence[np.ndarray]) -> list[BodyParams | None]:
        """One record (or None: nobody fitted) per packet, in the camera of that packet's ``cam_K``."""
        ...


def empty_body(cam_K: np.ndarray, body_model: str = "") -> BodyParams:
    """A record with no rows."""
    return BodyParams(
        np.zeros((0,), np.int64), np.zeros((0, NUM_BETAS), np.float32), np.zeros((0, 3), np.float32),
        np.zeros((0, NUM_BODY_JOINTS, 3), np.float32), np.zeros((0, 3), np.float32),
        np.asarray(cam_K, np.float32), np.zeros((0, NUM_BODY_JOINTS + 1), np.float32),
        np.zeros((0, NUM_BODY_JOINTS + 1, 3), np.float32), body_model=body_model,
    )


class FitBackend:
    """Backend ``fit``: the keypoint fitter of :mod:`streamer.fitting` on each window."""

    name = "fit"

    def __init__(self, fitter: Any) -> None:
        self.fitter = fitter  # a streamer.fitting.KeypointFitter (imported lazily: torch)
        self.body_model = str(fitter.body.name)

    def estimate(self, packets: Sequence[Packet], cam_K: Sequence[np.ndarray]) -> list[BodyParams | None]:
        keypoints = []
        for packet in packets:
            if packet.keypoints is None:
                raise ConfigError("mesh backend 'fit' needs keypoints: put the 'keypoints' stage before "
                                  "'mesh' in pipeline.stages")
            keypoints.append(packet.keypoints)
        return self.fitter.fit(keypoints, cam_K, [p.frame.time_s for p in packets])


class MeshStage:
    """Packets → camera per frame → backend (one call per window) → ``packet.body``."""

    name = "mesh"
    uses = ("calibration",)  # its intrinsics, when calibrated
    fills = ("body",)

    def __init__(self, backend: MeshBackend, *, focal_px: float = 0.0, default_hfov_deg: float = 30.0
                 ) -> None:
        self.backend = backend
        # fit poses a body on the keypoints; blade crops the tracks' boxes itself
        self.reads = ("keypoints",) if backend.name == "fit" else ("tracks",)
        self.focal_px = float(focal_px)
        self.default_hfov_deg = float(default_hfov_deg)

    def process(self, packets: list[Packet]) -> list[Packet]:
        from streamer.fitting.camera import packet_intrinsics

        if not packets:
            return []
        cam_K = [packet_intrinsics(p, self.focal_px, self.default_hfov_deg) for p in packets]
        bodies = self.backend.estimate(packets, cam_K)
        return [p.replace(body=b if b is not None else empty_body(k, self.backend.body_model))
                for p, b, k in zip(packets, bodies, cam_K, strict=True)]

    def flush(self) -> list[Packet]:
        return []


_number = functools.partial(in_range, prefix="mesh")  # range-checked config numbers


def build_fit_backend(section: dict[str, Any]) -> FitBackend:
    """Backend ``fit`` from the ``mesh:`` config section."""
    from streamer.body import load_body_model
    from streamer.fitting import FitterSettings, FitWeights, KeypointFitter

    if section["body_model"] not in _BODY_MODELS:
        raise ConfigError(f"config key 'mesh.body_model' must be one of {', '.join(_BODY_MODELS)}; "
                          f"got {section['body_model']!r}")
    fit = section["fit"]
    body = load_body_model(section["body_model"], smplx_path=section["smplx_path"] or None)
    weights = FitWeights(
        iterations=int(_number(fit, "iterations", 0, 10_000, prefix="mesh.fit")),
        rotation_step_rad=_number(fit, "rotation_step_rad", 1e-4, 1.0, prefix="mesh.fit"),
        kp2d_noise=_number(fit, "kp2d_noise", 1e-4, 1.0, prefix="mesh.fit"),
        world_dir_noise=_number(fit, "world_dir_noise", 1e-3, 2.0, prefix="mesh.fit"),
        robust_sigmas=_number(fit, "robust_sigmas", 0.5, prefix="mesh.fit"),
        prior_weight=_number(fit, "prior_weight", 0.0, prefix="mesh.fit"),
        temporal_speed_m_s=_number(fit, "temporal_speed_m_s", 1e-3, prefix="mesh.fit"),
        temporal_root_speed_m_s=_number(fit, "temporal_root_speed_m_s", 1e-3, prefix="mesh.fit"),
        fit_betas=bool(fit["fit_betas"]),
        betas_std=_number(fit, "betas_std", 1e-3, prefix="mesh.fit"),
        betas_step_std=_number(fit, "betas_step_std", 1e-3, prefix="mesh.fit"),
    )
    settings = FitterSettings(
        min_conf=_number(fit, "min_conf", 0.0, 1.0, prefix="mesh.fit"),
        min_targets=int(_number(fit, "min_targets", 2, 1000, prefix="mesh.fit")),
        warm_start_max_age_s=_number(fit, "warm_start_max_age_s", 0.0, prefix="mesh.fit"),
        betas_rate=_number(fit, "betas_rate", 0.0, 1.0, prefix="mesh.fit"),
        max_residual=_number(fit, "max_residual", 0.0, prefix="mesh.fit"),
        threads=int(_number(section, "threads", 0, 1024)),
        hidden_world_conf=_number(fit, "hidden_world_conf", 0.0, 1.0, prefix="mesh.fit"),
        hidden_image_weight=_number(fit, "hidden_image_weight", 0.0, 1.0, prefix="mesh.fit"),
        hidden_temporal_weight=_number(fit, "hidden_temporal_weight", 0.0, 1.0, prefix="mesh.fit"),
    )
    return FitBackend(KeypointFitter(body, weights, settings))


def build_backend(section: dict[str, Any], context: StageContext) -> MeshBackend:
    """The backend ``mesh.backend`` names."""
    name = section["backend"]
    if name == "fit":
        return build_fit_backend(section)
    if name == "blade":
        from streamer.stages.mesh_blade import build_blade_backend

        return build_blade_backend(section, context.device)
    raise ConfigError(f"config key 'mesh.backend' must be one of {', '.join(BACKENDS)}; got {name!r}")


def build(config: dict[str, Any], context: StageContext) -> MeshStage:
    """Stage factory (registered as ``mesh``)."""
    section = config["mesh"]
    return MeshStage(build_backend(section, context), focal_px=_number(section, "focal_px", 0.0),
                     default_hfov_deg=_number(section, "default_hfov_deg", 1.0, 170.0))

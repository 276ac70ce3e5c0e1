"""Keypoints of a window of frames → SMPL-X parameters per player, with per-track memory.

Shape legend: ``F`` frames in the window; ``N`` usable player-frames across them; ``T``
targets of the layout; ``M`` tracks in the window.

:class:`KeypointFitter` turns each frame's :class:`~streamer.records.Keypoints` into one
batched :class:`~streamer.fitting.optimize.FitProblem` (initialised by
:mod:`streamer.fitting.init`), solves it, and splits the result into one
:class:`~streamer.records.BodyParams` per frame. Between windows it keeps, per track, the
last fitted frame (warm start, temporal term) and a running shape estimate that moves by
``betas_rate`` of the way towards each window's fit.

Metric 3D keypoints (``Keypoints.world_m``, BlazePose's world landmarks) come in a frame that
looks straight at the player; they are turned into the camera frame by the rotation from the
optical axis to the viewing ray through the player's hips (:func:`~streamer.fitting.camera.ray_rotation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from streamer.body.model import BodyModel
from streamer.body.skeleton import BODY_JOINT_NAMES, NUM_BETAS, SMPLX_PARENTS
from streamer.fitting.camera import ray_rotation
from streamer.fitting.confidence import evidence_confidence, joint_confidence, world_only_joints
from streamer.fitting.init import (
    IK_MIN_CONF,
    LIMBS,
    TORSO,
    axis_angle_to_matrix_np,
    flat_torso,
    initial_translation,
    limb_ik,
    matrix_to_axis_angle,
    torso_orientation,
)
from streamer.fitting.landmarks import model_landmarks
from streamer.fitting.optimize import FitProblem, FitResult, FitWeights, fit_problem
from streamer.fitting.priors import PosePrior, mean_pose
from streamer.fitting.skeleton import FitSkeleton
from streamer.fitting.targets import (
    TargetSpec,
    bone_confidence,
    bone_vectors,
    make_target_spec,
    player_scale_px,
)
from streamer.records import BodyParams, Keypoints

#: a typical standing person's size along the diagonal of his keypoints (m), for depth guesses
_PERSON_DIAG_M = 1.8
#: |cos| of the hips' left-right axis with the viewing ray from which a side counts as turned away
_SIDEWAYS_FULL = 0.5
_PARENTS = np.array(SMPLX_PARENTS[:len(BODY_JOINT_NAMES)])
_LIMB_NAMES = tuple(dict.fromkeys(n for limb in LIMBS for n in limb[:3]))
#: limb joints whose Gaussian prior eases where the 3D keypoints place their segments
PRIOR_EASED = tuple(f"{s}_{j}" for s in ("left", "right") for j in ("hip", "knee", "ankle", "shoulder", "elbow"))
_PRIOR_EASED_MASK = np.isin(np.array(BODY_JOINT_NAMES[1:]), PRIOR_EASED)
#: least share of the Gaussian prior an eased joint keeps
PRIOR_FLOOR = 0.1
#: 3D confidence of a joint's segment from which its prior is eased fully
PRIOR_FULL_CONF = 0.4


@dataclass(frozen=True, slots=True)
class FitterSettings:
    """What the fitter does around the optimisation (see ``mesh.fit`` in the default config).

    Attributes:
        min_conf: 2D keypoints below this confidence are ignored by the image terms and the
            target count; the 3D landmark terms weigh each keypoint by its unthresholded confidence.
        min_targets: players with fewer confident targets are not fitted (no output row).
        warm_start_max_age_s: a track's previous result older than this is forgotten.
        betas_rate: share of the way the running shape moves towards each window's fit.
        max_residual: a fit whose median 2D error (over the keypoints it used) exceeds this
            share of the player's size failed: it is left out of the output and the memory.
        threads: torch CPU threads during the optimisation (set around it, then restored);
            0 = torch's setting. Its tensors are small, so one thread wastes least on
            synchronisation, which on a shared CPU costs up to ten times the work itself.
        hidden_world_conf: confidence of a metric 3D keypoint (BlazePose world landmark)
            the keypoint model marks as not visible, on the side of the body turned away
            from the camera, inside the image, of a player whose torso it sees (times the
            torso's confidence): the model still places a hidden limb in 3D, and that is
            the best evidence there is for it (0 = hidden limbs follow the pose prior and
            the temporal term only).
        hidden_image_weight: share of its own confidence with which such a hidden keypoint's
            2D position counts in the image term though below ``min_conf`` (0 = not at all).
        hidden_temporal_weight: weight in the temporal term of a joint such a hidden limb's 3D
            guess places, relative to the seen joints' (see ``_temporal_weight``).
    """

    min_conf: float = 0.2
    min_targets: int = 6
    warm_start_max_age_s: float = 0.5
    betas_rate: float = 0.3
    max_residual: float = 0.15
    threads: int = 1
    hidden_world_conf: float = 0.5
    hidden_image_weight: float = 1.0
    hidden_temporal_weight: float = 1.0


@dataclass
class TrackState:
    """What the fitter remembers about one track between windows."""

    time_s: float
    global_orient: np.ndarray  # (3,)
    body_pose: np.ndarray  # (21, 3)
    joints_cam_m: np.ndarray  # (22, 3)
    betas: np.ndarray = field(default_factory=lambda: np.zeros(NUM_BETAS, np.float32))


@dataclass(frozen=True, slots=True, eq=False)
class _Batch:
    """Gathered inputs of the usable player-frames (numpy)."""

    frame: np.ndarray  # (N,) frame of each
    row: np.ndarray  # (N,) row in that frame's Keypoints
    track_id: np.ndarray  # (N,)
    time_s: np.ndarray  # (N,)
    K: np.ndarray  # (N, 3, 3)
    xy_px: np.ndarray  # (N, T, 2)
    conf: np.ndarray  # (N, T) zeroed below min_conf
    world_m: np.ndarray | None  # (N, T, 3) the keypoint model's metric 3D (viewing-ray frame), or None
    conf_raw: np.ndarray  # (N, T) the keypoint model's confidence, not thresholded (0 where not finite)


class KeypointFitter:
    """Stateful per-track fitter of SMPL-X bodies to keypoints (see the module docstring).

    Args:
        body: body model whose skeleton is fitted (any backend of :mod:`streamer.body`).
        weights: objective and optimiser settings.
        settings: pre/post-processing settings.
    """

    def __init__(self, body: BodyModel, weights: FitWeights | None = None,
                 settings: FitterSettings | None = None) -> None:
        self.body = body
        self.weights = weights or FitWeights()
        self.settings = settings or FitterSettings()
        self.tracks: dict[int, TrackState] = {}
        self._specs: dict[str, tuple[TargetSpec, FitSkeleton]] = {}
        self._landmarks: dict[str, int] | None = None
        self._clamp = PosePrior().clamp_

    def spec(self, layout: str) -> tuple[TargetSpec, FitSkeleton]:
        """Targets and skeleton for a keypoint layout (built once per layout)."""
        if layout not in self._specs:
            if self._landmarks is None:
                self._landmarks = model_landmarks(self.body)
            points = self.body.joint_names + tuple(self._landmarks)
            spec = make_target_spec(layout, points, BODY_JOINT_NAMES)
            self._specs[layout] = (spec, FitSkeleton(self.body, spec.extra_names, self._landmarks))
        return self._specs[layout]

    # -- gathering ------------------------------------------------------------------------

    def _gather(self, spec: TargetSpec, keypoints: Sequence[Keypoints], cam_K: Sequence[np.ndarray],
                time_s: Sequence[float]) -> _Batch:
        frames, rows, xy, conf, raw, world, K, times = [], [], [], [], [], [], [], []
        with_world = all(k.world_m is not None for k in keypoints if len(k))
        for f, (kp, k_mat, t) in enumerate(zip(keypoints, cam_K, time_s, strict=True)):
            if not len(kp):
                continue
            c = kp.conf[:, spec.keypoint_rows].astype(np.float32)
            p = kp.xy_px[:, spec.keypoint_rows].astype(np.float32)
            c_raw = np.where(np.isfinite(p).all(-1) & np.isfinite(c), c, 0.0)
            c = np.where(c_raw >= self.settings.min_conf, c_raw, 0.0)
            usable = np.flatnonzero((c > 0).sum(1) >= self.settings.min_targets)
            frames.append(np.full(len(usable), f))
            rows.append(usable)
            xy.append(np.nan_to_num(p[usable]))
            conf.append(c[usable])
            raw.append(c_raw[usable])
            K.append(np.broadcast_to(np.asarray(k_mat, np.float64), (len(usable), 3, 3)))
            times.append(np.full(len(usable), float(t)))
            if with_world:
                world.append(np.nan_to_num(kp.world_m[usable][:, spec.keypoint_rows].astype(np.float64)))
        cat = (lambda parts, shape: np.concatenate(parts) if parts else np.zeros(shape))  # noqa: E731
        t_count = spec.num_targets
        row = cat(rows, (0,)).astype(np.int64)
        frame = cat(frames, (0,)).astype(np.int64)
        track_id = np.array([keypoints[f].track_id[r] for f, r in zip(frame, row, strict=True)], np.int64)
        batch_world = cat(world, (0, t_count, 3)) if with_world else None
        return _Batch(frame, row, track_id, cat(times, (0,)), cat(K, (0, 3, 3)), cat(xy, (0, t_count, 2)),
                      cat(conf, (0, t_count)).astype(np.float32), batch_world,
                      cat(raw, (0, t_count)).astype(np.float32))

    def _world_conf(self, spec: TargetSpec, batch: _Batch, away: np.ndarray) -> np.ndarray:
        """(N, T) confidence of each metric 3D keypoint (zeros without them).

        A keypoint the model sees keeps its confidence. One it marks as hidden, on the side
        of the body turned away from the camera, inside the image, gets up to
        ``hidden_world_conf`` x the torso's confidence: hidden behind the body (the far leg of
        a side view) is not absent, and the model's 3D guess is the best evidence there is.
        How far a side is turned away comes from the 3D hips (``away``: :meth:`_turned_away`).
        A low confidence on the near side, or outside the image, is a keypoint the model
        got wrong, not one it could not see: it keeps its own confidence.
        """
        if batch.world_m is None:
            return np.zeros_like(batch.conf)
        torso = spec.rows_of(*TORSO)
        floor = np.zeros(len(batch.conf), np.float32)
        if (torso >= 0).all():
            floor = self.settings.hidden_world_conf * batch.conf[:, torso].mean(1)
        hidden = floor[:, None] * away
        return np.maximum(batch.conf_raw, hidden).astype(np.float32)

    def _turned_away(self, spec: TargetSpec, batch: _Batch) -> np.ndarray:
        """(N, T) share (0..1) by which each keypoint lies on the side of the body turned away
        from the camera, inside the image (0 without metric 3D keypoints).

        How far a side is turned away comes from the 3D hips (their left-right axis along the
        viewing ray): a full share from 30 degrees off the camera's view of the front or back.
        """
        away = np.zeros_like(batch.conf)
        hips = spec.rows_of("left_hip", "right_hip")
        if batch.world_m is None or not (hips >= 0).all():
            return away
        axis = batch.world_m[:, hips[0]] - batch.world_m[:, hips[1]]  # viewing-ray frame, z away from the camera
        along = axis[:, 2] / np.maximum(np.linalg.norm(axis, axis=1), 1e-6)  # > 0: left side farther
        share = np.clip(np.abs(along) / _SIDEWAYS_FULL, 0.0, 1.0)
        for side, sign in (("left", 1.0), ("right", -1.0)):
            cols = np.array([t for t, n in enumerate(spec.target_names) if n.startswith(f"{side}_")])
            away[:, cols] = np.where(sign * along > 0, share, 0.0)[:, None]
        size = 2.0 * batch.K[:, :2, 2]  # principal point at the image centre
        inside = ((batch.xy_px >= 0) & (batch.xy_px <= size[:, None])).all(-1)
        return away * inside

    def _image_weight(self, spec: TargetSpec, batch: _Batch, away: np.ndarray) -> np.ndarray:
        """(N, T) weight of each keypoint in the 2D term: confidence x target weight.

        A keypoint below ``min_conf`` counts only where the model marks it hidden on the side
        turned away from the camera (:meth:`_turned_away`) of a player whose torso it sees:
        there it keeps ``hidden_image_weight`` x its own confidence x the turned-away share.
        The model's 2D guess of a hidden limb is weak, but it pins two of the three
        coordinates its 3D guess leaves loose; below ``min_conf`` elsewhere a keypoint is
        wrong, not hidden, and stays out.
        """
        conf = batch.conf
        weight = self.settings.hidden_image_weight
        torso = spec.rows_of(*TORSO)
        if weight > 0.0 and (torso >= 0).all():
            seen = (batch.conf[:, torso] > 0).any(1)[:, None]
            hidden = weight * batch.conf_raw * away * seen
            conf = np.where(conf > 0, conf, hidden)
        return conf * spec.weight

    def _world_to_camera(self, spec: TargetSpec, batch: _Batch) -> np.ndarray | None:
        """(N, T, 3) metric 3D keypoints turned from the viewing-ray frame into camera axes."""
        if batch.world_m is None:
            return None
        weight = batch.conf[..., None]
        centre = (batch.xy_px * weight).sum(1) / np.maximum(weight.sum(1), 1e-6)
        hips = spec.rows_of("left_hip", "right_hip")
        if (hips >= 0).all():  # BlazePose's origin is between the hips: aim there when both are seen
            seen = (batch.conf[:, hips] > 0).all(1)
            centre[seen] = batch.xy_px[seen][:, hips].mean(1)
        rot = ray_rotation(centre, batch.K)
        return np.einsum("nij,ntj->nti", rot, batch.world_m)

    # -- the window ------------------------------------------------------------------------

    def fit(self, keypoints: Sequence[Keypoints], cam_K: Sequence[np.ndarray], time_s: Sequence[float]
            ) -> list[BodyParams | None]:
        """Fit every usable player of a window of frames (oldest first).

        Args:
            keypoints: (F,) one record per frame, all of one layout.
            cam_K: (F,) (3, 3) intrinsics per frame.
            time_s: (F,) frame times in seconds.

        Returns:
            (F,) one :class:`BodyParams` per frame (rows: the players with enough keypoints
            whose fit did not fail, in the order of that frame's keypoints), or None for a
            frame without any.
        """
        layouts = {k.layout for k in keypoints if len(k)}
        if not layouts:
            return [None] * len(keypoints)
        if len(layouts) > 1:
            raise ValueError(f"one window mixes keypoint layouts {sorted(layouts)}")
        spec, skeleton = self.spec(layouts.pop())
        # the whole fit on settings.threads, its initial guesses (posing every player-frame) too:
        # torch's default pool of two on a busy 2-core machine made them cost as much as a third
        # of the optimisation (a run sets pipeline.torch_threads for everything anyway)
        previous = torch.get_num_threads()
        if self.settings.threads > 0:
            torch.set_num_threads(self.settings.threads)
        try:
            batch = self._gather(spec, keypoints, cam_K, time_s)
            if len(batch.row) == 0:
                return [None] * len(keypoints)
            away = self._turned_away(spec, batch)  # shared by the 3D and the 2D terms' hidden keypoints
            conf3d = self._world_conf(spec, batch, away)
            problem, tracks = self._problem(spec, skeleton, batch, conf3d, away)
            result = fit_problem(skeleton, problem, self.weights)
            ok = median_residual(result.residual2d, batch.conf) <= self.settings.max_residual
            self._remember(batch, tracks, result, ok)
            return self._split(spec, batch, result, ok, keypoints, cam_K, conf3d)
        finally:
            torch.set_num_threads(previous)

    def _problem(self, spec: TargetSpec, skeleton: FitSkeleton, batch: _Batch, conf3d: np.ndarray,
                 away: np.ndarray) -> tuple[FitProblem, np.ndarray]:
        n = len(batch.row)
        tracks, track_of = np.unique(batch.track_id, return_inverse=True)
        state = [self._state(int(t), float(batch.time_s[batch.track_id == t].min())) for t in tracks]
        betas_prior = np.stack([s.betas if s is not None else np.zeros(NUM_BETAS, np.float32) for s in state])
        betas = betas_prior[track_of]
        # previous player-frame of the same track in the window
        order = np.lexsort((batch.time_s, batch.track_id))
        prev = np.full(n, -1, np.int64)
        same = batch.track_id[order[1:]] == batch.track_id[order[:-1]]
        prev[order[1:][same]] = order[:-1][same]
        warm = [state[k] for k in track_of]
        prev_joints = np.full((n, 22, 3), np.nan, np.float32)
        prev_dt = np.full(n, np.inf)
        for i in range(n):
            if prev[i] >= 0:
                prev_dt[i] = batch.time_s[i] - batch.time_s[prev[i]]
            elif warm[i] is not None:
                prev_joints[i] = warm[i].joints_cam_m
                prev_dt[i] = batch.time_s[i] - warm[i].time_s
        world_cam = self._world_to_camera(spec, batch)
        go, pose = self._initial_rotations(spec, skeleton, batch, betas, world_cam, conf3d, warm)
        transl = self._initial_translation(spec, skeleton, batch, betas, go, pose, world_cam is not None,
                                           [w is not None for w in warm])
        weight2d = self._image_weight(spec, batch, away)
        if world_cam is not None:
            vec = bone_vectors(world_cam, spec.bone_coeff)
            length = np.linalg.norm(vec, axis=-1, keepdims=True)
            bone_dir = vec / np.maximum(length, 1e-6)
            bone_w = bone_confidence(conf3d, spec.bone_coeff) * (length[..., 0] > 1e-3)
        else:
            bone_dir = np.zeros((n, len(spec.bone_coeff), 3))
            bone_w = np.zeros((n, len(spec.bone_coeff)))
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        i64 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.int64)  # noqa: E731
        index = [skeleton.index(p) for p in spec.point_names]
        problem = FitProblem(
            K=f32(batch.K), xy_px=f32(batch.xy_px), weight2d=f32(weight2d),
            scale_px=f32(player_scale_px(batch.xy_px, batch.conf)), bone_dir=f32(bone_dir),
            bone_weight=f32(bone_w), bone_coeff=f32(spec.bone_coeff), point_index=i64(index),
            global_orient=f32(go), body_pose=f32(pose), transl=f32(transl), track_of=i64(track_of),
            betas_init=f32(betas_prior), betas_prior=f32(betas_prior),
            betas_known=f32([s is not None for s in state]), prev=i64(prev),
            prev_joints=f32(prev_joints), prev_dt_s=f32(prev_dt),
            prior_scale=f32(prior_scale(spec, batch.conf, conf3d)),
            temporal_weight=f32(self._temporal_weight(spec, batch, conf3d)),
        )
        return problem, tracks

    def _temporal_weight(self, spec: TargetSpec, batch: _Batch, conf3d: np.ndarray) -> np.ndarray:
        """(N, 22) weight of each joint in the temporal term: ``hidden_temporal_weight`` for a joint
        a hidden limb's 3D guess places (its own rotation or its parent's is world-only, see
        :func:`~streamer.fitting.confidence.world_only_joints`), 1 elsewhere.

        That guess is noisy frame to frame: the temporal term averages it, and makes a hidden
        knee lag its swing, an error the smoother can no longer average away. On generated
        clips 0.25 made smoothed walkers' and runners' hidden joints 2-10 % better and raw
        squats' 13-17 % worse (seeds 0-2), so the default stays 1.
        """
        weight = np.ones((len(batch.conf), len(BODY_JOINT_NAMES)), np.float32)
        if batch.world_m is None:
            return weight
        only = world_only_joints(spec, conf3d, batch.conf_raw)
        placed = only.copy()
        placed[:, 1:] |= only[:, _PARENTS[1:]]
        return np.where(placed, np.float32(self.settings.hidden_temporal_weight), weight)

    def _state(self, track_id: int, time_s: float) -> TrackState | None:
        seen = self.tracks.get(track_id)
        if seen is None or not 0.0 < time_s - seen.time_s <= self.settings.warm_start_max_age_s:
            return None
        return seen

    def _initial_rotations(self, spec: TargetSpec, skeleton: FitSkeleton, batch: _Batch, betas: np.ndarray,
                           world_cam: np.ndarray | None, conf3d: np.ndarray, warm: list[TrackState | None]
                           ) -> tuple[np.ndarray, np.ndarray]:
        n = len(batch.row)
        torso = spec.rows_of(*TORSO)
        pose = mean_pose(n)
        rot = np.tile(np.eye(3), (n, 1, 1))
        have_warm = np.array([w is not None for w in warm])
        for i in np.flatnonzero(have_warm):
            pose[i] = warm[i].body_pose
        if (torso >= 0).all():
            conf = batch.conf[:, torso]
            if world_cam is not None:
                rot = torso_orientation(skeleton, betas, world_cam[:, torso], conf)
                solved = (conf > 0).sum(1) >= 3
            else:
                px_to_m = _PERSON_DIAG_M / player_scale_px(batch.xy_px, batch.conf)
                rot = torso_orientation(skeleton, betas, flat_torso(batch.xy_px[:, torso], px_to_m), conf)
                solved = ((conf > 0).sum(1) >= 3) & ~have_warm
        else:
            solved = np.zeros(n, bool)
        for i in np.flatnonzero(~solved & have_warm):
            rot[i] = axis_angle_to_matrix_np(warm[i].global_orient)
        # a body with no torso and no history: upright, facing the camera
        rot[~solved & ~have_warm] = np.diag([1.0, -1.0, -1.0])
        go = matrix_to_axis_angle(rot).astype(np.float32)
        if world_cam is not None:
            rows = spec.rows_of(*_LIMB_NAMES)
            joints = {name: world_cam[:, r] for name, r in zip(_LIMB_NAMES, rows, strict=True) if r >= 0}
            confs = {name: conf3d[:, r] for name, r in zip(_LIMB_NAMES, rows, strict=True) if r >= 0}
            pose = limb_ik(skeleton, betas, go, pose, joints, confs)
        self._clamp(torch.from_numpy(pose))
        return go, pose

    def _initial_translation(self, spec: TargetSpec, skeleton: FitSkeleton, batch: _Batch, betas: np.ndarray,
                             go: np.ndarray, pose: np.ndarray, limbs_set: bool, warm: list[bool]
                             ) -> np.ndarray:
        weight = batch.conf * spec.weight
        core = np.isin(np.array(spec.target_names), [*TORSO, "nose", "left_ear", "right_ear"])[None]
        if limbs_set:  # the inverse kinematics aimed the limbs whose points are this confident
            weight = np.where(core | (batch.conf >= IK_MIN_CONF), weight, 0.0)
        else:  # cold limbs are the prior's guess: place the body by its torso and head
            weight = np.where(np.array(warm)[:, None] | core, weight, 0.0)
        transl = initial_translation(skeleton, spec, betas, go, pose, batch.xy_px, weight, batch.K)
        bad = ~np.isfinite(transl).all(1)
        if bad.any():  # too few points: the pelvis on the keypoints' centroid at a size-based depth
            w = np.maximum(batch.conf[bad], 1e-6)
            centre = (batch.xy_px[bad] * w[..., None]).sum(1) / w.sum(1)[:, None]
            K = batch.K[bad]
            depth = K[:, 0, 0] * _PERSON_DIAG_M / player_scale_px(batch.xy_px[bad], batch.conf[bad])
            ray = np.stack([(centre[:, 0] - K[:, 0, 2]) / K[:, 0, 0],
                            (centre[:, 1] - K[:, 1, 2]) / K[:, 1, 1], np.ones(len(centre))], 1)
            transl[bad] = ray * depth[:, None] - skeleton.rest_base[0].numpy()
        return transl

    # -- output and memory -------------------------------------------------------------------

    def _remember(self, batch: _Batch, tracks: np.ndarray, result: FitResult, ok: np.ndarray) -> None:
        rate = self.settings.betas_rate
        latest: dict[int, int] = {}
        for i, (tid, t) in enumerate(zip(batch.track_id.tolist(), batch.time_s.tolist(), strict=True)):
            if ok[i] and (tid not in latest or t >= batch.time_s[latest[tid]]):
                latest[tid] = i
        for k, tid in enumerate(tracks.tolist()):
            if tid not in latest:  # every fit of the track failed: keep what we knew
                continue
            i = latest[tid]
            old = self.tracks.get(tid)
            fitted = result.track_betas[k]
            running = fitted if old is None else old.betas + rate * (fitted - old.betas)
            self.tracks[tid] = TrackState(
                float(batch.time_s[i]), result.global_orient[i], result.body_pose[i], result.joints_cam_m[i],
                running.astype(np.float32))
        now = float(batch.time_s.max())
        for tid in [t for t, s in self.tracks.items() if now - s.time_s > self.settings.warm_start_max_age_s]:
            del self.tracks[tid]

    def _split(self, spec: TargetSpec, batch: _Batch, result: FitResult, ok: np.ndarray,
               keypoints: Sequence[Keypoints], cam_K: Sequence[np.ndarray], conf3d: np.ndarray
               ) -> list[BodyParams | None]:
        world = conf3d if batch.world_m is not None else None
        conf = joint_confidence(spec, batch.conf, world)
        world_only = (np.zeros(conf.shape, bool) if world is None
                      else world_only_joints(spec, world, batch.conf_raw))
        out: list[BodyParams | None] = []
        for f in range(len(keypoints)):
            sel = np.flatnonzero((batch.frame == f) & ok)
            if not len(sel):
                out.append(None)
                continue
            out.append(BodyParams(
                track_id=batch.track_id[sel], betas=result.betas[sel],
                global_orient=result.global_orient[sel], body_pose=result.body_pose[sel],
                transl=result.transl[sel], cam_K=np.asarray(cam_K[f], np.float32), joint_conf=conf[sel],
                joints_cam_m=result.joints_cam_m[sel], body_model=self.body.name,
                joint_world_only=world_only[sel],
            ))
        return out

    def reset(self) -> None:
        """Forget every track."""
        self.tracks.clear()


def prior_scale(spec: TargetSpec, conf2d: np.ndarray, conf3d: np.ndarray) -> np.ndarray:
    """(N, 21) weight of each body_pose joint's Gaussian prior from (N, T) 2D and 3D keypoint confidences.

    Where the 3D keypoints place a limb joint's segment (:data:`PRIOR_EASED`) that the 2D
    ones do not (a hidden limb), by ``c`` = 3D minus 2D confidence of the joint, the joint
    keeps ``1 - (1 - PRIOR_FLOOR) * min(c / PRIOR_FULL_CONF, 1)`` of its prior: the 3D guess
    replaces the missing 2D, which alone outweighs the prior. Seen limbs and all other
    joints keep the whole prior.
    """
    conf = np.clip(evidence_confidence(spec, conf3d) - evidence_confidence(spec, conf2d), 0.0, 1.0)[:, 1:]
    scale = 1.0 - (1.0 - PRIOR_FLOOR) * np.clip(conf / PRIOR_FULL_CONF, 0.0, 1.0)
    return np.where(_PRIOR_EASED_MASK[None], scale, 1.0).astype(np.float32)


def median_residual(residual: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """(N,) median of each row's (N, T) residuals over the targets with confidence > 0."""
    masked = np.where(conf > 0, residual, np.nan)
    has = (conf > 0).any(1)
    out = np.full(len(residual), np.inf)
    out[has] = np.nanmedian(masked[has], axis=1)
    return out

"""One batched optimisation over every player-frame of a window: the objective and the loop.

Shape legend: ``N`` player-frames; ``M`` tracks among them; ``T`` targets; ``D`` bone
directions; ``B`` = 22 body joints.

Unknowns: ``global_orient`` (N, 3), ``body_pose`` (N, 21, 3) and ``transl`` (N, 3) per
player-frame, ``betas`` (M, 10) per track. Every term is a squared residual in units of its
own noise level (so the weights are standard deviations with a meaning, set in
:class:`FitWeights`):

* 2D: ``|project(point) - keypoint| / (kp2d_noise * player size)``, times the keypoint's
  confidence and target weight, through Geman-McClure (``c^2 e^2 / (c^2 + e^2)``, ``c`` =
  ``robust_sigmas``) so a wrong keypoint costs at most ``c^2``;
* 3D: ``|unit model bone - unit measured bone| / world_dir_noise``, same weighting, robust;
* pose prior (:class:`~streamer.fitting.priors.PosePrior`): Gaussian + range hinges; the
  Gaussian's share of each limb joint shrinks where the 3D keypoints place its segment
  (``FitProblem.prior_scale``): it is there for what nothing measures, and pulling a deep
  squat's hidden knee toward a relaxed stance is what it must not do;
* shape: ``betas / betas_std`` (towards the mean body) and ``(betas - previous) /
  betas_step_std`` (towards the track's running estimate, so the shape changes slowly);
* temporal, between consecutive frames of a track (and against the track's last result from
  the previous window): the joints' displacement relative to the pelvis divided by
  ``temporal_speed_m_s * dt`` (a joint moving that fast costs one unit), and the pelvis's own
  displacement divided by ``temporal_root_speed_m_s * dt``. Kept apart because the depth of
  a far player is known to metres only (it comes from his apparent size): tied to the pose,
  its frame-to-frame noise would bend the limbs.

Translation is optimised as a lateral offset in metres at the initial depth and a log-depth
change (``transl = (t0_xy + d_xy, t0_z) * exp(d_z)``): the image position then stays put
while the depth scales, and one learning rate suits every player however far away.
Adam with a step that ramps up over ``warmup_iterations`` (Adam's first steps move every
unknown by about the full step, which would throw a good initial guess away) and then decays
along a cosine; the initialisation (:mod:`streamer.fitting.init`) is close enough that a few
dozen iterations converge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from streamer.body.skeleton import NUM_BODY_JOINTS_WITH_ROOT
from streamer.fitting.camera import project
from streamer.fitting.priors import PosePrior
from streamer.fitting.skeleton import FitSkeleton


@dataclass(frozen=True, slots=True)
class FitWeights:
    """Noise levels and optimiser settings (see the module docstring).

    Attributes:
        iterations: Adam steps per window (cost is linear in them).
        rotation_step_rad / transl_step / betas_step: peak step sizes of the joint rotations
            (radians), of the translation (metres sideways, log-depth) and of the shape.
        kp2d_noise: expected 2D keypoint error as a share of the player's size.
        robust_sigmas: residuals beyond this many expected errors count less and less.
        world_dir_noise: expected error of a measured 3D unit bone direction.
        limit_std_rad: steepness of the joint-range hinges (see :class:`PosePrior`).
        prior_weight: weight of the Gaussian pose prior.
        betas_std / betas_step_std: shape prior around the mean body / the running estimate.
        temporal_speed_m_s / temporal_root_speed_m_s: joint speed relative to the pelvis /
            pelvis speed that costs one unit between consecutive frames.
        fit_betas: optimise the shape (else it stays at the running estimate).
        warmup_iterations: steps over which the step size ramps up to its peak.
    """

    iterations: int = 40
    rotation_step_rad: float = 0.12
    transl_step: float = 0.02
    betas_step: float = 0.05
    kp2d_noise: float = 0.015
    robust_sigmas: float = 4.0
    world_dir_noise: float = 0.15
    limit_std_rad: float = 0.05
    prior_weight: float = 1.0
    betas_std: float = 1.5
    betas_step_std: float = 0.3
    temporal_speed_m_s: float = 4.0
    temporal_root_speed_m_s: float = 10.0
    fit_betas: bool = True
    warmup_iterations: int = 5


@dataclass(frozen=True, slots=True, eq=False)
class FitProblem:
    """Everything one window's fit needs, as float32 tensors (int64 for indices).

    Attributes:
        K: (N, 3, 3) intrinsics of each player-frame's frame.
        xy_px: (N, T, 2) keypoints. weight2d: (N, T) confidence x target weight (0 = unused).
        scale_px: (N,) player size in pixels.
        bone_dir: (N, D, 3) measured unit bone directions, camera axes. bone_weight: (N, D).
        bone_coeff: (D, T) bone vectors as combinations of targets.
        point_index: (T,) the skeleton point fitted to each target.
        global_orient / body_pose / transl: (N, 3) / (N, 21, 3) / (N, 3) initial values.
        track_of: (N,) row of ``betas_init`` each player-frame uses.
        betas_init / betas_prior: (M, 10) start and running estimate of each track's shape.
        betas_known: (M,) 1.0 where the track has a running estimate (new tracks: 0, free).
        prev: (N,) index of the same track's previous player-frame in the window, -1 if none.
        prev_joints: (N, 22, 3) the track's last joints before the window (NaN if unknown).
        prev_dt_s: (N,) seconds back to whichever previous frame applies (inf if none).
        prior_scale: (N, 21) weight of each joint's Gaussian pose prior, or None (all 1): limb
            joints whose segments the metric 3D keypoints place need less of the prior's pull.
        temporal_weight: (N, 22) weight of each joint in the temporal term, or None (all 1).
    """

    K: torch.Tensor
    xy_px: torch.Tensor
    weight2d: torch.Tensor
    scale_px: torch.Tensor
    bone_dir: torch.Tensor
    bone_weight: torch.Tensor
    bone_coeff: torch.Tensor
    point_index: torch.Tensor
    global_orient: torch.Tensor
    body_pose: torch.Tensor
    transl: torch.Tensor
    track_of: torch.Tensor
    betas_init: torch.Tensor
    betas_prior: torch.Tensor
    betas_known: torch.Tensor
    prev: torch.Tensor
    prev_joints: torch.Tensor
    prev_dt_s: torch.Tensor
    prior_scale: torch.Tensor | None = None
    temporal_weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.xy_px.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class FitResult:
    """Fitted parameters (numpy float32) and per-player diagnostics.

    Attributes:
        global_orient: (N, 3). body_pose: (N, 21, 3). transl: (N, 3). betas: (N, 10).
        track_betas: (M, 10). joints_cam_m: (N, 22, 3) body joints, camera frame.
        residual2d: (N, T) final 2D error of each target in units of the player size.
        loss: (N,) final objective of each player-frame (shape and temporal terms excluded).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    track_betas: np.ndarray
    joints_cam_m: np.ndarray
    residual2d: np.ndarray
    loss: np.ndarray


def geman_mcclure(e2: torch.Tensor, c: float) -> torch.Tensor:
    """Robust cost of squared standardised residuals: ~e2 when small, at most ``c**2``."""
    c2 = c * c
    return c2 * e2 / (c2 + e2)


class Objective:
    """The window's objective as a function of the unknowns (tensors captured once)."""

    def __init__(self, skeleton: FitSkeleton, problem: FitProblem, weights: FitWeights) -> None:
        self.skeleton, self.p, self.w = skeleton, problem, weights
        self.prior = PosePrior(weights.limit_std_rad)
        self.inv2d = 1.0 / (weights.kp2d_noise * problem.scale_px)[:, None]  # (N, 1)
        self.has_prev = problem.prev >= 0
        self.prev_safe = problem.prev.clamp(min=0)
        dt = problem.prev_dt_s.clamp(min=1e-3)
        finite = torch.isfinite(dt)
        zero = torch.zeros_like(dt)
        self.inv_temporal = torch.where(finite, 1.0 / (weights.temporal_speed_m_s * dt), zero)
        self.inv_root = torch.where(finite, 1.0 / (weights.temporal_root_speed_m_s * dt), zero)
        self.has_state = torch.isfinite(problem.prev_joints).all(-1).all(-1) & ~self.has_prev
        state = torch.nan_to_num(problem.prev_joints)
        self.state_root, self.state_local = state[:, :1], state - state[:, :1]

    def transl(self, delta: torch.Tensor) -> torch.Tensor:
        scale = torch.exp(delta[:, 2:])
        t0 = self.p.transl
        return torch.cat([t0[:, :2] + delta[:, :2], t0[:, 2:]], 1) * scale

    def __call__(self, global_orient: torch.Tensor, body_pose: torch.Tensor, delta: torch.Tensor,
                 betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, per-player data+prior (N,), 2D residuals (N, T), joints (N, P, 3))."""
        p, w = self.p, self.w
        # gathers by index_select (their backward is an index_add, cheaper than advanced indexing's)
        betas_n = betas.index_select(0, p.track_of)
        posed = self.skeleton.pose(betas_n, global_orient, body_pose, self.transl(delta))
        points = posed.points.index_select(1, p.point_index)  # (N, T, 3)
        err2d = (project(points, p.K) - p.xy_px).norm(dim=-1) * self.inv2d  # (N, T) in stds
        data2d = (p.weight2d * geman_mcclure(err2d**2, w.robust_sigmas)).sum(1)
        bones = torch.einsum("dt,ntc->ndc", p.bone_coeff, points)
        unit = bones / bones.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        err3d = ((unit - p.bone_dir) ** 2).sum(-1) / w.world_dir_noise**2
        data3d = (p.bone_weight * geman_mcclure(err3d, w.robust_sigmas)).sum(1)
        prior = w.prior_weight * self.prior.gaussian(body_pose, p.prior_scale) + self.prior.limits(body_pose)
        per_player = data2d + data3d + prior
        joints = posed.points[:, :NUM_BODY_JOINTS_WITH_ROOT]
        root, local = joints[:, :1], joints - joints[:, :1]
        tw = 1.0 if p.temporal_weight is None else p.temporal_weight[..., None]
        step_prev = (tw * (local - local.index_select(0, self.prev_safe)) ** 2).sum((1, 2)) * self.has_prev
        step_state = (tw * (local - self.state_local) ** 2).sum((1, 2)) * self.has_state
        root_prev = ((root - root.index_select(0, self.prev_safe)) ** 2).sum((1, 2)) * self.has_prev
        root_state = ((root - self.state_root) ** 2).sum((1, 2)) * self.has_state
        temporal = ((step_prev + step_state) * self.inv_temporal**2).sum()
        temporal = temporal + ((root_prev + root_state) * self.inv_root**2).sum()
        step = (((betas - p.betas_prior) / w.betas_step_std) ** 2).sum(1) * p.betas_known
        shape = ((betas / w.betas_std) ** 2).sum() + step.sum()
        return per_player.sum() + temporal + shape, per_player, err2d * w.kp2d_noise, posed.points


class Adam:
    """Adam (Kingma & Ba; torch.optim.Adam's defaults, no weight decay) over parameter groups.

    Written out because constructing ``torch.optim.Adam`` imports ``torch._dynamo`` (about
    1.5 s of CPU, once per process) — a quarter of the time a photo takes end to end.
    ``param_groups`` is a list of ``{"params": [tensors], "lr": float}``, as torch's.
    """

    def __init__(self, groups: list[dict], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.param_groups = groups
        self.betas, self.eps = betas, eps
        self._step = 0
        self._moments = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for g in groups for p in g["params"]}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self._step += 1
        correct1, correct2_sqrt = 1.0 - b1**self._step, math.sqrt(1.0 - b2**self._step)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                mean, square = self._moments[id(p)]
                mean.lerp_(p.grad, 1.0 - b1)
                square.mul_(b2).addcmul_(p.grad, p.grad, value=1.0 - b2)
                denom = (square.sqrt() / correct2_sqrt).add_(self.eps)
                p.addcdiv_(mean, denom, value=-group["lr"] / correct1)


def fit_problem(skeleton: FitSkeleton, problem: FitProblem, weights: FitWeights) -> FitResult:
    """Minimise the window's objective from the problem's initial values (Adam, cosine decay)."""
    objective = Objective(skeleton, problem, weights)
    go = problem.global_orient.clone().requires_grad_(True)
    pose = problem.body_pose.clone().requires_grad_(True)
    delta = torch.zeros_like(problem.transl).requires_grad_(True)
    betas = problem.betas_init.clone().requires_grad_(weights.fit_betas)
    groups = [{"params": [go, pose], "lr": weights.rotation_step_rad},
              {"params": [delta], "lr": weights.transl_step}]
    if weights.fit_betas:
        groups.append({"params": [betas], "lr": weights.betas_step})
    optimiser = Adam(groups)
    base = [g["lr"] for g in groups]
    steps = max(int(weights.iterations), 0)
    for it in range(steps):
        decay = 0.5 * (1.0 + math.cos(math.pi * it / steps))  # cosine from 1 to ~0
        warm = min(1.0, (it + 1) / max(weights.warmup_iterations, 1))
        for group, lr in zip(optimiser.param_groups, base, strict=True):
            group["lr"] = lr * warm * (0.05 + 0.95 * decay)
        optimiser.zero_grad(set_to_none=True)
        total, _, _, _ = objective(go, pose, delta, betas)
        total.backward()
        optimiser.step()
    with torch.no_grad():
        _, per_player, residual, points = objective(go, pose, delta, betas)
        transl = objective.transl(delta)
    return FitResult(
        global_orient=go.detach().numpy().astype(np.float32),
        body_pose=pose.detach().numpy().astype(np.float32),
        transl=transl.numpy().astype(np.float32),
        betas=betas.detach()[problem.track_of].numpy().astype(np.float32),
        track_betas=betas.detach().numpy().astype(np.float32),
        joints_cam_m=points[:, :NUM_BODY_JOINTS_WITH_ROOT].numpy().astype(np.float32),
        residual2d=residual.numpy().astype(np.float32),
        loss=per_player.numpy().astype(np.float32),
    )

"""Generated ground truth for the mesh fit: hidden limbs, deep flexion, small running players.

    python tools/eval_mesh_synth.py [--players 6] [--frames 48] [--seed 0] [--set squat_lunge,running_small]

Each set is fitted by the default config's mesh fit (window after window of
``pipeline.window`` frames, as a run does) and then smoothed by the default ``smooth``
settings; the truth is known because the keypoints are generated from posed bodies:

* ``squat_lunge``: people doing deep squats and lunges in place, 3-5 m from a webcam-like
  camera (960x544, f = 800 px, ~300 px tall), mostly side-on (heading 60-120 degrees either
  way);
* ``running_small``: walking and running players 30-60 px tall seen by a broadcast camera,
  any heading;
* ``walk_broadcast``: the bench's players (30-200 px, walking or running, any heading).

Keypoints get a keypoint model's errors (:class:`~testkit.mesh_fit.KeypointNoise`,
larger for the small players); in a side view (hips' axis within 60 degrees of the viewing
ray) the far leg and arm are hidden the way BlazePose reports them: low confidence (0.03-0.3),
larger 2D and 3D errors (:func:`~testkit.mesh_fit.hide_far_limbs`).

Player-frames with a joint outside the image are left out of every score (:func:`in_picture`).
Reports per set: MPJPE (root-aligned) and PA-MPJPE (Procrustes on all 22 joints) of the
visible joints, of the visible limb joints (knees, ankles, feet, elbows, wrists: the joint
types a side view hides, so the fair comparison) and of the hidden joints (mm), and the
median absolute knee and hip flexion error (degrees) of visible and hidden legs, before and
after smoothing; and the hidden joints' error over the seen limbs' (all seen limb joints of the
set) and over the near limbs' of the same side-on frames (the same players, sizes and motion:
the seen pool also holds whole players seen from the front, who never hide a limb).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from streamer.body.skeleton import BODY_JOINT_NAMES
from streamer.config import load_config
from streamer.records import BodyParams, Keypoints
from streamer.soccer.angles import joint_angles

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit/: not part of the package
from testkit import mesh_fit as syn  # noqa: E402

#: (22,) the joint types a side view hides (far knee, ankle, foot, elbow, wrist), either side
_LIMB = np.array([any(n == f"{s}_{j}" for s in ("left", "right") for j in syn.HIDDEN_LIMB_JOINTS)
                  for n in BODY_JOINT_NAMES])
SETS = ("squat_lunge", "running_small", "walk_broadcast")
_NOISE = {
    "squat_lunge": syn.KeypointNoise(),
    "running_small": syn.KeypointNoise(px_share=0.03, min_px=1.0, world_m=0.05),
    "walk_broadcast": syn.KeypointNoise(),
}


def generate(name: str, rng: np.random.Generator, players: int, frames: int
             ) -> tuple[syn.SyntheticBodies, np.ndarray, float]:
    """(bodies, (N,) times, fps) of a set; rows are ``player * frames + frame``."""
    if name == "squat_lunge":
        bodies, times = syn.bend_sequences(rng, players, frames)
        return bodies, times, 30.0
    if name == "running_small":
        bodies, times = syn.random_sequences(rng, players, frames, height_px=(30.0, 60.0))
        return bodies, times, 25.0
    if name == "walk_broadcast":
        bodies, times = syn.random_sequences(rng, players, frames)
        return bodies, times, 25.0
    raise ValueError(f"unknown set {name!r} (one of {', '.join(SETS)})")


def fit_and_smooth(fitter: Any, obs: syn.Observation, K: np.ndarray, times: np.ndarray, players: int,
                   frames: int, window: int, smooth_section: dict[str, Any], joints_fn: Any
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fitted and smoothed (N, 22, 3) joints, NaN where not fitted; and the fits' (N, 22) joint confidence."""
    from streamer.smoothing.params import SmoothingParams
    from streamer.smoothing.smoother import Smoother

    n = players * frames
    raw = np.full((n, len(BODY_JOINT_NAMES), 3), np.nan, np.float32)
    conf = np.zeros((n, len(BODY_JOINT_NAMES)), np.float32)
    smooth = raw.copy()
    ids = np.arange(1, players + 1)
    heights = syn.pixel_height(obs)
    smoother: Smoother[int] = Smoother(SmoothingParams.from_config(smooth_section))
    done: dict[int, BodyParams | None] = {}
    for start in range(0, frames, window):
        stop = min(start + window, frames)
        records, stamps = [], []
        for f in range(start, stop):
            rows = (ids - 1) * frames + f
            records.append(Keypoints(ids, obs.xy_px[rows], obs.conf[rows], "blazepose33", obs.world_m[rows]))
            stamps.append(float(times[f]))
        out = fitter.fit(records, [K] * len(records), stamps)
        for f, body in zip(range(start, stop), out, strict=True):
            if body is not None:
                rows = (body.track_id - 1) * frames + f
                raw[rows] = body.joints_cam_m
                conf[rows] = body.joint_conf
            smoother.push(f, float(times[f]), body, None if body is None else heights[(body.track_id - 1) * frames + f])
        done.update(smoother.release())
    done.update(smoother.release(final=True))
    for f, body in done.items():
        if body is not None and len(body):
            rows = (body.track_id - 1) * frames + f
            smooth[rows] = joints_fn(body.betas, body.global_orient, body.body_pose, body.transl)
    return raw, smooth, conf, heights


def flexion_errors(pred: np.ndarray, truth: np.ndarray, hidden: np.ndarray) -> dict[str, np.ndarray]:
    """Absolute knee / hip flexion errors (degrees) of visible and hidden legs (flattened)."""
    a, b = joint_angles(pred), joint_angles(truth)
    out: dict[str, list[np.ndarray]] = {"knee_vis": [], "knee_hid": [], "hip_vis": [], "hip_hid": []}
    for side in ("left", "right"):
        hid = hidden[:, BODY_JOINT_NAMES.index(f"{side}_knee")]
        for joint in ("knee", "hip"):
            err = np.abs(a[f"{side}_{joint}_flexion_deg"] - b[f"{side}_{joint}_flexion_deg"])
            out[f"{joint}_vis"].append(err[~hid])
            out[f"{joint}_hid"].append(err[hid])
    return {k: np.concatenate(v) for k, v in out.items()}


def in_picture(joints_cam_m: np.ndarray, K: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) bool: every body joint of the row projects inside the image.

    A player partly out of the picture is scored by neither split: his far limb is not hidden
    behind his body but cut by the frame edge, which the fit treats as unseen, not hidden
    (a keypoint outside the image keeps its own confidence), and a real keypoint model would
    not report those points at all.
    """
    uv = joints_cam_m @ np.asarray(K, np.float64).T
    z = uv[..., 2]
    x, y = uv[..., 0] / z, uv[..., 1] / z
    return ((z > 0) & (x >= 0) & (x <= width) & (y >= 0) & (y <= height)).all(1)


def evaluate(name: str, seed: int = 0, players: int = 6, frames: int = 48,
             overrides: tuple[str, ...] = ()) -> dict[str, float]:
    """Metrics of one set (see the module docstring); keys as printed by :func:`main`."""
    from streamer.stages.mesh import build_fit_backend

    config = load_config(overrides=list(overrides))
    fitter = build_fit_backend(config["mesh"]).fitter
    rng = np.random.default_rng(seed)
    bodies, times, _ = generate(name, rng, players, frames)
    clean = syn.observe(fitter.body, bodies)
    heights = syn.pixel_height(clean)
    obs = syn.add_noise(clean, heights, _NOISE[name], rng)
    side = syn.far_side(clean.joints_cam_m)
    obs = syn.hide_far_limbs(obs, side, rng, heights)
    hidden = syn.hidden_joints(side)
    near = syn.hidden_joints(-side)  # the same joint types on the side the camera sees, same frames
    from streamer.fitting.skeleton import FitSkeleton

    skeleton = FitSkeleton(fitter.body)
    raw, smooth, conf, _ = fit_and_smooth(fitter, obs, bodies.K, times[:frames], players, frames,
                                          int(config["pipeline"]["window"]), config["smooth"], skeleton.joints_np)
    truth = clean.joints_cam_m
    pictured = in_picture(truth, bodies.K, bodies.width, bodies.height)
    out: dict[str, float] = {"player_frames": float(len(truth)), "hidden_share": float((side != 0).mean()),
                             "outside_share": float((~pictured).mean())}
    for tag, pred in (("raw", raw), ("smooth", smooth)):
        fitted = np.isfinite(pred).all((1, 2))
        out[f"{tag}_fitted"] = float(fitted.mean())
        ok = fitted & pictured
        root, pa = syn.joint_errors_mm(pred[ok].astype(np.float64), truth[ok].astype(np.float64))
        hid = hidden[ok]
        limb_vis = ~hid & _LIMB[None]  # the same joints as the hidden ones, where seen
        out[f"{tag}_mpjpe_near"] = float(root[near[ok]].mean()) if hid.any() else float("nan")
        for label, err in (("mpjpe", root), ("pa_mpjpe", pa)):
            out[f"{tag}_{label}_vis"] = float(err[~hid].mean())
            out[f"{tag}_{label}_limb_vis"] = float(err[limb_vis].mean())
            out[f"{tag}_{label}_hid"] = float(err[hid].mean()) if hid.any() else float("nan")
        for key, err in flexion_errors(pred[ok], truth[ok], hid).items():
            out[f"{tag}_{key}_deg"] = float(np.median(err)) if len(err) else float("nan")
        knees = flexion_errors(pred[ok], truth[ok], hid)
        out[f"{tag}_knee_all_deg"] = float(np.median(np.concatenate([knees["knee_vis"], knees["knee_hid"]])))
    knee_rows = [BODY_JOINT_NAMES.index(f"{s}_knee") for s in ("left", "right")]
    out["hidden_knee_conf"] = float(conf[:, knee_rows][hidden[:, knee_rows]].mean()) if hidden.any() else float("nan")
    out["visible_knee_conf"] = float(conf[:, knee_rows][~hidden[:, knee_rows]].mean())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default=",".join(SETS), help="comma-separated sets")
    parser.add_argument("--players", type=int, default=6)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config-set", action="append", default=[], help="config override a.b=c")
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    head = (f"{'set':15} {'stage':6} {'MPJPE vis':>9} {'limb':>5} {'hid':>6} {'PA vis':>7} {'limb':>5} {'hid':>6} | "
            f"{'knee° vis':>9} {'hid':>5} {'all':>5} | {'hip° vis':>8} {'hid':>5}")
    print(head)
    for name in args.set.split(","):
        m = evaluate(name, args.seed, args.players, args.frames, tuple(args.config_set))
        for tag in ("raw", "smooth"):
            print(f"{name:15} {tag:6} {m[f'{tag}_mpjpe_vis']:9.1f} {m[f'{tag}_mpjpe_limb_vis']:5.1f} "
                  f"{m[f'{tag}_mpjpe_hid']:6.1f} {m[f'{tag}_pa_mpjpe_vis']:7.1f} {m[f'{tag}_pa_mpjpe_limb_vis']:5.1f} "
                  f"{m[f'{tag}_pa_mpjpe_hid']:6.1f} | "
                  f"{m[f'{tag}_knee_vis_deg']:9.1f} {m[f'{tag}_knee_hid_deg']:5.1f} {m[f'{tag}_knee_all_deg']:5.1f} | "
                  f"{m[f'{tag}_hip_vis_deg']:8.1f} {m[f'{tag}_hip_hid_deg']:5.1f}")
        print(f"{'':15} hidden / seen limbs {m['raw_mpjpe_hid'] / m['raw_mpjpe_limb_vis']:.2f} raw, "
              f"{m['smooth_mpjpe_hid'] / m['smooth_mpjpe_limb_vis']:.2f} smoothed; / the near limbs of the same "
              f"frames {m['raw_mpjpe_hid'] / m['raw_mpjpe_near']:.2f} raw, "
              f"{m['smooth_mpjpe_hid'] / m['smooth_mpjpe_near']:.2f} smoothed")
        print(f"{'':15} {int(m['player_frames'])} player-frames, {m['hidden_share']:.0%} side-on with hidden "
              f"limbs, {m['outside_share']:.0%} partly out of the picture (not scored); mean joint confidence "
              f"of knees visible {m['visible_knee_conf']:.2f}, hidden {m['hidden_knee_conf']:.2f}; "
              f"fitted {m['raw_fitted']:.0%}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

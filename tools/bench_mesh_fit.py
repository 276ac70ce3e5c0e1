"""Speed and accuracy of the CPU mesh fit (``mesh`` stage, backend ``fit``): ms per player-frame.

Synthetic players (walking/running gaits, 30-200 px tall, broadcast camera) are fitted in
windows of ``--frames`` frames x ``--players`` players, one batched optimisation per window,
window after window so warm starts and the temporal term are exercised as in a run. For each
iteration count: wall and CPU time per player-frame (median window, the first one excluded; on a
shared machine the wall time swings with the other processes, the CPU time much less) and the
accuracy on clean and on noisy keypoints (root-aligned MPJPE and PA-MPJPE, mm, 22 joints).

Target: <= 10 ms per player-frame on 2 cores. Other processes share the CPU: run it with
``nice`` and read the load average it prints.

Usage: nice python tools/bench_mesh_fit.py [--players 20] [--frames 8] [--windows 4]
       [--iterations 10,20,40,80] [--threads 1,2] [--body-model mannequin]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from streamer.body import load_body_model
from streamer.fitting import FitterSettings, FitWeights, KeypointFitter
from streamer.records import Keypoints

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit/: not part of the package
from testkit import mesh_fit as syn  # noqa: E402


def windows_of(obs: syn.Observation, times: np.ndarray, players: int, frames: int, window: int
               ) -> list[tuple[list[Keypoints], list[float]]]:
    """Split player-major observations into windows of per-frame Keypoints records."""
    out = []
    ids = np.arange(1, players + 1)
    for start in range(0, frames - window + 1, window):
        records, stamps = [], []
        for f in range(start, start + window):
            rows = ids - 1
            rows = rows * frames + f
            records.append(Keypoints(ids, obs.xy_px[rows], obs.conf[rows], "blazepose33", obs.world_m[rows]))
            stamps.append(float(times[f]))
        out.append((records, stamps))
    return out


def run(body, obs, truth, times, args, iterations: int, threads: int) -> tuple[float, float, float, float]:
    """(median wall and CPU ms per player-frame, MPJPE mm, PA-MPJPE mm) over the windows."""
    fitter = KeypointFitter(body, FitWeights(iterations=iterations), FitterSettings(threads=threads))
    per_pf, cpu_pf, joints = [], [], {}
    for k, (records, stamps) in enumerate(windows_of(obs, times, args.players, args.frames * args.windows,
                                                     args.frames)):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fitter.fit(records, [truth.K] * len(records), stamps)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if k > 0:
            per_pf.append(1000.0 * elapsed / (args.players * len(records)))
            cpu_pf.append(1000.0 * cpu / (args.players * len(records)))
        for f, body_params in enumerate(out):
            for row, tid in enumerate(body_params.track_id):
                truth_row = (tid - 1) * args.frames * args.windows + k * args.frames + f
                joints[truth_row] = body_params.joints_cam_m[row]
    rows = np.array(sorted(joints))
    pred = np.stack([joints[r] for r in rows])
    truth_joints = obs.joints_cam_m[rows]
    return (statistics.median(per_pf), statistics.median(cpu_pf),
            float(syn.mpjpe_mm(pred, truth_joints).mean()), float(syn.pa_mpjpe_mm(pred, truth_joints).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=20)
    parser.add_argument("--frames", type=int, default=8, help="frames per window")
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--iterations", default="10,20,40,80")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--body-model", default="mannequin")
    parser.add_argument("--smplx-path", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    body = load_body_model(args.body_model, smplx_path=args.smplx_path)
    rng = np.random.default_rng(args.seed)
    truth, times = syn.random_sequences(rng, args.players, args.frames * args.windows)
    clean = syn.observe(body, truth)
    noisy = syn.add_noise(clean, syn.pixel_height(clean), syn.KeypointNoise(), rng)
    print(f"body model {body.name}; {args.players} players x {args.frames} frames per window, "
          f"{args.windows} windows; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'threads':>7} {'iters':>5} {'wall ms/pf':>10} {'CPU ms/pf':>9} {'clean MPJPE':>12} {'PA':>6} "
          f"{'noisy MPJPE':>12} {'PA':>6}")
    for threads in (int(t) for t in args.threads.split(",")):
        for iterations in (int(i) for i in args.iterations.split(",")):
            ms, cpu, clean_mpjpe, clean_pa = run(body, clean, truth, times, args, iterations, threads)
            ms_noisy, cpu_noisy, noisy_mpjpe, noisy_pa = run(body, noisy, truth, times, args, iterations,
                                                             threads)
            wall_pf, cpu_pf = statistics.mean([ms, ms_noisy]), statistics.mean([cpu, cpu_noisy])
            print(f"{threads:>7} {iterations:>5} {wall_pf:>10.2f} {cpu_pf:>9.2f} {clean_mpjpe:>12.1f} "
                  f"{clean_pa:>6.1f} {noisy_mpjpe:>12.1f} {noisy_pa:>6.1f}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""Write a synthetic broadcast soccer clip (mp4) with its ground truth (npz + json).

Usage:
    python tools/synth.py OUT.mp4 [--size 1280x720] [--fps 25] [--seconds 8] [--players 22]
                          [--seed 0] [--no-pan] [--zoom] [--no-overlay] [--no-ad-boards]
                          [--no-shadows] [--no-referee] [--lod 1] [--threads 1] [--masks]

Writes OUT.mp4, OUT.truth.npz and OUT.truth.json (see streamer.synth.truth for the fields),
then prints frames/s of generation (rendering + encoding).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}") from exc
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output .mp4 path")
    parser.add_argument("--size", type=parse_size, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--players", type=int, default=22, help="players on the pitch, 10-22")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pan", dest="pan", action="store_false", help="camera fixed on the halfway line")
    parser.add_argument("--zoom", action="store_true", help="slow zoom in and out")
    parser.add_argument("--no-overlay", dest="overlay", action="store_false", help="no score box or logo")
    parser.add_argument("--no-ad-boards", dest="ad_boards", action="store_false", help="plain boards")
    parser.add_argument("--no-shadows", dest="shadows", action="store_false")
    parser.add_argument("--no-referee", dest="referee", action="store_false")
    parser.add_argument("--lod", type=int, default=1, choices=(0, 1, 2), help="mannequin detail, 0 = finest")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenCV/torch threads; 1 is fastest for this workload on a busy machine")
    parser.add_argument("--masks", action="store_true", help="also store the instance masks in the npz")
    args = parser.parse_args(argv)

    import cv2
    import torch

    from streamer.errors import StreamerError
    from streamer.synth import SynthConfig, write_clip

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    try:
        config = SynthConfig(width=args.size[0], height=args.size[1], fps=args.fps, seconds=args.seconds,
                             n_players=args.players, seed=args.seed, pan=args.pan, zoom=args.zoom,
                             overlay=args.overlay, ad_boards=args.ad_boards, shadows=args.shadows,
                             referee=args.referee, mannequin_lod=args.lod)
        start = time.perf_counter()
        truth = write_clip(args.out, config, keep_masks=args.masks)
    except StreamerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    elapsed = time.perf_counter() - start
    visible = truth["visible_px"] > 0
    heights = (truth["xyxy_full_px"][..., 3] - truth["xyxy_full_px"][..., 1])[visible]
    print(f"wrote {args.out} and {args.out.with_suffix('')}.truth.npz/.json: {len(truth)} frames "
          f"{config.width}x{config.height}, {len(truth['track_id'])} people")
    print(f"visible people per frame {visible.sum(1).mean():.1f}, body height {heights.min():.0f}-"
          f"{heights.max():.0f} px (median {float(sorted(heights)[len(heights) // 2]):.0f})")
    print(f"generation {len(truth) / elapsed:.1f} frames/s ({elapsed:.1f} s, encoding and start-up included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Overlay speed: 20 posed bodies (convex mannequin) + boxes drawn and encoded at 1280x720.

Target: >= 15 fps. Times ``OverlaySink.draw`` (meshes, skeletons, boxes) and the encoder
separately on synthetic body parameters at broadcast distances (35-60 m).

Usage: python tools/bench_overlay.py [--frames 30] [--players 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from streamer.io.overlay_sink import OverlaySink
from streamer.records import BodyParams, Frame, Packet, Tracks


def packet(n: int, seed: int = 0) -> Packet:
    rng = np.random.default_rng(seed)
    K = np.array([[1800, 0, 640], [0, 1800, 360], [0, 0, 1]], np.float32)
    transl = np.stack([rng.uniform(-12, 12, n), rng.uniform(-3, 4, n), rng.uniform(35, 60, n)], 1)
    body = BodyParams(
        np.arange(1, n + 1), np.zeros((n, 10), np.float32), np.tile([[np.pi, 0, 0]], (n, 1)).astype(np.float32),
        rng.normal(0, 0.2, (n, 21, 3)).astype(np.float32), transl.astype(np.float32), K,
        np.ones((n, 22), np.float32), body_model="mannequin",
    )
    uv = transl @ K.T.astype(np.float64)
    uv = uv[:, :2] / uv[:, 2:]
    boxes = np.concatenate([uv - [8, 40], uv + [8, 15]], 1).astype(np.float32)
    image = np.full((720, 1280, 3), 80, np.uint8)
    return Packet(Frame(0, 0, 0.0, image), tracks=Tracks(np.arange(1, n + 1), boxes, np.ones(n, np.float32)),
                  body=body)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--players", type=int, default=20)
    args = ap.parse_args()
    pk = packet(args.players)
    with tempfile.TemporaryDirectory() as tmp:
        sink = OverlaySink(Path(tmp) / "overlay.mp4", {"fps": 25.0})
        sink.write(pk)  # warm-up: loads the body model
        t0 = time.perf_counter()
        for _ in range(args.frames):
            image = sink.draw(pk)
        t_draw = (time.perf_counter() - t0) / args.frames
        t0 = time.perf_counter()
        for i in range(args.frames):
            sink.writer.write(image, (i + 1) / 25.0)
        t_encode = (time.perf_counter() - t0) / args.frames
        sink.close()
    total = t_draw + t_encode
    print(f"{args.players} players at 1280x720: draw {1000 * t_draw:.1f} ms + encode {1000 * t_encode:.1f} ms "
          f"= {1 / total:.1f} fps (target >= 15)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

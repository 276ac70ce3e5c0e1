"""Cost and peak memory of the offline identity pass, on a run's tracks.csv replayed R times.

Replays the rows of ``tracks.csv`` (a finished run's) ``--repeat`` times back to back, as one
clip R times longer, through the tracklet collector, then links the tracklets and rewrites
the replayed ``tracks.csv`` under the final ids. ``--new-ids`` gives every repetition new
track ids (a longer clip with more tracklets) instead of continuing the same ones. Prints
seconds per part and the pass's peak Python memory (tracemalloc) — it should not grow with
R when the ids continue, and grow only by the tracklet summaries with ``--new-ids``.

Usage: python tools/bench_identity.py RUN_DIR/tracks.csv [--repeat 10] [--new-ids]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from streamer.io.relabel import relabel_outputs
from streamer.tracking.appearance import DIM
from streamer.tracking.identity import TrackletCollector, link_tracklets


def replay(src: Path, dst: Path, repeat: int, new_ids: bool):
    """Write the replayed tracks.csv to ``dst``; yield (frame, time, ids, boxes, scores) per frame."""
    with open(src, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    col = {name: i for i, name in enumerate(header)}
    n_frames = max(int(r[col["frame"]]) for r in rows) + 1
    duration = max(float(r[col["time_s"]]) for r in rows) + 0.04
    id_span = max(int(r[col["player_id"]]) for r in rows)
    with open(dst, "w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for k in range(repeat):
            frame_rows: dict[int, list] = {}
            for r in rows:
                r = list(r)
                r[col["frame"]] = str(int(r[col["frame"]]) + k * n_frames)
                r[col["time_s"]] = f"{float(r[col['time_s']]) + k * duration:.6f}"
                if new_ids:
                    r[col["player_id"]] = str(int(r[col["player_id"]]) + k * id_span)
                writer.writerow(r)
                frame_rows.setdefault(int(r[col["frame"]]), []).append(r)
            for frame in sorted(frame_rows):
                fr = frame_rows[frame]
                ids = np.array([int(r[col["player_id"]]) for r in fr], np.int64)
                boxes = np.array([[float(r[col[c]]) for c in ("x1", "y1", "x2", "y2")] for r in fr])
                scores = np.array([float(r[col["score"]] or 0) for r in fr])
                yield frame, float(fr[0][col["time_s"]]), ids, boxes, scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tracks_csv", type=Path)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--new-ids", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_identity_"))
    try:
        frames = list(replay(args.tracks_csv, work / "tracks.csv", args.repeat, args.new_ids))
        rng = np.random.default_rng(0)
        tracemalloc.start()
        collector = TrackletCollector()
        t0 = time.perf_counter()
        for frame, time_s, ids, boxes, scores in frames:
            hists = rng.dirichlet(np.ones(DIM), len(ids)).astype(np.float32)
            collector.observe(frame, time_s, ids, boxes, scores, hists=hists)
        t1 = time.perf_counter()
        tracklets = list(collector.tracklets.values())
        final, links = link_tracklets(tracklets)
        t2 = time.perf_counter()
        relabel_outputs(work, final, tracklets)
        t3 = time.perf_counter()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{len(frames)} frames x{args.repeat}{' (new ids)' if args.new_ids else ''}: "
              f"{len(tracklets)} tracklets -> {len(set(final.values()))} players, {len(links)} links")
        print(f"  collect {1000 * (t1 - t0) / len(frames):.2f} ms/frame, link {t2 - t1:.3f} s, "
              f"rewrite tracks.csv {t3 - t2:.3f} s ({(work / 'tracks.csv').stat().st_size / 1e6:.1f} MB)")
        print(f"  pass peak memory (tracemalloc) {peak / 1e6:.2f} MB; load {os.getloadavg()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

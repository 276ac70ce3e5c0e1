"""Draw a person-box label file's boxes on its frames, to check hand-made labels by eye.

Reads a label JSON (format "Person boxes" in the README's label section:
``{"media", "how", "frames": [{"frame", "split", "boxes", "ignore"}]}``), decodes the
labelled frames the way the pipeline does (``streamer.io.source``) and writes, per frame:

* ``<stem>_<frame>.png``: the whole frame, targets green with their index, ignore regions yellow;
* with ``--sheet``: ``<stem>_<frame>_sheet<k>.png``, one zoomed gridded cell per target with its
  coordinates, 12 to a sheet, to check each box's tightness;
* with ``--tile WxH``: ``<stem>_<frame>_x<X>_y<Y>.png`` zoomed crops (``--zoom``, nearest
  neighbour) with a pixel grid every ``--grid`` px labelled in frame coordinates, the box
  edges drawn on the continuous pixel boundaries (a box [10, 5, 20, 30] is drawn along the
  left edge of column 10 and the left edge of column 20), so tight boxes can be read off
  to the pixel; tiles overlap by ``--overlap`` px so no person is only seen cut.

Usage: python tools/draw_labels.py tests/data/person_boxes/X.json OUT_DIR
           [--data ../shared/data] [--frames 0,25] [--sheet] [--tile 200x150 --zoom 4 --grid 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from streamer.config import load_config
from streamer.io.source import open_source

GREEN = (0, 220, 0)
YELLOW = (0, 230, 255)
GRID = (150, 150, 150)


def load_frames(media: Path, indices: set[int]) -> dict[int, np.ndarray]:
    """BGR images of the wanted frame indices, decoded by streamer's source."""
    images: dict[int, np.ndarray] = {}
    with open_source(str(media), load_config()["source"]) as src:
        for frame in src:
            if frame.index in indices:
                images[frame.index] = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
            if len(images) == len(indices):
                break
    return images


def draw_full(image: np.ndarray, boxes: list, ignore: list) -> np.ndarray:
    """The whole frame with ignore regions (yellow) and numbered targets (green)."""
    out = image.copy()
    for x1, y1, x2, y2 in ignore:
        cv2.rectangle(out, (round(x1), round(y1)), (round(x2) - 1, round(y2) - 1), YELLOW, 1)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        cv2.rectangle(out, (round(x1), round(y1)), (round(x2) - 1, round(y2) - 1), GREEN, 1)
        cv2.putText(out, str(i), (round(x1), round(y1) - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.35, GREEN, 1)
    return out


def draw_tile(
    image: np.ndarray, x0: int, y0: int, w: int, h: int, zoom: int, grid: int, boxes: list, ignore: list
) -> np.ndarray:
    """A zoomed crop with a coordinate grid and the boxes on continuous pixel boundaries."""
    crop = image[y0:y0 + h, x0:x0 + w]
    big = cv2.resize(crop, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    margin = 30
    canvas = np.full((big.shape[0] + margin, big.shape[1] + margin, 3), 255, np.uint8)
    canvas[margin:, margin:] = big
    for gx in range((x0 + grid - 1) // grid * grid, x0 + crop.shape[1], grid):
        px = margin + (gx - x0) * zoom
        cv2.line(canvas, (px, margin), (px, canvas.shape[0] - 1), GRID, 1)
        if gx % (2 * grid) == 0:
            cv2.putText(canvas, str(gx), (px - 10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    for gy in range((y0 + grid - 1) // grid * grid, y0 + crop.shape[0], grid):
        py = margin + (gy - y0) * zoom
        cv2.line(canvas, (margin, py), (canvas.shape[1] - 1, py), GRID, 1)
        if gy % (2 * grid) == 0:
            cv2.putText(canvas, str(gy), (0, py + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)

    def to_canvas(x: float, y: float) -> tuple[int, int]:
        return margin + round((x - x0) * zoom), margin + round((y - y0) * zoom)

    for colour, group, numbered in ((YELLOW, ignore, False), (GREEN, boxes, True)):
        for i, (x1, y1, x2, y2) in enumerate(group):
            if x2 < x0 or y2 < y0 or x1 > x0 + w or y1 > y0 + h:
                continue
            cv2.rectangle(canvas, to_canvas(x1, y1), to_canvas(x2, y2), colour, 1)
            if numbered:
                cv2.putText(canvas, str(i), to_canvas(x1, y1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
    return canvas


def draw_sheet(image: np.ndarray, boxes: list, ignore: list, cell: int = 280, cols: int = 4) -> list[np.ndarray]:
    """One zoomed, gridded cell per target (the box padded by a third of its height), in sheets of cols×3."""
    height, width = image.shape[:2]
    cells = []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        pad = max(4, round(0.3 * (y2 - y1)))
        cx0, cy0 = max(0, int(x1) - pad), max(0, int(y1) - pad)
        cx1, cy1 = min(width, int(np.ceil(x2)) + pad), min(height, int(np.ceil(y2)) + pad)
        zoom = max(1, min(cell // max(cy1 - cy0, 1), cell // max(cx1 - cx0, 1)))
        grid = 5 if (cy1 - cy0) < 60 else 10 if (cy1 - cy0) < 200 else 20
        tile = draw_tile(image, cx0, cy0, cx1 - cx0, cy1 - cy0, zoom, grid, boxes, ignore)
        fit = min(1.0, (cell + 30) / tile.shape[0], (cell + 40) / tile.shape[1])
        if fit < 1.0:  # a big person: shrink the rendered crop to fit its cell
            tile = cv2.resize(tile, None, fx=fit, fy=fit, interpolation=cv2.INTER_AREA)
        out = np.full((cell + 50, cell + 40, 3), 255, np.uint8)
        out[:tile.shape[0], :tile.shape[1]] = tile
        text = f"{i}: {x1:g},{y1:g},{x2:g},{y2:g}"
        cv2.putText(out, text, (2, cell + 45), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cells.append(out)
    sheets = []
    per = cols * 3
    for s in range(0, len(cells), per):
        chunk = cells[s:s + per] + [np.full_like(cells[0], 255)] * (per - len(cells[s:s + per]))
        rows = [np.hstack(chunk[r * cols:(r + 1) * cols]) for r in range(3)]
        sheets.append(np.vstack(rows))
    return sheets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="where `media` is relative to")
    parser.add_argument("--frames", default="", help="comma-separated frame indices (default: all labelled)")
    parser.add_argument("--tile", default="", help="WxH zoomed tiles, e.g. 200x150 (default: none)")
    parser.add_argument("--overlap", type=int, default=30, help="tile overlap in frame pixels")
    parser.add_argument("--zoom", type=int, default=4)
    parser.add_argument("--grid", type=int, default=10, help="grid spacing in frame pixels")
    parser.add_argument("--sheet", action="store_true", help="also one zoomed gridded cell per target, in sheets")
    args = parser.parse_args()

    labels = json.loads(args.labels.read_text())
    wanted = {int(f) for f in args.frames.split(",") if f} or {f["frame"] for f in labels["frames"]}
    entries = [f for f in labels["frames"] if f["frame"] in wanted]
    images = load_frames(args.data / labels["media"], {f["frame"] for f in entries})
    args.out.mkdir(parents=True, exist_ok=True)
    stem = Path(labels["media"]).stem
    for entry in entries:
        image, boxes, ignore = images[entry["frame"]], entry["boxes"], entry.get("ignore", [])
        name = f"{stem}_{entry['frame']:04d}"
        print(f"frame {entry['frame']}: {len(boxes)} targets, {len(ignore)} ignore")
        cv2.imwrite(str(args.out / f"{name}.png"), draw_full(image, boxes, ignore))
        if args.sheet and boxes:
            for k, sheet in enumerate(draw_sheet(image, boxes, ignore)):
                cv2.imwrite(str(args.out / f"{name}_sheet{k}.png"), sheet)
        if not args.tile:
            continue
        tw, th = (int(v) for v in args.tile.split("x"))
        height, width = image.shape[:2]
        for y0 in range(0, max(height - args.overlap, 1), th - args.overlap):
            for x0 in range(0, max(width - args.overlap, 1), tw - args.overlap):
                tile = draw_tile(image, x0, y0, tw, th, args.zoom, args.grid, boxes, ignore)
                cv2.imwrite(str(args.out / f"{name}_x{x0:04d}_y{y0:04d}.png"), tile)


if __name__ == "__main__":
    main()

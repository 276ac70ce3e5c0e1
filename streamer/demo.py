"""The clip ``streamer demo`` runs on: a synthetic broadcast shot, so a new user needs no media.

It is the synthetic generator of :mod:`streamer.synth` (22 mannequin players in two kits
and a referee on a striped 105 x 68 m pitch, a broadcast camera that pans with play,
a score overlay), written to an mp4 beside its ground truth.
"""

from __future__ import annotations

from pathlib import Path


def make_demo_clip(path: str | Path, *, seconds: float = 4.0, fps: float = 25.0,
                   size: tuple[int, int] = (1280, 720), seed: int = 0) -> Path:
    """Write the demo clip to ``path`` (an mp4; ground truth beside it) and return the path."""
    from streamer.synth import SynthConfig, write_clip

    width, height = size
    write_clip(path, SynthConfig(width=width, height=height, fps=fps, seconds=seconds, seed=seed))
    return Path(path)

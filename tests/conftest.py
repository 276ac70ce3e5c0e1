"""Shared fixtures: synthetic clips (session-scoped) and the ../shared data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

import media

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media_dir) -> media.Clip:
    """30 frames, 25 fps, 160x96 H.264 mp4."""
    return media.make_clip(media_dir / "clip.mp4", n_frames=30)


@pytest.fixture
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip("../shared/data is absent")
    return data


@dataclass
class VideoFacts:
    n_frames: int
    times_s: list[float]
    width: int
    height: int
    indices: list[int]


def read_video(path: Path, with_indices: bool = True) -> VideoFacts:
    """Decode a whole file: frame count, presentation times, size, bar-code indices."""
    times, indices = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        for frame in container.decode(stream):
            times.append(float(frame.pts * frame.time_base))
            if with_indices:
                indices.append(media.read_index(frame.to_ndarray(format="rgb24")))
    return VideoFacts(len(times), times, width, height, indices)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m streamer ARGS`` in a child process, text output captured."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "streamer", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )

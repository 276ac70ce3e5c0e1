"""The PyAV source: timestamps, rotation, windows, live dropping, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from streamer.errors import InputError, StreamError
from streamer.io.source import open_source, parse_input

import media


def frames_of(path, **cfg):
    with open_source(str(path), cfg) as source:
        return list(source), source


def test_cfr_clip_frames_times_and_content(clip):
    frames, source = frames_of(clip.path)
    assert len(frames) == clip.n_frames == source.stats.decoded
    assert [f.index for f in frames] == list(range(clip.n_frames))
    np.testing.assert_allclose([f.time_s for f in frames], clip.timestamps, atol=1e-6)
    assert [media.read_index(f.image) for f in frames] == list(range(clip.n_frames))
    assert frames[0].image.shape == (clip.height, clip.width, 3)
    assert source.info.declared_frames == clip.n_frames and source.info.fps == 25.0


def test_variable_frame_rate_times_come_from_pts(media_dir):
    stamps = [0.0, 0.04, 0.08, 0.2, 0.24, 0.5, 0.52, 1.0]
    vfr = media.make_vfr_clip(media_dir / "vfr.mp4", stamps)
    frames, _ = frames_of(vfr.path)
    np.testing.assert_allclose([f.time_s for f in frames], stamps, atol=1e-3)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_turns_frames_upright(media_dir, rotation):
    rot = media.make_rotated_clip(media_dir / f"rot{rotation}.mp4", rotation, n_frames=5)
    frames, source = frames_of(rot.path)
    assert frames[0].image.shape[:2] == (rot.height, rot.width)
    assert [media.read_index(f.image) for f in frames] == list(range(5))
    assert source.stats.rotated != 0
    raw, _ = frames_of(rot.path, autorotate=False)
    if rotation != 180:
        assert raw[0].image.shape[:2] == (rot.width, rot.height)


def test_start_end_and_max_frames(clip):
    frames, _ = frames_of(clip.path, start_s=0.4, end_s=0.8)
    assert [media.read_index(f.image) for f in frames] == list(range(10, 20))
    assert frames[0].time_s == pytest.approx(0.4)
    frames, source = frames_of(clip.path, max_frames=7)
    assert len(frames) == 7 and source.stats.stop_reason == "max_frames"


def test_live_source_drops_stale_frames_instead_of_lagging(media_dir):
    long = media.make_clip(media_dir / "live.mp4", n_frames=120)
    with open_source(str(long.path), {"live": "live", "prefetch_frames": 2}) as source:
        got = []
        for frame in source:
            got.append(frame)
            time.sleep(0.01)  # a consumer slower than the decoder
    stats = source.stats
    assert stats.dropped > 0
    assert len(got) + stats.dropped == stats.decoded == 120
    times = [f.time_s for f in got]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_live_source_hands_over_the_newest_frame(media_dir):
    """A lagging consumer of a live source gets the newest decoded frame, not one from a
    backlog (the preview's latency): the queue keeps one frame, whatever prefetch says."""
    long = media.make_clip(media_dir / "newest.mp4", n_frames=60)
    with open_source(str(long.path), {"live": "live", "prefetch_frames": 32}) as source:
        assert source.queue_size == 1
        it = iter(source)
        next(it)
        deadline = time.time() + 10
        while source.stats.decoded < 60 and time.time() < deadline:  # the decoder runs ahead
            time.sleep(0.01)
        time.sleep(0.05)
        newest = next(it)
    assert source.stats.decoded == 60
    assert newest.index == 59  # the last frame decoded, all the ones in between dropped


def test_file_source_never_drops(media_dir):
    long = media.make_clip(media_dir / "slow.mp4", n_frames=40)
    with open_source(str(long.path), {"prefetch_frames": 2}) as source:
        got = [f for f in source if time.sleep(0.002) is None]
    assert len(got) == 40 and source.stats.dropped == 0


def test_4k_source_queue_size(media_dir):
    big = media.make_clip(media_dir / "4k.mp4", n_frames=2, size=(3840, 2160), pattern="static")
    with open_source(str(big.path), {"prefetch_mb": 100}) as source:
        assert source.queue_size == 4  # 100 MiB / 24.9 MB per frame
        frames = list(source)
    assert frames[0].image.shape == (2160, 3840, 3)


@pytest.mark.parametrize(
    ("uri", "kind", "target"),
    [
        ("camera:0", "camera", "/dev/video0"),
        ("rtsp://127.0.0.1:8554/cam", "url", "rtsp://127.0.0.1:8554/cam"),
        ("http://127.0.0.1/clip.mp4", "url", "http://127.0.0.1/clip.mp4"),
        ("clips/a.mp4", "file", "clips/a.mp4"),
    ],
)
def test_parse_input(uri, kind, target):
    spec = parse_input(uri)
    assert (spec.kind, spec.target) == (kind, target)


def test_bad_camera_spec():
    with pytest.raises(InputError, match="camera:N"):
        parse_input("camera:front")


def test_missing_camera_is_input_error():
    with pytest.raises(InputError):
        open_source("camera:97")


def test_truncated_faststart_clip_raises_stream_error_after_frames(media_dir):
    full = media.make_clip(media_dir / "fs.mp4", n_frames=100, faststart=True)
    cut = media.truncate(full.path, media_dir / "fs_cut.mp4", 0.5)
    with open_source(str(cut)) as source:
        got = []
        with pytest.raises(StreamError, match="stream ended early"):
            for frame in source:
                got.append(frame)
    assert 10 < len(got) < 100
    assert [media.read_index(f.image) for f in got] == list(range(len(got)))

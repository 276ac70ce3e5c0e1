"""Synthetic test media for the streamer tests (PyAV + numpy only, no ffmpeg CLI).

Every frame is deterministic and self-identifying: its top quarter is a bar code of the
frame index (:func:`render_frame`), which :func:`read_index` recovers from a decoded
RGB/BGR/grey array even after lossy compression or resizing.

Measured with PyAV 18.1 / FFmpeg 8.1:

* libx264 .mp4 at 25 fps: ``time_base=1/12800``, ``average_rate=25``, ``start_time=0``,
  ``frames=n``, ``duration=512*n``, first frame ``pts=0``.
* .mkv: ``time_base=1/1000``, ``frames == 0``, ``duration is None`` (use
  ``container.duration``).
* .avi has no pts, so B-frames are off there; h264-in-avi still demuxes with pts
  starting at 1 (mpeg4/ffv1 at 0): prefer ``codec="mpeg4"`` for avi.
* libx264 refuses odd sizes in yuv420p (``av.error.ExternalError`` from
  ``avcodec_open2``), so odd sizes use yuv444p with h264; mpeg4/ffv1 take them in 4:2:0.
* Output is bit-for-bit reproducible: x264 runs single-threaded without mbtree (which
  made repeated runs differ) and muxers get ``fflags=+bitexact`` (else mkv UIDs are random).
"""

from __future__ import annotations

import itertools
import os
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

StrPath = str | os.PathLike[str]
Pattern = Literal["moving", "static", "noise"]

_DATA_BITS = 10
MAX_INDEX = 2**_DATA_BITS - 1
"""Largest frame index the bar code can carry."""
_CELLS = 2 + _DATA_BITS + 1  # white marker, black marker, data bits (MSB first), parity
_BAND = 0.25  # fraction of the frame height used by the bar code
# mbtree (a float lookahead) made repeated x264 runs differ; without it output is bit-exact
_X264_OPTIONS = {"preset": "veryfast", "x264-params": "mbtree=0"}
_BITEXACT = {"fflags": "+bitexact"}  # no random mkv UIDs, no muxer version string


@dataclass(frozen=True)
class Clip:
    """What a ``make_*clip`` function wrote.

    ``width``/``height`` are the upright (displayed) size; ``timestamps`` are the
    presentation times in seconds of frames ``0..n_frames-1``; ``rotation`` is the value
    ``VideoFrame.rotation`` reports when decoding the file with PyAV.
    """

    path: Path
    n_frames: int
    width: int
    height: int
    fps: Fraction
    codec: str
    pix_fmt: str
    timestamps: tuple[float, ...]
    rotation: int = 0
    has_audio: bool = False


def render_frame(index: int, size: tuple[int, int] = (160, 96), pattern: Pattern = "moving") -> np.ndarray:
    """Return the ``(height, width, 3)`` uint8 RGB picture for frame ``index``.

    Top ``round(height / 4)`` rows: 13 equal-width black/white cells spanning the full
    width -- white marker, black marker, the 10 bits of ``index`` (MSB first), even
    parity.  Below: a static colour gradient and a white square whose x position is
    ``(4 * index) % (width - side + 1)`` (``"moving"``) or 0 (``"static"``);
    ``"noise"`` replaces the gradient with per-frame seeded noise (large packets).
    """
    width, height = size
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"index {index} outside 0..{MAX_INDEX}")
    if width < _CELLS or height < 4:
        raise ValueError(f"size {size} too small for the bar code")
    band = max(1, round(height * _BAND))
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = xx * 255 // max(width - 1, 1)
    img[..., 1] = yy * 255 // max(height - 1, 1)
    img[..., 2] = 96
    if pattern == "noise":
        rng = np.random.default_rng(index)
        img[band:] = rng.integers(0, 256, (height - band, width, 3), dtype=np.uint8)
    side = max(1, min(width, height - band) // 3)
    x = 0 if pattern == "static" else (4 * index) % (width - side + 1)
    y = band + (height - band - side) // 2
    img[y : y + side, x : x + side] = 255
    data = [(index >> b) & 1 for b in range(_DATA_BITS - 1, -1, -1)]
    edges = np.linspace(0, width, _CELLS + 1).round().astype(int)
    for cell, bit in enumerate([1, 0, *data, sum(data) % 2]):
        img[:band, edges[cell] : edges[cell + 1]] = 255 * bit
    return img


def read_index(rgb: np.ndarray) -> int:
    """Recover the frame index drawn by :func:`render_frame` from a decoded frame.

    Accepts ``(h, w)`` grey or ``(h, w, 3)`` RGB/BGR arrays of any size (the bar code is
    defined relative to the frame size).  Raises ``ValueError`` when the top band is not
    a valid bar code -- e.g. a rotated clip that was not turned upright, or garbage.
    """
    grey = rgb.astype(np.float32)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    height, width = grey.shape
    band = max(1, round(height * _BAND))
    rows = grey[band // 4 : max(band // 4 + 1, 3 * band // 4)]
    edges = np.linspace(0, width, _CELLS + 1)
    bits = []
    for cell in range(_CELLS):
        lo, hi = edges[cell], edges[cell + 1]
        q = (hi - lo) / 4
        mean = float(rows[:, int(lo + q) : max(int(lo + q) + 1, int(hi - q))].mean())
        if 80 <= mean <= 175:
            raise ValueError(f"bar-code cell {cell} is grey ({mean:.0f})")
        bits.append(int(mean > 127))
    data = bits[2:-1]
    if bits[:2] != [1, 0] or sum(data) % 2 != bits[-1]:
        raise ValueError(f"invalid bar code {bits}")
    return int("".join(map(str, data)), 2)


def _pix_fmt(codec: str, width: int, height: int) -> str:
    if codec == "mjpeg":
        return "yuvj420p"
    if codec in ("libx264", "h264") and (width % 2 or height % 2):
        return "yuv444p"  # 4:2:0 needs even dimensions in x264; 4:4:4 does not
    return "yuv420p"


def _add_video(
    container: av.container.OutputContainer,
    codec: str,
    rate: Fraction,
    size: tuple[int, int],
    *,
    time_base: Fraction,
    b_frames: bool = True,
    gop: int | None = None,
) -> av.VideoStream:
    options = _X264_OPTIONS if codec in ("libx264", "h264") else {}
    stream = container.add_stream(codec, rate=rate, options=options)
    stream.width, stream.height = size
    stream.pix_fmt = _pix_fmt(codec, *size)
    stream.codec_context.time_base = time_base
    stream.codec_context.thread_count = 1  # deterministic packet output, and tiny frames
    if not b_frames:
        stream.codec_context.max_b_frames = 0
    if gop is not None:
        stream.codec_context.gop_size = gop
    return stream


def _encode(
    container: av.container.OutputContainer,
    stream: av.VideoStream,
    pictures: list[np.ndarray],
    pts: list[int],
) -> None:
    for picture, p in zip(pictures, pts, strict=True):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), "rgb24")
        frame.pts, frame.time_base = p, stream.codec_context.time_base
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _add_audio(container: av.container.OutputContainer, rate: int = 44100) -> av.AudioStream:
    """Add a mono audio stream: AAC, or 16-bit PCM in AVI (must precede any mux)."""
    codec = "pcm_s16le" if container.format.name == "avi" else "aac"
    return container.add_stream(codec, rate=rate, layout="mono")


def _encode_tone(container: av.container.OutputContainer, stream: av.AudioStream, duration_s: float) -> None:
    """Encode ``duration_s`` of a 440 Hz sine at amplitude 0.3."""
    rate = stream.rate
    pcm = stream.codec_context.name == "pcm_s16le"
    total = round(duration_s * rate)
    for start in range(0, total, 1024):
        t = np.arange(start, min(start + 1024, total)) / rate
        wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        data, fmt = ((wave * 32767).astype(np.int16), "s16") if pcm else (wave, "fltp")
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate, frame.pts = rate, start
        frame.time_base = Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def make_clip(
    path: StrPath,
    *,
    n_frames: int = 30,
    fps: int | Fraction = 25,
    size: tuple[int, int] = (160, 96),
    codec: str = "libx264",
    faststart: bool = False,
    audio: bool = False,
    pattern: Pattern = "moving",
    gop: int | None = None,
) -> Clip:
    """Write a constant-frame-rate clip of ``render_frame(i, size, pattern)`` frames.

    Container from the suffix (.mp4/.mov/.mkv/.avi); frame ``i`` has pts ``i / fps``.
    ``size`` is ``(width, height)``; odd sizes work (h264 switches to yuv444p, see the
    module docstring).  ``faststart`` moves the mp4 ``moov`` box before ``mdat``;
    ``audio`` adds a mono 440 Hz tone as long as the video (AAC; PCM in avi).  ``gop``
    sets the keyframe interval (libx264 default: one keyframe for short clips).
    """
    path = Path(path)
    rate = Fraction(fps)
    fmt_options = {**_BITEXACT, "movflags": "+faststart"} if faststart else _BITEXACT
    if faststart and path.suffix not in (".mp4", ".mov", ".m4v"):
        raise ValueError("faststart only applies to mp4/mov")
    with av.open(path, "w", options=fmt_options) as container:
        b_frames = container.format.name != "avi"
        stream = _add_video(container, codec, rate, size, time_base=1 / rate, b_frames=b_frames, gop=gop)
        sound = _add_audio(container) if audio else None
        pictures = [render_frame(i, size, pattern) for i in range(n_frames)]
        _encode(container, stream, pictures, list(range(n_frames)))
        if sound is not None:
            _encode_tone(container, sound, float(n_frames / rate))
        pix_fmt = stream.pix_fmt or ""
    stamps = tuple(float(i / rate) for i in range(n_frames))
    return Clip(path, n_frames, *size, rate, codec, pix_fmt, stamps, has_audio=audio)


def make_vfr_clip(
    path: StrPath,
    timestamps_s: list[float],
    *,
    size: tuple[int, int] = (160, 96),
    codec: str = "libx264",
) -> Clip:
    """Write a variable-frame-rate clip whose frame ``i`` has pts ``timestamps_s[i]``.

    Encoder time base 1/90000, kept as-is by mp4 (mkv rounds to 1 ms).  B-frames are off:
    with them the mp4 muxer writes a wrong duration for VFR input.  Decoded
    ``frame.pts * frame.time_base`` equals the requested times to well under 1 ms.
    ``Clip.fps`` is the mean rate.
    """
    path = Path(path)
    times = [float(t) for t in timestamps_s]
    if len(times) < 2 or times[0] < 0 or any(b <= a for a, b in itertools.pairwise(times)):
        raise ValueError("need >= 2 strictly increasing, non-negative timestamps")
    tb = Fraction(1, 90000)
    rate = Fraction((len(times) - 1) / (times[-1] - times[0])).limit_denominator(1001)
    with av.open(path, "w", options=_BITEXACT) as container:
        stream = _add_video(container, codec, rate, size, time_base=tb, b_frames=False)
        pictures = [render_frame(i, size) for i in range(len(times))]
        _encode(container, stream, pictures, [round(t / tb) for t in times])
        pix_fmt = stream.pix_fmt or ""
    return Clip(path, len(times), *size, rate, codec, pix_fmt, tuple(times))


def make_rotated_clip(
    path: StrPath,
    rotation_deg: int = 90,
    *,
    n_frames: int = 30,
    fps: int | Fraction = 25,
    size: tuple[int, int] = (96, 160),
    codec: str = "libx264",
) -> Clip:
    """Write an .mp4/.mov that a player must rotate ``rotation_deg`` clockwise for display.

    ``size`` is the upright (displayed) size; the coded frames are the upright pictures
    turned ``rotation_deg`` counter-clockwise (like a phone recording), plus a display
    matrix (``VideoStream.set_display_rotation``, or patched into ``tkhd`` on PyAV
    versions without it).  For ``rotation_deg=90`` the ``tkhd`` matrix is
    ``[0, 1, 0; -1, 0, 0; 0, 0, 1]`` (what phones write), PyAV decodes frames with
    ``frame.rotation == -90`` (PyAV reports the counter-clockwise angle: 180 -> -180,
    270 -> 90), and ``np.rot90(frame.to_ndarray(format="rgb24"), k=frame.rotation // 90)``
    (here ``k=-1``, i.e. clockwise) is upright, so :func:`read_index` works on it.
    OpenCV's ``VideoCapture`` reports ``CAP_PROP_ORIENTATION_META == 90`` and
    auto-rotates.
    """
    path = Path(path)
    if rotation_deg % 90 or path.suffix not in (".mp4", ".mov"):
        raise ValueError("need a multiple of 90 degrees and an .mp4/.mov path")
    quarter = rotation_deg % 360 // 90
    rate = Fraction(fps)
    pictures = [np.rot90(render_frame(i, size), k=quarter) for i in range(n_frames)]
    coded_size = (pictures[0].shape[1], pictures[0].shape[0])
    with av.open(path, "w", options=_BITEXACT) as container:
        stream = _add_video(container, codec, rate, coded_size, time_base=1 / rate)
        has_api = hasattr(stream, "set_display_rotation")  # new in PyAV 18
        if has_api:
            stream.set_display_rotation(-(rotation_deg % 360))  # PyAV's angle is CCW
        _encode(container, stream, pictures, list(range(n_frames)))
        pix_fmt = stream.pix_fmt or ""
    if not has_api:
        _write_tkhd_rotation(path, quarter)
    stamps = tuple(float(i / rate) for i in range(n_frames))
    reported = (-90 * quarter + 180) % 360 - 180  # PyAV's range is [-180, 180)
    return Clip(path, n_frames, *size, rate, codec, pix_fmt, stamps, reported)


def _write_tkhd_rotation(path: Path, quarter: int) -> None:
    """Write the clockwise ``90 * quarter`` display matrix into the mp4's (only) ``tkhd``.

    Same bytes as the mov muxer writes for ``set_display_rotation``: ``[a b u; c d v;
    x y w]`` with a=d=cos, b=-c=sin (16.16 fixed point) and w=1 (2.30).
    """
    data = bytearray(path.read_bytes())
    moov = next(offset for kind, offset, _ in mp4_boxes(path) if kind == "moov")
    box = data.index(b"tkhd", moov) - 4
    at = box + (60 if data[box + 8] == 1 else 48)  # skip header, times, layer, volume
    cos, sin = [(1, 0), (0, 1), (-1, 0), (0, -1)][quarter]
    matrix = (cos << 16, sin << 16, 0, -sin << 16, cos << 16, 0, 0, 0, 1 << 30)
    data[at : at + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(data)


def make_audio_only(path: StrPath, *, duration_s: float = 1.0, sample_rate: int = 44100) -> Path:
    """Write a file whose only stream is a mono 440 Hz AAC tone (.m4a/.mp4/.mkv...).

    ``container.streams.video`` is empty, so ``container.decode(video=0)`` raises
    ``IndexError`` (not an ``av`` error).
    """
    path = Path(path)
    with av.open(path, "w", options=_BITEXACT) as container:
        _encode_tone(container, _add_audio(container, sample_rate), duration_s)
    return path


def make_image(path: StrPath, *, size: tuple[int, int] = (64, 48), index: int = 0) -> Path:
    """Write ``render_frame(index, size, "static")`` as a still .png (lossless) or .jpg.

    ``av.open`` reads it (png_pipe / jpeg_pipe demuxer) as one video stream with one
    frame: ``time_base=1/25``, ``average_rate=25``, ``frames=0``, ``duration`` and
    ``start_time`` None, ``frame.pts == 0``; png decodes as rgb24, jpg as yuvj420p.
    """
    path = Path(path)
    av.VideoFrame.from_ndarray(render_frame(index, size, "static"), "rgb24").save(path)
    return path


def make_text_as_mp4(path: StrPath) -> Path:
    """Write plain text under a video name; ``av.open`` raises ``av.error.InvalidDataError``."""
    path = Path(path)
    path.write_text("this is not a video\n" * 20)
    return path


def make_empty(path: StrPath) -> Path:
    """Write a zero-byte file; ``av.open`` raises ``av.error.InvalidDataError``."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def truncate(src: StrPath, dst: StrPath, fraction: float = 0.5) -> Path:
    """Copy the first ``int(fraction * size)`` bytes of ``src`` to ``dst``.

    Observed for ``make_clip`` output cut at 0.5:

    * mp4, moov at the end: ``av.open`` raises ``av.error.InvalidDataError`` (no moov);
      a cut inside the moov gives ``av.error.EOFError`` or a stream-less/partial file.
    * mp4 with ``faststart``: opens with the full clip's metadata (``frames``,
      ``duration``); the last demuxed packet is partial with ``packet.is_corrupt``, and
      ``container.decode()`` raises ``InvalidDataError`` on it, losing the decoder's
      buffered (B-frame) frames: 36 of 100 frames for ``n_frames=100`` (38 when decoding
      per packet).  The 30-frame default gives 1 frame: its keyframe is a quarter of the
      file.  If the cut lands in an audio packet, video just ends early without error.
    * mkv: opens and ends early silently; avi: ``InvalidDataError`` at ``av.open``.
    """
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@dataclass(frozen=True)
class Corruption:
    """What :func:`corrupt_middle` damaged.

    ``packet_indices`` count video packets in file (decode) order; ``frame_indices``
    are the presentation-order indices of the frames those packets carry.
    """

    path: Path
    mode: str
    packet_indices: tuple[int, ...]
    frame_indices: tuple[int, ...]


def corrupt_middle(
    src: StrPath,
    dst: StrPath,
    *,
    n_packets: int = 1,
    mode: Literal["reject", "conceal"] = "reject",
) -> Corruption:
    """Copy ``src`` to ``dst`` with ``n_packets`` video packets from the middle damaged.

    Packet payloads are located by demuxing (``packet.pos``, then the payload bytes
    themselves, since mkv's ``pos`` points at the block header); container structure,
    sizes and timestamps stay intact.

    * ``"reject"``: zero each payload after its first 5 bytes (the h264 NAL length and
      NAL header survive, the slice header does not; for mpeg4 the VOP header goes).
      The decoder refuses the packet: ``packet.decode()`` raises
      ``av.error.InvalidDataError`` for it (with frame threading, a packet or two
      later), and ``container.decode()`` raises it mid-iteration, ending the generator
      and losing the frames the decoder held: 12 of 30 for the default mp4, against
      29 when decoding packet by packet and catching the error.
    * ``"conceal"``: zero the second half of each payload.  The decoder conceals it:
      no exception, every frame comes out, damaged ones with ``frame.is_corrupt``.
      Verified for ``n_packets=1`` on libx264 and mpeg4 clips of every pattern and
      several sizes; with more packets an occasional damaged frame goes unflagged.

    Deterministic.  Not meaningful for ffv1 (zeros there decode silently).
    """
    if mode not in ("reject", "conceal"):
        raise ValueError(f"unknown mode {mode!r}")
    data = bytearray(Path(src).read_bytes())
    with av.open(Path(src)) as container:
        found = [(p.pos, bytes(p), p.pts) for p in container.demux(video=0) if p.size]
    if len(found) < n_packets + 2:
        raise ValueError(f"{src} has too few video packets ({len(found)})")
    first = (len(found) - n_packets) // 2
    chosen = range(first, first + n_packets)
    for i in chosen:
        pos, payload, _ = found[i]
        start = data.find(payload, pos if pos is not None and pos >= 0 else 0)
        if start < 0:
            raise ValueError(f"packet {i} payload not found in {src}")
        keep = 5 if mode == "reject" else max(5, len(payload) // 2)
        data[start + keep : start + len(payload)] = bytes(len(payload) - keep)
    dst = Path(dst)
    dst.write_bytes(data)
    order = sorted(range(len(found)), key=lambda k: found[k][2] or 0)
    frames = tuple(sorted(order.index(i) for i in chosen))
    return Corruption(dst, mode, tuple(chosen), frames)


def mp4_boxes(path: StrPath) -> list[tuple[str, int, int]]:
    """Top-level ISO-BMFF boxes of an mp4 as ``(type, offset, size)``, in file order."""
    data = Path(path).read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        boxes.append((kind.decode("latin-1"), offset, size))
        offset += max(size, 8)
    return boxes

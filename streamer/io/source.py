"""PyAV frame source for files, URLs and cameras, decoded in a background thread.

``open_source(uri)`` probes the input at once (so bad input fails before any
output is created) and returns a :class:`VideoSource`. Iterating it starts a
decode thread that fills a bounded queue; the consumer gets :class:`Frame`
records with ``time_s`` from ``pts * time_base`` (variable frame rate comes out
right), turned upright by the rotation metadata.

Two queue policies:

* file sources block the decoder when the queue is full: nothing is lost;
* live sources (cameras, rtsp/udp/rtmp/srt, endless http, and files with
  ``live: live``, as the preview plays them) keep one frame, the newest: a new
  frame replaces one the pipeline has not taken yet, so a lagging pipeline
  always gets the newest frame (a deeper queue would hand it frames up to its
  depth old); drops are counted in :attr:`SourceStats.dropped`.

A file's queue holds at most ``prefetch_frames`` frames and at most
``prefetch_mb`` of pixels, whichever is fewer, so a 4K input cannot grow memory.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import av
import numpy as np

from streamer.errors import InputError, StreamError
from streamer.records import Frame

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp")
URL_SCHEMES = (*LIVE_SCHEMES, "http", "https", "hls")
CAMERA_PREFIX = "camera:"
_END = object()


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Where frames come from: what the user typed, resolved for ``av.open``."""

    uri: str
    kind: str  # "file" | "url" | "camera"
    target: str  # what av.open receives
    format: str | None = None  # forced demuxer (v4l2 for cameras)

    @property
    def stem(self) -> str:
        """A short name for output folders: file stem, camera id or URL path stem."""
        if self.kind == "camera":
            return "camera" + self.uri[len(CAMERA_PREFIX) :]
        if self.kind == "url":
            parsed = urlparse(self.uri)
            return Path(parsed.path).stem or parsed.hostname or "stream"
        return Path(self.uri).stem or "input"


def parse_input(uri: str) -> SourceSpec:
    """Classify ``uri`` as a camera (``camera:N``), a URL or a file path."""
    if uri.startswith(CAMERA_PREFIX):
        index = uri[len(CAMERA_PREFIX) :]
        if not index.isdigit():
            raise InputError(f"bad camera input {uri!r}: expected camera:N with N a number")
        return SourceSpec(uri, "camera", f"/dev/video{index}", "v4l2")
    scheme = urlparse(uri).scheme.lower()
    if scheme in URL_SCHEMES:
        return SourceSpec(uri, "url", uri)
    return SourceSpec(uri, "file", uri)


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(f"input not found: {path}")
    if os.path.isdir(path):
        raise InputError(f"input is a directory, not a video: {path}")
    if not os.access(path, os.R_OK):
        raise InputError(f"input is not readable (permission denied): {path}")
    if os.path.getsize(path) == 0:
        raise InputError(f"input is an empty file (0 bytes): {path}")


def _ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's own words for an error, without the file name repeated."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the probe learned about the video stream."""

    uri: str
    kind: str
    live: bool
    codec: str
    coded_width: int  # as stored; frames may come out rotated (see Frame.image)
    coded_height: int
    fps: float | None  # average rate, informational only
    time_base: Fraction
    declared_frames: int | None  # frame count the container claims, if any
    duration_s: float | None

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__}
        out["time_base"] = str(self.time_base)
        return out


@dataclass(slots=True)
class SourceStats:
    """Counters the decode thread keeps (read them after iteration ends)."""

    decoded: int = 0  # frames delivered to the queue
    dropped: int = 0  # live only: stale frames discarded because the consumer lagged
    decode_errors: int = 0  # packets the decoder rejected
    corrupt_frames: int = 0  # frames the decoder delivered but flagged as damaged
    missing_pts: int = 0  # frames whose time was extrapolated
    decode_s: float = 0.0  # wall time spent demuxing, decoding and converting
    rotated: int = 0  # degrees counter-clockwise the frames were turned to be upright
    stop_reason: str = ""
    error: str = ""


class VideoSource:
    """An opened video input. Iterate it once to get frames; close it when done.

    Args:
        spec: the parsed input.
        start_s / end_s: stream-time window in seconds (end 0 = to the end).
        max_frames: stop after this many frames (0 = no limit).
        autorotate: apply display-matrix rotation.
        decode_threads: FFmpeg decoder threads (0 = auto).
        live: "auto" | "live" | "file", see the module docstring.
        prefetch_mb / prefetch_frames: the queue's byte and frame budgets.
        open_timeout_s: network/camera timeout.
        max_decode_errors: undecodable packets tolerated before StreamError.
        options: extra FFmpeg demuxer options.
        realtime: deliver frames no faster than their timestamps (play a file like a
            live stream, e.g. for the preview).
    """

    def __init__(
        self,
        spec: SourceSpec,
        *,
        start_s: float = 0.0,
        end_s: float = 0.0,
        max_frames: int = 0,
        autorotate: bool = True,
        decode_threads: int = 0,
        live: str = "auto",
        prefetch_mb: int = 256,
        prefetch_frames: int = 32,
        open_timeout_s: float = 10.0,
        max_decode_errors: int = 50,
        options: dict[str, Any] | None = None,
        realtime: bool = False,
    ) -> None:
        self.spec = spec
        self.realtime = realtime
        self._clock_origin: float | None = None
        self.start_s = start_s
        self.end_s = end_s
        self.max_frames = max_frames
        self.autorotate = autorotate
        self.max_decode_errors = max_decode_errors
        self.stats = SourceStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._container = self._open(options or {}, open_timeout_s)
        try:
            self._stream = self._pick_stream()
            self._stream.thread_type = "AUTO"
            self._stream.codec_context.thread_count = decode_threads
            self.info = self._probe(live)
        except BaseException:
            self._container.close()
            raise
        frame_bytes = max(1, self.info.coded_width * self.info.coded_height * 3)
        by_budget = (prefetch_mb * 1024 * 1024) // frame_bytes
        self.queue_size = 1 if self.info.live else int(max(2, min(prefetch_frames, by_budget)))
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.queue_size)

    # -- probing -----------------------------------------------------------------
    def _open(self, options: dict[str, Any], timeout_s: float) -> av.container.InputContainer:
        spec = self.spec
        if spec.kind == "file":
            _check_file(spec.target)
        opts = {str(k): str(v) for k, v in options.items()}
        try:
            return av.open(
                spec.target,
                mode="r",
                format=spec.format,
                options=opts,
                timeout=None if spec.kind == "file" else timeout_s,
            )
        except av.error.FileNotFoundError as exc:
            what = "camera not found" if spec.kind == "camera" else "input not found"
            raise InputError(f"{what}: {spec.uri}") from exc
        except av.error.PermissionError as exc:
            raise InputError(f"input is not readable (permission denied): {spec.uri}") from exc
        except av.error.InvalidDataError as exc:
            raise InputError(
                f"not a video FFmpeg can read: {spec.uri} ({_ffmpeg_reason(exc)})"
            ) from exc
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"cannot open input {spec.uri}: {_ffmpeg_reason(exc)}") from exc

    def _pick_stream(self) -> av.video.stream.VideoStream:
        video = [s for s in self._container.streams if s.type == "video"]
        # cover art is stored as a one-frame "attached picture" video stream
        real = [s for s in video if not (s.disposition & av.stream.Disposition.attached_pic)]
        if not real:
            kinds = sorted({s.type for s in self._container.streams}) or ["none"]
            raise InputError(
                f"no video stream in {self.spec.uri} (streams found: {', '.join(kinds)})"
            )
        return real[0]

    def _probe(self, live: str) -> SourceInfo:
        stream, container = self._stream, self._container
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise InputError(f"video stream of {self.spec.uri} has no frame size; cannot decode it")
        if live == "auto":
            is_live = self.spec.kind == "camera" or (
                self.spec.kind == "url"
                and (
                    urlparse(self.spec.uri).scheme.lower() in LIVE_SCHEMES
                    or container.duration is None
                )
            )
        else:
            is_live = live == "live"
        rate = stream.average_rate or stream.guessed_rate
        duration_s = None
        if stream.duration is not None and stream.time_base is not None:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration_s = container.duration / av.time_base
        return SourceInfo(
            uri=self.spec.uri,
            kind=self.spec.kind,
            live=is_live,
            codec=ctx.name,
            coded_width=int(ctx.width),
            coded_height=int(ctx.height),
            fps=float(rate) if rate else None,
            time_base=stream.time_base or Fraction(1, 90000),
            declared_frames=int(stream.frames) if stream.frames else None,
            duration_s=duration_s,
        )

    # -- iteration ---------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise RuntimeError("a VideoSource can be iterated only once")
        self._thread = threading.Thread(target=self._decode_loop, name="streamer-decode", daemon=True)
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: Any) -> bool:
        """Queue ``item``; live sources drop the oldest frame instead of waiting."""
        drop_oldest = self.info.live and isinstance(item, Frame)
        while not self._stop.is_set():
            try:
                if drop_oldest:
                    self._queue.put_nowait(item)
                else:
                    self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if drop_oldest:
                    try:
                        self._queue.get_nowait()
                        self.stats.dropped += 1
                    except queue.Empty:
                        pass
        return False

    def _finish(self, item: Any) -> None:
        """Deliver the end marker (or an error) even if the queue is full."""
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    def _seek(self) -> None:
        if self.start_s <= 0:
            return
        tb = self._stream.time_base
        origin = self._stream.start_time or 0
        target = origin + int(self.start_s / tb)
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except av.FFmpegError:
            pass  # unseekable: frames before start are skipped while decoding

    def _decode_loop(self) -> None:
        stats = self.stats
        stream = self._stream
        tb = stream.time_base or Fraction(1, 90000)
        origin = stream.start_time
        step = 1.0 / (self.info.fps or 25.0)
        last_time: float | None = None
        t0 = time.perf_counter()
        try:
            self._seek()
            for packet in self._container.demux(stream):
                if self._stop.is_set():
                    stats.stop_reason = "stopped"
                    return
                try:
                    frames = packet.decode()
                except av.FFmpegError as exc:  # one bad packet; the next may decode
                    stats.decode_errors += 1
                    if stats.decode_errors > self.max_decode_errors:
                        raise StreamError(
                            f"stream broke: {stats.decode_errors} packets could not be decoded "
                            f"(last: {_ffmpeg_reason(exc)})"
                        ) from exc
                    continue
                for av_frame in frames:
                    if av_frame.is_corrupt:
                        stats.corrupt_frames += 1
                    if av_frame.pts is not None:
                        if origin is None:
                            origin = av_frame.pts
                        time_s = float((av_frame.pts - origin) * tb)
                    else:
                        stats.missing_pts += 1
                        time_s = 0.0 if last_time is None else last_time + step
                    if time_s < self.start_s - 1e-6:
                        continue
                    if self.end_s > 0 and time_s >= self.end_s - 1e-9:
                        stats.stop_reason = "end_s"
                        return
                    last_time = time_s
                    image = self._to_rgb(av_frame)
                    if self.realtime:
                        self._pace(time_s)
                    frame = Frame(stats.decoded, av_frame.pts, time_s, image, time.time())
                    stats.decode_s += time.perf_counter() - t0
                    if not self._put(frame):
                        stats.stop_reason = "stopped"
                        return
                    t0 = time.perf_counter()
                    stats.decoded += 1
                    if self.max_frames and stats.decoded >= self.max_frames:
                        stats.stop_reason = "max_frames"
                        return
            stats.stop_reason = "eof"
            self._check_complete()
        except StreamError as exc:
            stats.stop_reason = "error"
            stats.error = str(exc)
            self._finish(exc)
        except (av.FFmpegError, OSError, EOFError) as exc:
            stats.stop_reason = "error"
            err = StreamError(
                f"stream broke after {stats.decoded} frames: {_ffmpeg_reason(exc)}"
            )
            stats.error = str(err)
            self._finish(err)
        except BaseException as exc:  # a bug: hand it to the consumer thread
            stats.stop_reason = "error"
            stats.error = repr(exc)
            self._finish(exc)
        finally:
            stats.decode_s += time.perf_counter() - t0
            self._finish(_END)

    def _pace(self, time_s: float) -> None:
        """Hold a frame back until its presentation time (a file played like a live stream)."""
        now = time.monotonic()
        if self._clock_origin is None:
            self._clock_origin = now - time_s
        delay = self._clock_origin + time_s - now
        if delay > 0:
            self._stop.wait(delay)

    def _check_complete(self) -> None:
        """A file that ends well short of the frame count its header declares is broken."""
        declared = self.info.declared_frames
        if self.info.kind != "file" or not declared or self.start_s > 0:
            return
        got = self.stats.decoded + self.stats.decode_errors
        if got < declared - max(2, declared // 50):
            raise StreamError(
                f"stream ended early: decoded {self.stats.decoded} of the {declared} frames "
                f"the container declares (file truncated or damaged)"
            )

    def _to_rgb(self, av_frame: av.VideoFrame) -> np.ndarray:
        image = av_frame.to_ndarray(format="rgb24")
        if self.autorotate:
            k = _rot90_turns(av_frame)
            if k:
                self.stats.rotated = k * 90
                image = np.ascontiguousarray(np.rot90(image, k))
        return image

    def damage(self) -> str:
        """A one-line description of decoding damage so far, or "" when there was none."""
        parts = []
        if self.stats.decode_errors:
            parts.append(f"{self.stats.decode_errors} packets could not be decoded")
        if self.stats.corrupt_frames:
            parts.append(f"{self.stats.corrupt_frames} frames were decoded with errors")
        return "input is damaged: " + " and ".join(parts) if parts else ""

    def pending(self) -> int:
        """Frames decoded and waiting in the queue."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop the decode thread and release the container (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            # unblock a producer waiting on a full queue
            while self._thread.is_alive():
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.05)
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rot90_turns(av_frame: av.VideoFrame) -> int:
    """Number of counter-clockwise quarter turns (np.rot90 k) that make the frame upright."""
    rotation = av_frame.rotation  # display matrix angle, degrees, counter-clockwise
    if not rotation:
        return 0
    return int(round(rotation / 90.0)) % 4


def open_source(uri: str, source_config: dict[str, Any] | None = None) -> VideoSource:
    """Parse and probe ``uri`` with the ``source`` section of a config."""
    cfg = dict(source_config or {})
    spec = parse_input(uri)
    return VideoSource(
        spec,
        start_s=float(cfg.get("start_s", 0.0)),
        end_s=float(cfg.get("end_s", 0.0)),
        max_frames=int(cfg.get("max_frames", 0)),
        autorotate=bool(cfg.get("autorotate", True)),
        decode_threads=int(cfg.get("decode_threads", 0)),
        live=str(cfg.get("live", "auto")),
        prefetch_mb=int(cfg.get("prefetch_mb", 256)),
        prefetch_frames=int(cfg.get("prefetch_frames", 32)),
        open_timeout_s=float(cfg.get("open_timeout_s", 10.0)),
        max_decode_errors=int(cfg.get("max_decode_errors", 50)),
        options=cfg.get("options") or {},
        realtime=bool(cfg.get("realtime", False)),
    )

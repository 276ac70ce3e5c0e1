"""PyAV video encoder that keeps the input's frame timing.

Frames are encoded with the presentation times they arrived with (so a
variable-frame-rate input stays variable), H.264 through libx264 when PyAV has
it and MPEG-4 Part 2 otherwise. Dimensions are made even (yuv420p needs it) by
repeating the last row/column, or by scaling when ``max_height`` asks for a
smaller overlay. The file is written under a ``.partial`` name and renamed into
place by :meth:`VideoWriter.close`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streamer.io.atomic import commit, partial_path

#: MPEG-4 Part 2 stores the time base in 16 bits
_MPEG4_MAX_TB_DEN = 65535


def pick_codec(requested: str = "auto") -> str:
    """``libx264`` when available for ``auto``, else ``mpeg4``; a named codec is checked."""
    if requested == "auto":
        return "libx264" if "libx264" in av.codecs_available else "mpeg4"
    try:
        av.codec.Codec(requested, "w")
    except (av.codec.codec.UnknownCodecError, ValueError) as exc:
        raise ValueError(f"video encoder {requested!r} is not available in this PyAV build") from exc
    return requested


def output_size(width: int, height: int, max_height: int = 0) -> tuple[int, int]:
    """Even (width, height) of the encoded video for a ``width``×``height`` input."""
    if max_height and height > max_height:
        scale = max_height / height
        width, height = round(width * scale), max_height
    return width + width % 2, height + height % 2


class VideoWriter:
    """Encode RGB frames to a video file, one call per frame.

    Args:
        path: final output path (its suffix picks the container).
        fps: nominal frame rate, used for the stream header and for frames
            whose time is missing.
        time_base: time base of the timestamps (the input stream's, ideally).
        codec: ``auto`` or a PyAV encoder name.
        crf / preset: libx264 quality and speed knobs.
        max_height: scale frames down to at most this many rows (0 = keep).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float = 25.0,
        time_base: Fraction | None = None,
        codec: str = "auto",
        crf: int = 23,
        preset: str = "superfast",
        max_height: int = 0,
    ) -> None:
        self.path = Path(path)
        self.temp = partial_path(self.path)
        self.codec = pick_codec(codec)
        self.fps = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(25)
        tb = time_base or Fraction(1, 90000)
        if self.codec == "mpeg4" and tb.denominator > _MPEG4_MAX_TB_DEN:
            tb = Fraction(1, 1000)
        self.time_base = tb
        self.crf, self.preset, self.max_height = crf, preset, max_height
        self.frames_written = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._last_pts: int | None = None
        self._in_size: tuple[int, int] | None = None
        self.size: tuple[int, int] | None = None

    def _open(self, width: int, height: int) -> None:
        self._in_size = (width, height)
        self.size = output_size(width, height, self.max_height)
        fmt = {".mkv": "matroska", ".avi": "avi", ".mov": "mov"}.get(self.path.suffix.lower(), "mp4")
        container = av.open(str(self.temp), mode="w", format=fmt)
        try:
            stream = container.add_stream(self.codec, rate=self.fps)
            stream.width, stream.height = self.size
            stream.pix_fmt = "yuv420p"
            stream.time_base = self.time_base
            stream.codec_context.time_base = self.time_base
            if self.codec == "libx264":
                stream.options = {"crf": str(self.crf), "preset": self.preset}
            else:
                stream.codec_context.bit_rate = 4_000_000
        except BaseException:
            container.close()
            raise
        self._container, self._stream = container, stream

    def write(self, image: np.ndarray, time_s: float | None = None) -> None:
        """Encode one (H, W, 3) uint8 RGB frame shown at ``time_s`` seconds."""
        height, width = image.shape[:2]
        if self._container is None:
            self._open(width, height)
        if (width, height) != self._in_size:
            raise ValueError(
                f"frame size changed mid-stream: {width}x{height}, writer opened at "
                f"{self._in_size[0]}x{self._in_size[1]}"  # type: ignore[index]
            )
        assert self._stream is not None and self._container is not None and self.size is not None
        out_w, out_h = self.size
        if (out_w, out_h) != (width, height) and out_h == height + height % 2:
            # odd size, no scaling: repeat the last row/column
            image = np.pad(image, ((0, out_h - height), (0, out_w - width), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if frame.width != out_w or frame.height != out_h:
            frame = frame.reformat(width=out_w, height=out_h, format="yuv420p", interpolation="AREA")
        if time_s is None:
            pts = 0 if self._last_pts is None else self._last_pts + round(1 / (self.fps * self.time_base))
        else:
            pts = round(Fraction(time_s).limit_denominator(10**9) / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # the muxer needs strictly increasing timestamps
        frame.pts, frame.time_base = pts, self.time_base
        self._last_pts = pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file into place.

        A writer that never got a frame writes no file.
        """
        if self._container is None:
            return
        container, stream = self._container, self._stream
        self._container = None
        try:
            assert stream is not None
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
        commit(self.temp, self.path)

    def abort(self) -> None:
        """Drop the partial file."""
        if self._container is not None:
            try:
                self._container.close()
            except av.FFmpegError:
                pass
            self._container = None
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close()

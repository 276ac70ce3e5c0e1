"""Live preview: the overlay in a window, or as an MJPEG stream on 127.0.0.1.

The preview always shows the newest frame. The sink keeps only the latest JPEG;
each HTTP client waits for a frame newer than the one it last sent and skips
any it missed, so a slow viewer never builds up a backlog (and never slows the
pipeline down). Every frame carries its decode wall-clock time as a bar code in
its top-left corner (:func:`stamp` / :func:`read_stamp`), so source-to-screen
latency can be measured from what the viewer receives.

Endpoints: ``/`` a page showing the stream, ``/stream`` multipart MJPEG,
``/frame.jpg`` the newest frame.
"""

from __future__ import annotations

import http.server
import threading
import time
from typing import Any

import cv2
import numpy as np

from streamer.io.overlay_sink import MeshLayer, draw_layers
from streamer.records import Packet

_BITS = 48  # milliseconds since the epoch fit in 48 bits until the year 10889
_CELL = 6  # bar-code cell size in pixels (survives JPEG at quality 80)
_BOUNDARY = "streamerframe"


def stamp(image: np.ndarray, wall_s: float) -> np.ndarray:
    """``image`` (a copy) with ``wall_s`` in milliseconds as a 48-cell black/white bar code
    between a white and a black marker cell, top-left."""
    out = image.copy()
    ms = int(round(wall_s * 1000.0))
    cells = [1, 0] + [(ms >> (_BITS - 1 - i)) & 1 for i in range(_BITS)]
    width = len(cells) * _CELL
    if out.shape[0] < _CELL or out.shape[1] < width:
        return out  # too small to carry a stamp
    for i, bit in enumerate(cells):
        out[:_CELL, i * _CELL : (i + 1) * _CELL] = 255 if bit else 0
    return out


def read_stamp(image: np.ndarray) -> float | None:
    """The wall-clock seconds :func:`stamp` wrote, or None if there is no valid stamp."""
    n = _BITS + 2
    if image.shape[0] < _CELL or image.shape[1] < n * _CELL:
        return None
    grey = image[:_CELL, : n * _CELL].astype(np.float32)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    centres = grey[_CELL // 2, _CELL // 2 :: _CELL][:n]
    bits = (centres > 127).astype(int)
    if bits[0] != 1 or bits[1] != 0:
        return None
    ms = 0
    for b in bits[2:]:
        ms = (ms << 1) | int(b)
    return ms / 1000.0


def read_mjpeg(url: str, seconds: float, timeout_s: float = 10.0) -> list[tuple[float, np.ndarray]]:
    """A viewer: (arrival wall time, BGR image) of each part of the multipart MJPEG stream at
    ``url`` for ``seconds`` from the first frame (the latency benchmark and the tests);
    ``timeout_s``: the longest wait for any data."""
    import re
    import urllib.request

    out: list[tuple[float, np.ndarray]] = []
    deadline = float("inf")
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        if "multipart/x-mixed-replace" not in resp.headers["Content-Type"]:
            raise ValueError(f"{url} is not an MJPEG stream")
        buffer = b""
        while time.time() < deadline:
            chunk = resp.read1(65536)
            if not chunk:
                break
            buffer += chunk
            while True:
                m = re.search(rb"Content-Length: (\d+)\r\n\r\n", buffer)
                if not m or len(buffer) < m.end() + int(m.group(1)):
                    break
                jpeg = buffer[m.end() : m.end() + int(m.group(1))]
                buffer = buffer[m.end() + int(m.group(1)) :]
                out.append((time.time(), cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)))
                if len(out) == 1:
                    deadline = out[0][0] + seconds
    return out


def watch_preview(input_uri: str, args: list[str], seconds: float,
                  timeout_s: float = 60.0) -> list[tuple[float, np.ndarray]]:
    """Start ``streamer preview INPUT --headless --port 0 ARGS`` in a child process, watch its
    MJPEG stream with :func:`read_mjpeg` for ``seconds`` from the first frame, then stop it
    with Ctrl-C (the latency benchmark and the tests).

    Raises:
        RuntimeError: the preview did not announce its address (its stderr is in the message).
    """
    import os
    import re
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "streamer", "preview", str(input_uri), "--headless", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            raise RuntimeError(f"preview did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
        return read_mjpeg(f"http://127.0.0.1:{m.group(1)}/stream", seconds, timeout_s=timeout_s)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


class LatestFrame:
    """The newest JPEG and its sequence number; readers block until a newer one exists."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self.closed = False

    def publish(self, jpeg: bytes) -> None:
        with self._cond:
            self._jpeg, self._seq = jpeg, self._seq + 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def newer_than(self, seq: int, timeout_s: float = 1.0) -> tuple[int, bytes | None]:
        """(sequence, jpeg) of a frame newer than ``seq``, or (seq, None) on timeout/close."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self.closed, timeout=timeout_s)
            if self._seq > seq and self._jpeg is not None:
                return self._seq, self._jpeg
            return seq, None


def _handler(latest: LatestFrame) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep the terminal for the progress line
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/":
                body = b"<html><body style='margin:0;background:#000'><img src='/stream'></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/frame.jpg":
                _, jpeg = latest.newer_than(0, timeout_s=5.0)
                if jpeg is None:
                    self.send_error(503, "no frame yet")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(jpeg)))
                self.end_headers()
                self.wfile.write(jpeg)
            elif self.path == "/stream":
                self._stream()
            else:
                self.send_error(404)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            seq = 0
            try:
                while not latest.closed:
                    seq, jpeg = latest.newer_than(seq)
                    if jpeg is None:
                        continue
                    self.wfile.write(
                        f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    )
                    self.wfile.write(jpeg)
                    self.wfile.write(b"\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer went away

    return Handler


class MjpegServer:
    """An MJPEG server bound to 127.0.0.1 only, serving a :class:`LatestFrame`."""

    def __init__(self, latest: LatestFrame, port: int = 8765) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler(latest))
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="streamer-mjpeg", daemon=True)

    def start(self) -> MjpegServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class PreviewSink:
    """Draws each packet (the overlay's layers: skeletons, boxes and ids, pitch lines, minimap and
    speeds, meshes when asked), stamps its decode time, and shows it (window) or publishes it (MJPEG)."""

    name = "preview"

    def __init__(self, latest: LatestFrame | None = None, *, window: str | None = None,
                 jpeg_quality: int = 80, max_height: int = 720, meshes: bool = False) -> None:
        self.latest, self.window = latest, window
        self.quality, self.max_height = jpeg_quality, max_height
        self.mesh = MeshLayer() if meshes else None
        self.shown = 0

    def write(self, packet: Packet) -> None:
        image = draw_layers(packet, self.mesh)
        if self.max_height and image.shape[0] > self.max_height:
            scale = self.max_height / image.shape[0]
            image = cv2.resize(image, (round(image.shape[1] * scale), self.max_height), interpolation=cv2.INTER_AREA)
        image = stamp(image, packet.frame.wall_s or time.time())
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if self.latest is not None:
            ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if ok:
                self.latest.publish(jpeg.tobytes())
        if self.window is not None:
            cv2.imshow(self.window, bgr)
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                raise KeyboardInterrupt  # q / Esc closes the preview like Ctrl-C
        self.shown += 1

    def counts(self) -> dict[str, int]:
        return {"preview_frames": self.shown}

    def close(self) -> None:
        if self.latest is not None:
            self.latest.close()
        if self.window is not None:
            cv2.destroyWindow(self.window)

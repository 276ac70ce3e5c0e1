"""The frame loop: source thread → stages (this thread) → sink thread.

Threads (as in supervision's ``process_video``):

* the source decodes into a bounded queue (``streamer.io.source``);
* this thread groups frames into windows of ``pipeline.window`` packets and
  runs the stages in order on each window — stateful stages live on one
  thread, so they need no locks. With ``pipeline.thread_split`` the stages
  are cut into groups, each on a thread of its own behind a bounded queue of
  one window (:class:`StageThread`): each stage still sees every window in
  order on one thread, so the outputs are the same, but one group's window
  overlaps the next group's previous one (detection with the keypoint model,
  the keypoint model with the mesh fit) instead of leaving a core idle. Live
  sources keep every stage on this thread (frames queued between stage
  threads would only add latency; the source skips to the newest instead);
* a sink thread behind a second bounded queue draws, encodes and writes.

Before the stages, each frame gets its shot (``streamer.detection.shots``, a few
frames late): windows never mix shots, and at a cut every stage first hands over
what it holds of the old shot and then restarts (``streamer.stages.end_shot``).

Whatever ends the run — end of stream, a stream that breaks mid-way, Ctrl-C, a
stage or sink that raises — the sinks are closed and renamed into place with
every frame finished before the end, and ``run.json`` records the status,
counts and per-stage wall and CPU time (:class:`Timer`). A stage or sink that raises leaves
``status: failed``, its name under ``failed`` and the one-line error in
``run.json``, and its traceback in ``run.log``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from streamer import __version__
from streamer.config import Config, check_ranges, config_digest, load_config, section_to
from streamer.errors import ConfigError, OutputError, StreamerError, StreamError
from streamer.io import report_sink
from streamer.io.atomic import commit, partial_path, write_json
from streamer.io.source import VideoSource, open_source, parse_input
from streamer.progress import make_progress
from streamer.records import Frame, Packet
from streamer.runtime import limit_torch_threads, tune_allocator
from streamer.signals import sigint_ignored
from streamer.stages import Stage, StageContext, build_stage, check_order, end_shot

if TYPE_CHECKING:
    from streamer.detection.shots import ShotDetector

EXIT_OK, EXIT_STREAM_BROKEN, EXIT_INTERRUPTED = 0, 1, 130
EXIT_FAILED = 1


class Failure(Exception):
    """A stage or sink raised mid-run: which one, and the exception itself (``__cause__``)."""

    def __init__(self, kind: str, name: str, exc: BaseException) -> None:
        super().__init__(f"{kind} '{name}' failed: {_one_line(exc)}")
        self.kind, self.name, self.exc = kind, name, exc


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (our own errors without the type)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, StreamerError) else f"{type(exc).__name__}: {text}"


class Sink(Protocol):
    name: str

    def write(self, packet: Packet) -> None: ...
    def counts(self) -> dict[str, int]: ...
    def close(self) -> None: ...


@dataclass(slots=True)
class Timer:
    """Accumulated wall and CPU time of one stage or sink.

    ``cpu_seconds``: for a stage, the process's CPU time while it ran less what the
    other Python threads (decode, sinks) used meanwhile, so a model's own worker
    threads count and the sink thread's do not (native threads other libraries start
    on their own, e.g. FFmpeg's decoder or x264's encoder threads, still count); for a
    sink, the sink thread's own CPU time. On a machine other processes load, CPU time
    is what a stage costs; wall time also holds the waits for a core.
    """

    seconds: float = 0.0
    calls: int = 0
    frames: int = 0
    cpu_seconds: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        per_frame = 1000.0 * self.seconds / self.frames if self.frames else 0.0
        cpu_per_frame = 1000.0 * self.cpu_seconds / self.frames if self.frames else 0.0
        return {"seconds": round(self.seconds, 4), "calls": self.calls, "frames": self.frames,
                "ms_per_frame": round(per_frame, 3), "cpu_seconds": round(self.cpu_seconds, 4),
                "cpu_ms_per_frame": round(cpu_per_frame, 3)}


def _other_threads_cpu_s() -> float:
    """CPU seconds used so far by the live Python threads other than the calling one."""
    total = 0.0
    me = threading.get_ident()
    for thread in threading.enumerate():
        if thread.ident is None or thread.ident == me:
            continue
        try:
            total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, AttributeError):  # ended meanwhile, or not a POSIX system
            pass
    return total


class ThreadClock:
    """CPU time of the calling thread alone: a stage's clock while other stage threads run
    meanwhile (their CPU must not count), so native worker threads the stage starts (LiteRT's
    pool) do not count either."""

    def __init__(self) -> None:
        self._start = 0.0

    def start(self) -> None:
        self._start = time.thread_time()

    def elapsed(self) -> float:
        return time.thread_time() - self._start


class StageClock:
    """CPU time of work done on the calling thread and its helper threads (see :class:`Timer`)."""

    def __init__(self) -> None:
        self._process = self._others = 0.0

    def start(self) -> None:
        self._process, self._others = time.process_time(), _other_threads_cpu_s()

    def elapsed(self) -> float:
        others = _other_threads_cpu_s() - self._others
        return max(0.0, time.process_time() - self._process - max(0.0, others))


@dataclass(slots=True)
class RunResult:
    """How a run ended, and the report written to ``run.json``."""

    status: str  # completed | damaged | stream_error | interrupted | output_error | failed
    exit_code: int
    out_dir: Path
    error: str = ""
    report: dict[str, Any] = field(default_factory=dict)


class _QueueThread:
    """A thread of its own fed through a bounded queue. Once :meth:`_stopped` (a failure), what
    still comes in is drained and dropped, so the producer never blocks; :meth:`_join` waits
    until everything queued before it has been handled. Subclasses set their own state before
    calling ``__init__``, which starts the thread."""

    _END = object()

    def __init__(self, name: str, maxsize: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _stopped(self) -> bool:
        raise NotImplementedError

    def _handle(self, item: Any) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if not self._stopped():
                self._handle(item)

    def _join(self) -> None:
        self._queue.put(self._END)
        self._thread.join()


class SinkWorker(_QueueThread):
    """Feeds finished packets to the sinks on a thread of its own."""

    def __init__(self, sinks: list[Sink], maxsize: int = 2) -> None:
        self.sinks = sinks
        self.timers = {s.name: Timer() for s in sinks}
        self.error: BaseException | None = None
        self.failed_sink = ""  # the sink that raised ``error``
        super().__init__("streamer-sinks", maxsize)

    def _stopped(self) -> bool:
        return self.error is not None

    def _handle(self, item: list[Packet]) -> None:
        for sink in self.sinks:
            timer = self.timers[sink.name]
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                for packet in item:
                    sink.write(packet)
            except BaseException as exc:  # handed to the main thread
                self.error, self.failed_sink = exc, sink.name
                break
            timer.seconds += time.perf_counter() - t0
            timer.cpu_seconds += time.thread_time() - c0
            timer.calls += 1
            timer.frames += len(item)

    def put(self, packets: list[Packet]) -> None:
        """Queue finished packets; :class:`Failure` once a sink has raised."""
        if self.error is not None:
            raise Failure("sink", self.failed_sink, self.error) from self.error
        if packets:
            self._queue.put(packets)

    def finish(self) -> None:
        """Wait until every queued packet is written; then close the sinks."""
        self._join()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # close the others anyway
                if self.error is None:
                    self.error, self.failed_sink = exc, sink.name


Window = tuple[list[Packet], bool, bool]  # packets, final (flush after), shot_end (end_shot after)


class StageThread(_QueueThread):
    """A group of stages run in order on a thread of its own; windows come in through a queue
    of one and go on to ``deliver`` (the next group's :meth:`put`, or the sinks).

    A stage (or ``deliver``) that raises stops the group: its :class:`Failure` is kept in
    ``error``, and what still comes in is drained and dropped so no producer blocks.
    """

    def __init__(self, run: Callable[[list[Packet], bool, bool], list[Packet]],
                 deliver: Callable[[Window], None], name: str) -> None:
        self._run = run
        self._deliver = deliver
        self.error: Failure | None = None
        self.abort = False  # set on Ctrl-C: windows still queued are dropped
        super().__init__(f"streamer-{name}", 1)

    def _stopped(self) -> bool:
        return self.error is not None or self.abort

    def _handle(self, item: Window) -> None:
        packets, final, shot_end = item
        try:
            self._deliver((self._run(packets, final, shot_end), final, shot_end))
        except Failure as exc:
            self.error = exc
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = Failure("stage", "pipeline", exc)

    def put(self, window: Window) -> None:
        """Queue a window (blocks while the group is busy with the one before)."""
        self._queue.put(window)

    def finish(self) -> None:
        """Wait until every queued window has been through the group."""
        self._join()


def split_stages(stages: list[Stage], names: list[str], split: list[str]) -> list[list[Stage]]:
    """``stages`` (listed in the config as ``names``) cut before each one named in ``split``
    (names not in the run are ignored)."""
    groups: list[list[Stage]] = [[]]
    for stage, name in zip(stages, names, strict=True):
        if name in split and groups[-1]:
            groups.append([])
        groups[-1].append(stage)
    return groups


def _versions() -> dict[str, str]:
    import av
    import numpy

    out = {
        "streamer": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "av": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
    }
    for dist in ("torch", "opencv-contrib-python", "ai-edge-litert", "smplx", "mannequin-x"):
        try:  # metadata only: importing torch here would slow every run down
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def prepare_output_dir(path: Path) -> Path:
    """Create ``path`` and prove it is writable, before any decoding starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".streamer-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot write to output directory {path}: {reason}") from exc
    return path


def default_out_dir(input_uri: str) -> Path:
    """``runs/<input stem>/``."""
    return Path("runs") / parse_input(input_uri).stem


def _build_sinks(config: Config, out_dir: Path, source: VideoSource) -> list[Sink]:
    sinks: list[Sink] = []
    outputs = config["outputs"]
    if outputs["tracks_csv"]:
        from streamer.io.csv_sink import TracksCsvSink

        sinks.append(TracksCsvSink(out_dir / "tracks.csv"))
    if outputs["joints_csv"]:
        from streamer.io.csv_sink import JointsCsvSink

        sinks.append(JointsCsvSink(out_dir / "joints.csv"))
    if outputs["players_npz"]:
        from streamer.io.players_sink import PlayersNpzSink

        sinks.append(PlayersNpzSink(out_dir, fps=source.info.fps or 25.0))
    overlay = outputs["overlay"]
    if overlay["enabled"]:
        from streamer.io.overlay_sink import OverlaySink

        try:
            sinks.append(
                OverlaySink(
                    out_dir / "overlay.mp4",
                    {
                        "fps": source.info.fps or 25.0,
                        "time_base": source.info.time_base,
                        "codec": overlay["codec"],
                        "crf": overlay["crf"],
                        "preset": overlay["preset"],
                        "max_height": overlay["max_height"],
                    },
                    meshes=overlay["meshes"],
                    mesh_body=overlay["mesh_body"],
                    mesh_alpha=overlay["mesh_alpha"],
                    mesh_min_height_px=float(overlay["mesh_min_height_px"]),
                    skeletons=overlay["skeletons"],
                )
            )
        except ValueError as exc:
            raise StreamerError(f"outputs.overlay.codec: {exc}") from exc
    return sinks


def _overlay_poses_bodies(config: Config) -> bool:
    """Whether the overlay sink will pose body meshes in torch (on its own thread, later)."""
    overlay = config["outputs"]["overlay"]
    return bool(overlay["enabled"] and overlay["meshes"] and "mesh" in config["pipeline"]["stages"])


#: shots config numbers and the ranges they must lie in
SHOT_RANGES = {"min_change": (0, 2), "level_ratio": (0, float("inf")), "level_s": (0, 3600),
               "min_shot_s": (0, 3600), "lookahead": (0, 250), "thumb_width": (16, 1024)}


def _shot_detector(config: Config, live: bool) -> ShotDetector | None:
    """The camera-cut detector the ``shots`` section asks for (None when turned off).

    Live: no lookahead (each frame is decided as it comes; a flash may count as a cut),
    so the detector holds nothing back."""
    section = config["shots"]
    if not section["enabled"]:
        return None
    check_ranges(section, SHOT_RANGES, "shots")
    from streamer.detection.shots import ShotConfig, ShotDetector  # cv2: not in the null pipeline

    cfg = section_to(ShotConfig, section, "shots")
    return ShotDetector(dataclasses.replace(cfg, lookahead=0) if live else cfg)


class Pipeline:
    """Stages built from a config, run over one input at a time."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else load_config()

    def _build_stages(self, source: VideoSource) -> list[Stage]:
        pipe = self.config["pipeline"]
        device = pipe["device"]
        if device != "cpu" and pipe["stages"]:
            import torch  # only when a GPU was asked for

            has_cuda = torch.cuda.is_available()
            if device == "cuda" and not has_cuda:
                raise ConfigError("--device cuda: no CUDA device is visible to torch (use --device cpu)")
            device = "cuda" if has_cuda else "cpu"
        elif device == "auto":
            device = "cpu"
        context = StageContext(device=device, fps=source.info.fps, live=source.info.live)
        split = pipe.get("thread_split") or []
        if not isinstance(split, list) or not all(isinstance(name, str) for name in split):
            raise ConfigError(f"config key 'pipeline.thread_split' must be a list of stage names; got {split!r}")
        stages = [build_stage(name, self.config, context) for name in pipe["stages"]]
        check_order(list(zip(pipe["stages"], stages, strict=True)))
        return stages

    def run(
        self,
        input_uri: str,
        out_dir: str | Path | None = None,
        *,
        on_frames: Callable[[int], None] | None = None,
        extra_sinks: list[Sink] | None = None,
    ) -> RunResult:
        """Process ``input_uri`` into ``out_dir``; bad input raises before anything is written.

        Raises:
            InputError, ConfigError, OutputError: before decoding starts.
        """
        config = self.config
        tune_allocator()
        started = _dt.datetime.now(_dt.UTC)
        t_start, cpu_start = time.perf_counter(), time.process_time()
        source = open_source(input_uri, config["source"])
        try:
            out = Path(out_dir) if out_dir else default_out_dir(input_uri)
            stages = self._build_stages(source)  # a config error leaves no folder behind
            detector = _shot_detector(config, source.info.live)
            report = report_sink.build(config, out)
            identity = None
            if config["identity"]["enabled"] and not source.info.live:  # file runs: final player ids
                from streamer.io import identity_sink  # cv2 (kit colours): not in the null pipeline

                identity = identity_sink.build(config, source.info.live)  # settings checked: nothing written yet
            prepare_output_dir(out)
            sinks = _build_sinks(config, out, source) + list(extra_sinks or [])
            if "torch" in sys.modules or _overlay_poses_bodies(config):
                limit_torch_threads(int(config["pipeline"]["torch_threads"]))
            if report is not None:
                sinks.append(report)
            if identity is not None:
                identity.take_report(report)  # the soccer report is written once, with final ids
                sinks.append(identity)
        except BaseException:
            source.close()
            raise
        total = source.info.declared_frames
        max_frames = config["source"]["max_frames"]
        if max_frames:
            total = min(total, max_frames) if total else max_frames
        progress = make_progress(config["progress"], parse_input(input_uri).stem, total)
        worker = SinkWorker(sinks)
        stage_timers = {s.name: Timer() for s in stages}
        # live: one thread, so a slow stage makes the source skip to the newest frame instead of
        # windows queueing up between stage threads (latency)
        split = [] if source.info.live else list(config["pipeline"].get("thread_split") or [])
        groups = split_stages(stages, list(config["pipeline"]["stages"]), split)
        window_size = max(1, int(config["pipeline"]["window"]))
        live = source.info.live
        processed = 0
        status, exit_code, error = "completed", EXIT_OK, ""
        shot_timer, shot_clock = Timer(), StageClock()
        first_shot: list[dict[str, Any]] = []  # without a detector: the one shot, from the first frame

        def group_runner(group: list[Stage], clock: StageClock | ThreadClock
                         ) -> Callable[[list[Packet], bool, bool], list[Packet]]:
            def run_group(packets: list[Packet], final: bool, shot_end: bool) -> list[Packet]:
                for stage in group:
                    timer = stage_timers[stage.name]
                    t0 = time.perf_counter()
                    clock.start()
                    n_in = len(packets)
                    try:
                        packets = stage.process(packets) if packets else []
                        if shot_end:
                            packets = packets + end_shot(stage)
                        if final:
                            packets = packets + stage.flush()
                    except Exception as exc:
                        raise Failure("stage", stage.name, exc) from exc
                    timer.seconds += time.perf_counter() - t0
                    timer.cpu_seconds += clock.elapsed()
                    timer.calls += 1
                    timer.frames += n_in
                return packets

            return run_group

        def deliver(item: Window) -> None:
            nonlocal processed
            packets = item[0]
            worker.put(packets)
            processed += len(packets)
            progress.update(processed)
            if on_frames is not None:
                on_frames(processed)

        threads: list[StageThread] = []
        if len(groups) > 1:  # built last to first: each delivers to the next
            target: Callable[[Window], None] = deliver
            for group in reversed(groups):
                threads.insert(0, StageThread(group_runner(group, ThreadClock()), target, group[0].name))
                target = threads[0].put
        run_all = group_runner(groups[0], StageClock())

        def run_stages(packets: list[Packet], final: bool = False, shot_end: bool = False) -> None:
            if not threads:
                deliver((run_all(packets, final, shot_end), final, shot_end))
                return
            for thread in threads:
                if thread.error is not None:
                    raise thread.error
            threads[0].put((packets, final, shot_end))

        def finish_stages() -> None:
            """Wait for the stage threads to finish every window; their first failure, if any."""
            for thread in threads:
                thread.finish()
            for thread in threads:
                if thread.error is not None:
                    raise thread.error

        def stop_stages() -> None:
            """Ctrl-C or a failure: drop queued windows and let the stage threads end."""
            for thread in threads:
                thread.abort = True
            for thread in threads:
                thread.finish()

        window: list[Packet] = []
        failure: Failure | None = None
        waiting: dict[int, Packet] = {}  # frames the shot detector has not decided yet
        current_shot = 0

        def add(packet: Packet) -> None:
            """Queue a packet whose shot is known; run a window when one is due."""
            nonlocal window, current_shot
            if packet.shot != current_shot:  # a cut: finish the old shot, restart the stages
                run_stages(window, shot_end=True)
                window, current_shot = [], packet.shot
            window.append(packet)
            if live or len(window) >= window_size:  # live: every frame at once, the newest next
                run_stages(window)
                window = []

        def decide(frame_index: int, shot: int) -> None:
            add(waiting.pop(frame_index).replace(shot=shot))

        def shot_detect(frame: Frame | None) -> None:
            """Push a frame (None: the end) through the shot detector, then on to the stages."""
            t0 = time.perf_counter()
            if detector is None:
                if frame is not None:
                    if not first_shot:
                        first_shot.append({"shot": 0, "first_frame": frame.index, "time_s": round(frame.time_s, 4)})
                    add(Packet(frame))
                return
            shot_clock.start()
            try:
                if frame is not None:
                    waiting[frame.index] = Packet(frame)
                    decided = detector.push(frame.index, frame.time_s, frame.image)
                else:
                    decided = detector.finish()
            except Exception as exc:
                raise Failure("stage", "shots", exc) from exc
            shot_timer.seconds += time.perf_counter() - t0
            shot_timer.cpu_seconds += shot_clock.elapsed()
            shot_timer.calls += 1
            shot_timer.frames += frame is not None
            for frame_index, shot in decided:
                decide(frame_index, shot)

        try:
            try:
                for frame in source:
                    shot_detect(frame)
                shot_detect(None)
                run_stages(window, final=True)
                window = []
                finish_stages()
                if source.damage():
                    status, exit_code, error = "damaged", EXIT_STREAM_BROKEN, source.damage()
            except StreamError as exc:
                # keep every frame decoded before the break
                shot_detect(None)
                run_stages(window, final=True)
                finish_stages()
                status, exit_code, error = "stream_error", exc.exit_code, str(exc)
        except KeyboardInterrupt:
            status, exit_code, error = "interrupted", EXIT_INTERRUPTED, "interrupted by the user"
        except Failure as exc:
            failure = exc
        finally:
            with sigint_ignored():
                source.close()
                stop_stages()  # a no-op once finish_stages has run
                worker.finish()
                progress.close()
        if failure is None and worker.error is not None:
            failure = Failure("sink", worker.failed_sink, worker.error)
        identity_report: dict[str, Any] = {}
        report_written = identity is None  # without the pass the report sink wrote it as it closed
        if identity is not None and failure is None and status != "interrupted":
            try:  # after every sink has closed: link tracklets, rewrite the outputs under final ids
                identity_report = identity.finish(out)
                report_written = True
            except KeyboardInterrupt:  # each output is either as streamed or fully relabelled
                status, exit_code, error = "interrupted", EXIT_INTERRUPTED, "interrupted by the user"
            except Exception as exc:
                failure = Failure("sink", identity.name, exc)
        if not report_written and report is not None:
            with sigint_ignored():  # the pass did not run or finish: the report under the tracker's ids
                try:
                    report.write_final({})
                except Exception as exc:
                    if failure is None:
                        failure = Failure("sink", report.name, exc)
        failed: dict[str, str] = {}
        if failure is not None:
            failed = {failure.kind: failure.name}
            if failure.kind == "sink" and isinstance(failure.exc, OSError):
                status, exit_code = "output_error", EXIT_STREAM_BROKEN
                error = f"cannot write outputs to {out}: {failure.exc.strerror or failure.exc}"
            else:
                status, exit_code, error = "failed", EXIT_FAILED, str(failure)
            _write_log(out / "run.log", failure)
        wall = time.perf_counter() - t_start
        stats = source.stats
        report: dict[str, Any] = {
            "status": status,
            "exit_code": exit_code,
            "error": error,
            "failed": failed,
            "input": source.info.as_dict(),
            "output_dir": str(out),
            "outputs": sorted(
                {p.name for p in out.iterdir() if not p.name.endswith(".partial")} | {"run.json"}
            ),
            "started_at": started.isoformat(timespec="seconds"),
            "wall_s": round(wall, 3),
            "cpu_s": round(time.process_time() - cpu_start, 3),  # all threads of the process
            "fps": round(processed / wall, 2) if wall > 0 else 0.0,
            "counts": {
                "frames_decoded": stats.decoded,
                "frames_processed": processed,
                "frames_dropped": stats.dropped,
                "decode_errors": stats.decode_errors,
                "corrupt_frames": stats.corrupt_frames,
                "frames_without_pts": stats.missing_pts,
                "rotation_applied_deg": stats.rotated,
                **{k: v for sink in worker.sinks for k, v in sink.counts().items()},
            },
            "timings": {
                "decode": {"seconds": round(stats.decode_s, 4), "frames": stats.decoded},
                "shots": shot_timer.as_dict(),
                "stages": {name: t.as_dict() for name, t in stage_timers.items()},
                "sinks": {name: t.as_dict() for name, t in worker.timers.items()},
            },
            "shots": [s.as_dict() for s in detector.shots] if detector is not None else first_shot,
            "identity": identity_report,
            "stop_reason": stats.stop_reason,
            "config": config,
            "config_sha256": config_digest(config),
            **{k: v for stage in stages for k, v in getattr(stage, "report", dict)().items()},
            "versions": _versions(),
        }
        write_json(out / "run.json", report)
        return RunResult(status, exit_code, out, error, report)


def _write_log(path: Path, failure: Failure) -> None:
    """The failing stage's or sink's traceback, temp-then-rename; a log that cannot be
    written must not hide the failure itself."""
    text = f"{failure}\n\n" + "".join(traceback.format_exception(failure.exc))
    temp = partial_path(path)
    try:
        temp.write_text(text, encoding="utf-8")
        commit(temp, path)
    except OSError:
        pass


def run(input_uri: str, out_dir: str | Path | None = None, config: Config | None = None) -> RunResult:
    """Convenience: ``Pipeline(config).run(input_uri, out_dir)``."""
    return Pipeline(config).run(input_uri, out_dir)

"""The Ray runner: one Ray task per clip, on a local Ray or a cluster you name.

* **Local** (no ``--ray``): a private Ray instance on this machine, started quietly with
  ``batch.local_cpus`` CPUs (default: the cores this process may use), no dashboard, no
  usage-stats reporting, a 100 MiB object store (results are small dicts), and every
  Ray server bound to 127.0.0.1: the node address is forced to loopback through
  ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which Ray reads when it is imported (checked
  after start-up). It is shut down in ``finally``.
* **Cluster** (``--ray ADDRESS``: ``host:port``, ``auto`` or ``ray://host:port``): joined
  as a driver. Every node needs this version of streamer installed, and the inputs and
  ``OUT`` must be on storage the workers see (same paths), or be URLs.

Each task reserves ``batch.cpus_per_clip`` CPUs and ``batch.gpus_per_clip`` GPUs; Ray
runs as many at once as the resources allow, or at most ``batch.max_parallel``. Starting
or joining is bounded by ``batch.start_timeout_s``. Ctrl-C (or SIGTERM): no new clips;
running ones are cancelled gracefully (their pipelines finalise outputs and say
``interrupted``), then forcibly after :data:`CANCEL_GRACE_S`.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

from streamer.batch.clip import base_entry, exception_reason, execute_clip
from streamer.batch.plan import BatchSettings, ClipJob
from streamer.config import Config
from streamer.errors import ConfigError, InputError, MissingDependencyError, StreamerError
from streamer.signals import handling, sigint_ignored

#: environment a local start needs before ``import ray``: loopback node address, no telemetry
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
OBJECT_STORE_BYTES = 100 * 2**20
CANCEL_GRACE_S = 10.0  # running clips get this long to finalise their outputs after Ctrl-C
POLL_S = 0.5  # how often the driver wakes up (Ctrl-C is handled between waits)
INSTALL_HINT = "pip install -e '.[ray]'"


class _Timeout(BaseException):
    """Raised by the SIGALRM handler of :func:`deadline` (not an Exception: Ray's retry loops
    catch those)."""


def ray_installed() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise :class:`StreamerError` if the block runs longer than ``seconds`` (main thread only)."""

    fired = threading.Event()
    message = f"{what} took longer than {seconds:g} s (batch.start_timeout_s)"

    def on_alarm(signum: int, frame: Any) -> None:
        fired.set()
        raise _Timeout

    # the handler can run where Python swallows what it raises and prints it with a traceback
    # (a __del__, or logging's at-fork lock release when ray.init forks): the block then goes
    # on and finishes late; keep that print quiet, and fail after the block instead
    printer = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if not isinstance(info.exc_value, _Timeout):
            printer(info)

    with handling(signal.SIGALRM, on_alarm) as installed:
        if not installed:
            yield
            return
        sys.unraisablehook = unraisable
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        except _Timeout as exc:
            raise StreamerError(message) from exc
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.unraisablehook = printer
        if fired.is_set():
            raise StreamerError(message)


def check_reachable(address: str, timeout_s: float) -> None:
    """Fail fast on a ``host:port`` nobody listens on (Ray itself retries for minutes)."""
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError as exc:
        raise InputError(f"--ray {address!r}: bad port") from exc
    if not host or port is None:
        return  # "auto" and friends: Ray resolves them itself
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot reach the Ray cluster at {address}: {reason}") from exc


def _import_ray(local: bool) -> ModuleType:
    if local:
        os.environ.update(LOCAL_ENV)  # read once, when ray is first imported
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(f"Ray is installed but cannot be imported ({exc}); "
                                     f"{INSTALL_HINT}") from exc
    return ray


def _node_is_loopback(ray: ModuleType) -> bool:
    return ray.util.get_node_ip_address() in ("127.0.0.1", "::1", "localhost")


@contextmanager
def ray_session(address: str | None, settings: BatchSettings) -> Iterator[tuple[ModuleType, dict[str, Any]]]:
    """Start (``address=None``) or join Ray; yield the module and what it runs on; shut down at exit."""
    if not ray_installed():
        raise MissingDependencyError(f"--ray needs Ray: {INSTALL_HINT}")
    local = address is None
    main_thread = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
    ray = None
    try:
        if not local:
            check_reachable(address, settings.start_timeout_s)
        # imported outside the deadline: an import cut by the alarm leaves half-built modules
        # behind, and Ray's exit hooks then print tracebacks from them
        ray = _import_ray(local)
        with deadline(settings.start_timeout_s, "starting Ray" if local else f"joining Ray at {address}"):
            quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                     "logging_level": logging.ERROR}
            if local:
                cpus = settings.local_cpus or len(os.sched_getaffinity(0))
                ray.init(address="local", num_cpus=cpus, object_store_memory=OBJECT_STORE_BYTES, **quiet)
            else:
                ray.init(address=address, **quiet)
        if sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)  # ray.init swaps in sys.exit; keep the caller's
        if local and not _node_is_loopback(ray):
            raise StreamerError("Ray was imported before streamer could keep it on 127.0.0.1; "
                                "run the batch in a fresh process")
        yield ray, _engine_info(ray, address, settings)
    except Exception as exc:
        if ray is not None and isinstance(exc, ray.exceptions.RayError | ConnectionError):
            raise StreamerError(f"Ray: {exception_reason(exc)}") from exc
        raise
    finally:
        if ray is not None:  # also after a start that failed half-way (safe to call twice)
            with sigint_ignored():
                ray.shutdown()


def _engine_info(ray: ModuleType, address: str | None, settings: BatchSettings) -> dict[str, Any]:
    """Cluster size and how many clips fit at once; a local Ray too small for one clip is an error."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 0.0)), float(resources.get("GPU", 0.0))
    slots = math.floor(cpus / settings.cpus_per_clip + 1e-9)
    if settings.gpus_per_clip > 0:
        slots = min(slots, math.floor(gpus / settings.gpus_per_clip + 1e-9))
    if settings.max_parallel:
        slots = min(slots, settings.max_parallel)
    if slots < 1:
        need = f"{settings.cpus_per_clip:g} CPU and {settings.gpus_per_clip:g} GPU per clip"
        have = f"{cpus:g} CPU and {gpus:g} GPU"
        if address is None:
            raise ConfigError(f"batch: the local Ray has {have}, a clip needs {need} "
                              "(batch.local_cpus, batch.cpus_per_clip, batch.gpus_per_clip)")
        print(f"batch: the cluster has {have} now, a clip needs {need}; clips wait for it to grow",
              file=sys.stderr)
    return {"address": address or "local", "ray": ray.__version__, "nodes": len(ray.nodes()),
            "cpus": cpus, "gpus": gpus, "cpus_per_clip": settings.cpus_per_clip,
            "gpus_per_clip": settings.gpus_per_clip, "clips_at_once": max(slots, 0)}


def _ray_task(input_uri: str, target: str, output_dir: str, config: Config, cpus: float) -> dict[str, Any]:
    """Body of the Ray task (module level, so workers import it rather than unpickle code)."""
    return execute_clip(input_uri, target, output_dir, config, cpus=cpus)


def _collect(ray: ModuleType, ref: Any, job: ClipJob) -> dict[str, Any]:
    """The entry a finished task returned, or one saying why there is none."""
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        entry = base_entry(job.input, str(job.run_dir))
        entry.update(status="interrupted", error="cancelled: the batch was interrupted")
        return entry
    except ray.exceptions.RayError as exc:  # the worker or its node died (crash, OOM kill, lost node)
        cause = getattr(exc, "cause", None)
        entry = base_entry(job.input, str(job.run_dir))
        entry.update(status="failed", error=f"Ray: {exception_reason(cause or exc)}")
        return entry


def run_on_ray(
    ray: ModuleType,
    jobs: list[ClipJob],
    config: Config,
    settings: BatchSettings,
    on_done: Callable[[dict[str, Any]], None],
) -> bool:
    """Run ``jobs`` as Ray tasks, calling ``on_done(entry)`` as each ends; True if interrupted."""
    task = ray.remote(_ray_task).options(num_cpus=settings.cpus_per_clip, num_gpus=settings.gpus_per_clip,
                                         max_retries=settings.retries, name="streamer-clip")
    config_ref = ray.put(config)
    queue = deque(jobs)
    running: dict[Any, ClipJob] = {}
    limit = settings.max_parallel or len(jobs)
    try:
        while queue or running:
            while queue and len(running) < limit:
                job = queue.popleft()
                ref = task.remote(job.input, job.target, str(job.run_dir), config_ref, settings.cpus_per_clip)
                running[ref] = job
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in ready:
                on_done(_collect(ray, ref, running.pop(ref)))
    except KeyboardInterrupt:
        _cancel(ray, running, on_done)
        return True
    return False


def _cancel(ray: ModuleType, running: dict[Any, ClipJob], on_done: Callable[[dict[str, Any]], None]) -> None:
    """Ask running clips to stop, give them :data:`CANCEL_GRACE_S` to finalise, then force."""
    with sigint_ignored():
        for ref in running:
            ray.cancel(ref, force=False)
        try:
            ready, _ = ray.wait(list(running), num_returns=len(running), timeout=CANCEL_GRACE_S)
        except ray.exceptions.RayError:
            ready = []
        for ref in ready:
            on_done(_collect(ray, ref, running.pop(ref)))
        for ref, job in list(running.items()):
            try:
                ray.cancel(ref, force=True)
            except ray.exceptions.RayError:
                pass
            entry = base_entry(job.input, str(job.run_dir))
            entry.update(status="interrupted", error=f"did not stop within {CANCEL_GRACE_S:g} s; killed")
            on_done(entry)
        running.clear()

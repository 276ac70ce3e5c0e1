"""``streamer batch``: plan the clips, skip finished ones, run the rest on Ray or one by one.

Which runner: ``--ray ADDRESS`` joins that cluster; otherwise ``batch.runner: auto``
starts a local Ray when it is installed and falls back to one clip after another
(saying so) when it is not; ``ray`` / ``local`` force one. ``batch.json`` is written
before the first clip, after every clip and at the end, whatever ends the batch.
Exit code: 0 every clip completed or was already done, 1 some clip failed, 130
interrupted (Ctrl-C or SIGTERM; a rerun resumes), 2 bad input/config/cluster.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streamer.batch.local import run_local
from streamer.batch.plan import BatchSettings, already_done, clip_digest, expand_inputs, plan_jobs
from streamer.batch.progress import make_batch_progress
from streamer.batch.ray_runner import INSTALL_HINT, check_reachable, ray_installed, ray_session, run_on_ray
from streamer.batch.report import BatchReport
from streamer.config import Config
from streamer.errors import ConfigError, InputError, MissingDependencyError
from streamer.signals import handling


def choose_runner(settings: BatchSettings, ray_address: str | None) -> str:
    """``ray`` or ``local``, from ``--ray``, ``batch.runner`` and whether Ray is installed."""
    if ray_address and settings.runner == "local":
        raise ConfigError("--ray contradicts batch.runner=local")
    if ray_address or settings.runner == "ray":
        if not ray_installed():
            raise MissingDependencyError(f"batch on Ray needs Ray: {INSTALL_HINT}")
        return "ray"
    if settings.runner == "auto" and ray_installed():
        return "ray"
    return "local"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a job scheduler, ``kill``) stops the batch like Ctrl-C: outputs finalised, 130."""

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with handling(signal.SIGTERM, on_term):
        yield


def run_batch(items: list[str], out: Path, config: Config, ray_address: str | None = None) -> int:
    """Run every clip of ``items`` into ``out/<stem>/``; the process exit code."""
    from streamer.pipeline import prepare_output_dir

    settings = BatchSettings.from_config(config)
    runner = choose_runner(settings, ray_address)
    inputs = expand_inputs(items)
    if not inputs:
        raise InputError("batch: no inputs (the lists given are empty)")
    if runner == "ray" and ray_address:
        check_reachable(ray_address, settings.start_timeout_s)  # before anything is written
    prepare_output_dir(out)
    jobs = plan_jobs(inputs, out)
    digest = clip_digest(config)
    report = BatchReport(out / "batch.json", jobs, digest)
    report.meta["runner"] = runner
    todo = []
    for job in jobs:
        if already_done(job.run_dir, digest):
            report.mark_skipped(job)
        else:
            todo.append(job)
    if not todo:
        report.meta["runner"] = "none"
    report.write()
    clip_config = {**config, "progress": "off"}  # the batch bar replaces per-clip bars
    progress = make_batch_progress(config["progress"], len(jobs), len(jobs) - len(todo))
    how = "one by one"
    if runner == "ray":
        how = f"on Ray at {ray_address}" if ray_address else "on Ray (local)"
    if runner == "local" and settings.runner == "auto":
        how += f" (Ray is not installed: {INSTALL_HINT})"
    progress.note(f"{len(jobs)} clips, {len(jobs) - len(todo)} already done, {len(todo)} to run {how}")

    def on_done(entry: dict[str, Any]) -> None:
        report.record(entry)
        progress.clip_done(entry)

    status = "error"  # unless the runner returns: Ray would not start, or died
    try:
        with sigterm_as_interrupt():
            try:
                if runner == "local" or not todo:
                    interrupted = run_local(todo, clip_config, on_done, progress)
                else:
                    t0 = time.perf_counter()
                    with ray_session(ray_address, settings) as (ray, engine):
                        report.engine_start_s = time.perf_counter() - t0
                        report.meta["engine"] = engine
                        report.write()
                        interrupted = run_on_ray(ray, todo, clip_config, settings, on_done)
            except KeyboardInterrupt:
                interrupted = True
        status = "interrupted" if interrupted else "finished"
    finally:
        progress.close()
        code = report.finish(status)
    print(report.summary(), file=sys.stderr)
    return code

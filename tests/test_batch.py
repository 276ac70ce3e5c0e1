"""streamer batch: planning, resume rules, batch.json, the local runner, and Ray (skipped without it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamer.batch import already_done, clip_digest, expand_inputs, run_batch
from streamer.batch import run as batch_run
from streamer.batch.clip import execute_clip, one_line
from streamer.batch.plan import BatchSettings, ClipJob
from streamer.batch.ray_runner import check_reachable, deadline, ray_installed
from streamer.batch.report import BatchReport
from streamer.config import load_config
from streamer.errors import ConfigError, InputError, MissingDependencyError, StreamerError

import media
from conftest import run_cli

needs_ray = pytest.mark.skipif(not ray_installed(), reason="Ray is not installed (pip install -e '.[ray]')")


def write_run_json(run_dir: Path, status: str, config: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps({"status": status, "config": config}))


def read_batch(out: Path) -> dict:
    return json.loads((out / "batch.json").read_text())


def statuses(batch: dict) -> dict[str, str]:
    return {Path(c["input"]).stem: c["status"] for c in batch["clips"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- planning and resume rules -------------------------------------------------------------


def test_clip_digest_ignores_execution_keys_only():
    config = load_config()
    same = load_config(None, ["progress=off", "batch.max_parallel=3", "batch.runner=local"])
    other = load_config(None, ["track.min_hits=5"])
    assert clip_digest(config) == clip_digest(same)
    assert clip_digest(config) != clip_digest(other)


@pytest.mark.parametrize(
    ("run_json", "expected"),
    [
        (None, False),
        ("garbage", False),
        (("interrupted", []), False),
        (("completed", ["track.min_hits=5"]), False),
        (("completed", []), True),
        (("completed", ["progress=off", "batch.cpus_per_clip=2"]), True),  # e.g. finished by `streamer run`
    ],
)
def test_already_done(tmp_path, run_json, expected):
    run_dir = tmp_path / "clip"
    if run_json == "garbage":
        run_dir.mkdir()
        (run_dir / "run.json").write_text("{not json")
    elif run_json is not None:
        status, overrides = run_json
        write_run_json(run_dir, status, load_config(None, overrides))
    assert already_done(run_dir, clip_digest(load_config())) is expected


def test_expand_inputs_lists_globs_and_repeats(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("x1.mp4", "x2.mp4", "sub/y.mp4"):
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "sub" / "list.txt"
    listing.write_text(f"# season 1\ny.mp4\n\n  http://example.test/z.mp4  \n{tmp_path / 'x1.mp4'}\n")
    got = expand_inputs([str(tmp_path / "x*.mp4"), str(listing)])
    assert got == [str(tmp_path / "x1.mp4"), str(tmp_path / "x2.mp4"), str(tmp_path / "sub" / "y.mp4"),
                   "http://example.test/z.mp4"]
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([str(tmp_path / "nothing*.mp4")])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("batch.runner=cluster", "batch.runner"),
        ("batch.cpus_per_clip=0", "batch.cpus_per_clip"),
        ("batch.gpus_per_clip=-1", "batch.gpus_per_clip"),
        ("batch.max_parallel=-2", "batch.max_parallel"),
        ("batch.start_timeout_s=0", "batch.start_timeout_s"),
    ],
)
def test_settings_reject_bad_values(override, message):
    with pytest.raises(ConfigError, match=message):
        BatchSettings.from_config(load_config(None, [override]))


@pytest.mark.parametrize(
    ("runner", "address", "installed", "expected"),
    [
        ("auto", None, True, "ray"),
        ("auto", None, False, "local"),
        ("local", None, True, "local"),
        ("ray", None, True, "ray"),
        ("ray", None, False, MissingDependencyError),
        ("auto", "10.0.0.1:6379", False, MissingDependencyError),
        ("local", "10.0.0.1:6379", True, ConfigError),
    ],
)
def test_choose_runner(monkeypatch, runner, address, installed, expected):
    monkeypatch.setattr(batch_run, "ray_installed", lambda: installed)
    settings = BatchSettings(runner=runner)
    if isinstance(expected, str):
        assert batch_run.choose_runner(settings, address) == expected
    else:
        with pytest.raises(expected):
            batch_run.choose_runner(settings, address)


# --- one clip, the report -------------------------------------------------------------------


def test_execute_clip_turns_every_error_into_a_reason(tmp_path, monkeypatch):
    config = load_config("null")
    broken = media.make_text_as_mp4(tmp_path / "broken.mp4")
    entry = execute_clip("broken.mp4", str(broken), str(tmp_path / "o1"), config)
    assert entry["status"] == "failed" and "not a video" in entry["error"] and "wall_s" in entry

    def bug(self, *args, **kwargs):
        raise RuntimeError("stage exploded\nwith a long traceback")

    monkeypatch.setattr("streamer.pipeline.Pipeline.run", bug)
    entry = execute_clip("x.mp4", str(broken), str(tmp_path / "o2"), config)
    assert entry["status"] == "failed" and entry["error"] == "RuntimeError: stage exploded"


def test_one_line_keeps_the_first_line_short():
    assert one_line("\n  first  \nsecond") == "first"
    assert one_line("", "fallback") == "fallback"
    assert len(one_line("x" * 1000)) == 300


@pytest.mark.parametrize(
    ("clip_statuses", "end", "code"),
    [
        (["completed", "skipped"], "finished", 0),
        (["completed", "failed"], "finished", 1),
        (["completed", "pending"], "error", 1),
        (["completed", "interrupted"], "interrupted", 130),
    ],
)
def test_report_exit_codes_and_file(tmp_path, clip_statuses, end, code):
    jobs = [ClipJob(f"c{i}.mp4", f"/v/c{i}.mp4", tmp_path / f"c{i}") for i in range(len(clip_statuses))]
    report = BatchReport(tmp_path / "batch.json", jobs, "digest")
    for job, status in zip(jobs, clip_statuses, strict=True):
        report.record({"input": job.input, "status": status, "frames": 10, "wall_s": 1.0})
    assert report.finish(end) == code
    data = read_batch(tmp_path)
    assert data["status"] == end and [c["status"] for c in data["clips"]] == clip_statuses
    assert data["throughput"]["frames"] == 20 and not (tmp_path / "batch.json.partial").exists()


# --- the local runner and the command line ---------------------------------------------------


def test_local_runner_says_so_and_skips_finished_clips(media_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(batch_run, "ray_installed", lambda: False)
    a = media.make_clip(media_dir / "batch_a.mp4", n_frames=4).path
    broken = media.make_text_as_mp4(tmp_path / "broken.mp4")
    out = tmp_path / "out"
    assert run_batch([str(a), str(broken)], out, load_config("null")) == 1
    assert "Ray is not installed" in capsys.readouterr().err
    assert statuses(read_batch(out)) == {"batch_a": "completed", "broken": "failed"}
    # progress and the batch section do not change a clip's outputs: still done
    config = load_config("null", ["progress=off", "batch.max_parallel=4"])
    assert run_batch([str(a)], out, config) == 0
    assert statuses(read_batch(out)) == {"batch_a": "skipped"}


def test_unreachable_cluster_fails_fast(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(InputError, match="cannot reach the Ray cluster"):
        check_reachable(f"127.0.0.1:{closed_port()}", timeout_s=5.0)
    assert time.monotonic() - t0 < 5.0
    check_reachable("auto", timeout_s=5.0)  # resolved by Ray itself


def test_deadline_bounds_a_blocking_call():
    t0 = time.monotonic()
    too_long = pytest.raises(StreamerError, match="starting Ray took longer than 0.2 s")
    with too_long, deadline(0.2, "starting Ray"):
        time.sleep(5)
    assert time.monotonic() - t0 < 2.0
    with deadline(5.0, "nothing"):
        pass
    time.sleep(0.3)  # the alarm was cancelled: nothing fires later


def test_deadline_holds_when_the_block_swallows_the_alarm(monkeypatch):
    """Ray's start runs callbacks where an exception is only printed (logging's at-fork lock
    release, a __del__); a late start still fails, with no traceback printed."""

    class SlowToDelete:
        def __del__(self) -> None:
            time.sleep(1)  # the alarm fires here: Python prints "Exception ignored in ..."

    printed = []  # what Python would print as "Exception ignored in ...", with its traceback
    monkeypatch.setattr(sys, "unraisablehook", printed.append)
    with pytest.raises(StreamerError, match="starting Ray took longer than 0.1 s"), deadline(0.1, "starting Ray"):
        SlowToDelete()
    with pytest.raises(StreamerError, match="took longer"), deadline(0.1, "starting Ray"):
        try:
            time.sleep(1)
        except BaseException:  # noqa: BLE001 - what a swallowing callback does
            pass
    assert printed == []
    SlowToDelete.__del__ = lambda self: 1 / 0  # other unraisable errors are still printed
    SlowToDelete()
    assert len(printed) == 1 and isinstance(printed[0].exc_value, ZeroDivisionError)


def test_cli_ray_address_error_is_one_line(clip, tmp_path):
    proc = run_cli("batch", str(clip.path), "-o", str(tmp_path / "o"), "--ray", f"127.0.0.1:{closed_port()}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert ("cannot reach" if ray_installed() else "needs Ray") in proc.stderr


# --- Ray ---------------------------------------------------------------------------------------


@needs_ray
def test_ray_start_is_bounded_in_time(clip, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("batch", str(clip.path), "-o", str(out), "-c", "null",
                   "--set", "batch.start_timeout_s=0.2")
    assert proc.returncode == 2 and "starting Ray took longer than 0.2 s" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert read_batch(out)["status"] == "error"


def _run_status(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "run.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return ""


def _clip_status(out: Path, stem: str) -> str:
    try:
        return statuses(read_batch(out)).get(stem, "")
    except (OSError, ValueError, KeyError):
        return ""


@needs_ray
def test_ray_batch_survives_ctrl_c_and_a_broken_clip(tmp_path):
    """Local Ray, 2 CPUs: Ctrl-C after the first clip; the rerun skips it and finishes the rest.

    Frames are paced at 25 fps (source.realtime) so the two 250-frame clips (10 s each) are
    still running when the 5-frame one completes, whatever the machine's load (at 100 frames,
    4 s, a loaded machine once recorded the first clip after the second had completed).
    """
    first = media.make_clip(tmp_path / "first.mp4", n_frames=5).path
    second = media.make_clip(tmp_path / "second.mp4", n_frames=250).path
    third = media.make_clip(tmp_path / "third.mp4", n_frames=250).path
    broken = media.make_text_as_mp4(tmp_path / "broken.mp4")
    out = tmp_path / "out"
    args = ["batch", str(first), str(second), str(broken), str(third), "-o", str(out), "-c", "null",
            "--set", "batch.local_cpus=2", "--set", "source.realtime=true", "--set", "progress=plain"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # Ctrl-C must reach it even if this test runs where SIGINT is ignored (a background job)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 90
        # the batch has recorded the first clip (its run.json alone can be written before the Ray
        # task returns: a Ctrl-C in between cancels a task that is completing)
        while _clip_status(out, "first") != "completed":
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the first clip did not complete in 90 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "on Ray (local)" in err and "Traceback" not in err
    batch = read_batch(out)
    assert batch["status"] == "interrupted" and batch["engine"]["cpus"] == 2
    got = statuses(batch)
    assert got["first"] == "completed" and got["second"] == got["third"] == "interrupted"
    assert _run_status(out / "second") in ("", "interrupted")  # finalised by its pipeline, or never started

    proc = run_cli(*args, timeout=120)
    assert proc.returncode == 1, proc.stderr  # the broken clip failed, everything else is done
    batch = read_batch(out)
    assert batch["status"] == "finished"
    assert statuses(batch) == {"first": "skipped", "second": "completed", "broken": "failed",
                               "third": "completed"}
    clips = {Path(c["input"]).stem: c for c in batch["clips"]}
    assert "not a video" in clips["broken"]["error"] and "\n" not in clips["broken"]["error"]
    assert clips["second"]["frames"] == 250 and _run_status(out / "third") == "completed"

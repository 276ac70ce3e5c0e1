"""doctor, demo, batch, preview, and an http source."""

from __future__ import annotations

import functools
import http.server
import json
import threading

import pytest

from streamer.batch import expand_inputs

import media
from conftest import read_video, run_cli


def test_doctor_reports_core_and_missing_files(tmp_path):
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for needle in ("PyAV / FFmpeg", "libx264", "torch", "blazepose", "SMPL-X model", "BLADE checkpoint"):
        assert needle in out
    assert "SMPLX_NEUTRAL.npz" in out  # says where the missing body model goes


def test_demo_synthesises_and_runs(tmp_path):
    proc = run_cli("demo", "-o", str(tmp_path / "demo"), "--seconds", "0.4")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "demo" / "run.json").read_text())
    assert report["status"] == "completed" and report["counts"]["frames_processed"] == 10
    assert read_video(tmp_path / "demo" / "overlay.mp4", with_indices=False).n_frames == 10


def test_batch_runs_clips_reports_failures_and_resumes(media_dir, tmp_path):
    a = media.make_clip(media_dir / "a.mp4", n_frames=6).path
    b = media.make_clip(media_dir / "b.mp4", n_frames=4).path
    broken = media.make_text_as_mp4(tmp_path / "broken.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# clips\n{a}\n{broken}\n")
    out = tmp_path / "batch"
    local = ("--set", "batch.runner=local")  # Ray itself is covered in test_batch.py
    proc = run_cli("batch", str(listing), str(b), "-o", str(out), "-c", "null", *local)
    assert proc.returncode == 1
    clips = {c["input"]: c for c in json.loads((out / "batch.json").read_text())["clips"]}
    assert clips[str(a)]["status"] == "completed" and clips[str(b)]["status"] == "completed"
    assert clips[str(broken)]["status"] == "failed" and "not a video" in clips[str(broken)]["error"]
    proc = run_cli("batch", str(a), str(b), "-o", str(out), "-c", "null", *local)
    assert proc.returncode == 0
    statuses = [c["status"] for c in json.loads((out / "batch.json").read_text())["clips"]]
    assert statuses == ["skipped", "skipped"]
    proc = run_cli("batch", str(a), "-o", str(out), "-c", "null", "--max-frames", "2", *local)
    assert json.loads((out / "batch.json").read_text())["clips"][0]["status"] == "completed"


def test_expand_inputs_glob_and_no_match(tmp_path):
    for name in ("x1.mp4", "x2.mp4"):
        (tmp_path / name).write_bytes(b"")
    assert expand_inputs([str(tmp_path / "x*.mp4")]) == [str(tmp_path / "x1.mp4"), str(tmp_path / "x2.mp4")]
    with pytest.raises(ValueError, match="no file matches"):
        expand_inputs([str(tmp_path / "nothing*.mp4")])


@pytest.fixture
def http_root(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_url_source(http_root, tmp_path):
    root, base = http_root
    media.make_clip(root / "served.mp4", n_frames=12, faststart=True)
    out = tmp_path / "out"
    proc = run_cli("run", f"{base}/served.mp4", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "run.json").read_text())
    assert report["input"]["kind"] == "url" and report["input"]["live"] is False
    assert read_video(out / "overlay.mp4").indices == list(range(12))


def test_http_404_is_input_error(http_root, tmp_path):
    _, base = http_root
    proc = run_cli("run", f"{base}/nope.mp4", "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

"""The command-line contract: outputs, timing, and every kind of bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamer.io.csv_sink import TRACKS_COLUMNS

import media
from conftest import read_video, run_cli


def one_clear_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def test_run_writes_overlay_tracks_and_report(clip, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("run", str(clip.path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    video = read_video(out / "overlay.mp4")
    assert video.n_frames == clip.n_frames
    assert video.indices == list(range(clip.n_frames))
    assert video.times_s == pytest.approx(list(clip.timestamps), abs=1e-3)
    with open(out / "tracks.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == (*TRACKS_COLUMNS, "tracklet_id")  # added by the identity pass
    report = json.loads((out / "run.json").read_text())
    assert report["status"] == "completed" and report["exit_code"] == 0
    assert report["counts"]["frames_processed"] == clip.n_frames
    assert report["counts"]["overlay_frames"] == clip.n_frames
    assert report["config"]["pipeline"]["window"] == 8 and len(report["config_sha256"]) == 64
    assert {"decode", "stages", "sinks"} <= set(report["timings"])
    assert report["versions"]["av"]
    assert not list(out.glob("*.partial"))


def test_default_output_folder_is_runs_stem(clip, tmp_path):
    proc = run_cli("run", str(clip.path), "--max-frames", "3", "-c", "null", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "runs" / "clip" / "run.json").read_text())
    assert report["counts"]["frames_processed"] == 3
    assert not (tmp_path / "runs" / "clip" / "overlay.mp4").exists()  # null pipeline


def test_null_pipeline_does_not_import_torch_or_cv2(clip, tmp_path):
    code = (
        "import sys; from streamer.cli import main; "
        f"rc = main(['run', {str(clip.path)!r}, '-o', {str(tmp_path / 'o')!r}, '-c', 'null']); "
        "assert rc == 0; heavy = {'torch', 'cv2', 'mediapipe', 'jax'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_variable_frame_rate_timestamps_survive(media_dir, tmp_path):
    stamps = [0.0, 0.04, 0.08, 0.2, 0.24, 0.5, 0.52, 1.0]
    vfr = media.make_vfr_clip(media_dir / "vfr_cli.mp4", stamps)
    proc = run_cli("run", str(vfr.path), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    video = read_video(tmp_path / "overlay.mp4")
    assert video.times_s == pytest.approx(stamps, abs=1e-3)


def test_rotated_input_comes_out_upright(media_dir, tmp_path):
    rot = media.make_rotated_clip(media_dir / "rot_cli.mp4", 90, n_frames=6)
    # no stages: the frame's bar code is read back from the overlay, so nothing may be drawn on it
    proc = run_cli("run", str(rot.path), "-o", str(tmp_path), "--set", "pipeline.stages=[]")
    assert proc.returncode == 0, proc.stderr
    video = read_video(tmp_path / "overlay.mp4")
    assert (video.width, video.height) == (rot.width, rot.height)
    assert video.indices == list(range(6))


def test_odd_dimensions(media_dir, tmp_path):
    odd = media.make_clip(media_dir / "odd.mp4", n_frames=5, size=(853, 479))
    proc = run_cli("run", str(odd.path), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    video = read_video(tmp_path / "overlay.mp4")
    assert (video.width, video.height) == (854, 480)
    assert video.indices == list(range(5))


def test_still_image_is_a_one_frame_video(media_dir, tmp_path):
    image = media.make_image(media_dir / "still.png", size=(64, 48), index=5)
    proc = run_cli("run", str(image), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    video = read_video(tmp_path / "overlay.mp4")
    assert video.n_frames == 1 and video.indices == [5]


def test_4k_input_keeps_memory_bounded(media_dir, tmp_path):
    big = media.make_clip(media_dir / "4k_cli.mp4", n_frames=12, size=(3840, 2160), pattern="static")
    # detect+track only: smooth and soccer hold up to ~2.3 s of frames by design (their lag),
    # which is bounded too but is not what this test is about (the queues)
    cmd = [sys.executable, "-m", "streamer", "run", str(big.path), "-o", str(tmp_path),
           "--set", "pipeline.stages=[detect,track]"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # VmHWM is the peak of the child's own address space since exec; ru_maxrss would also
    # count the pytest process the child was forked from (which may hold GBs of fixtures)
    peak_kib = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak_kib = max(peak_kib, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr.read()
    peak_mib = peak_kib / 1024
    # 12 frames of 24.9 MB would be 300 MB on their own; the queues hold far fewer
    assert peak_mib < 1200, peak_mib
    video = read_video(tmp_path / "overlay.mp4", with_indices=False)
    assert video.n_frames == 12 and video.height == 1080  # outputs.overlay.max_height


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "input not found"),
        (lambda d: d, "input is a directory"),
        (lambda d: media.make_empty(d / "empty.mp4"), "empty file"),
        (lambda d: media.make_text_as_mp4(d / "notes.mp4"), "not a video"),
        (lambda d: media.make_audio_only(d / "tone.m4a"), "no video stream"),
        (
            lambda d: media.truncate(media.make_clip(d / "whole.mp4", n_frames=20).path, d / "cut.mp4"),
            "not a video",
        ),
    ],
    ids=["missing", "directory", "zero-bytes", "text-as-mp4", "audio-only", "cut-no-index"],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, make, message):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    target = make(src_dir)
    out = tmp_path / "out"
    proc = run_cli("run", str(target), "-o", str(out))
    assert proc.returncode == 2
    assert message in one_clear_line(proc.stderr)
    assert not out.exists()


def test_unknown_config_key_names_it(clip, tmp_path):
    proc = run_cli("run", str(clip.path), "-o", str(tmp_path / "o"), "--set", "pipeline.windw=4")
    assert proc.returncode == 2
    assert "pipeline.windw" in one_clear_line(proc.stderr)
    bad = tmp_path / "bad.yaml"
    bad.write_text("source:\n  fps: 30\n")
    proc = run_cli("run", str(clip.path), "-o", str(tmp_path / "o"), "-c", str(bad))
    assert proc.returncode == 2 and "source.fps" in one_clear_line(proc.stderr)


def test_out_of_range_identity_setting_writes_nothing(clip, tmp_path):
    out = tmp_path / "o"
    proc = run_cli("run", str(clip.path), "-o", str(out), "--set", "identity.kit_max=1.5")
    assert proc.returncode == 2 and "identity.kit_max" in one_clear_line(proc.stderr)
    assert not out.exists()


def test_unwritable_output_directory(clip, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    proc = run_cli("run", str(clip.path), "-o", str(blocker / "out"))
    assert proc.returncode == 2
    assert "cannot write to output directory" in one_clear_line(proc.stderr)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_directory(clip, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    proc = run_cli("run", str(clip.path), "-o", str(ro / "out"))
    assert proc.returncode == 2 and "cannot write" in one_clear_line(proc.stderr)


def test_stream_cut_midway_keeps_decoded_frames(media_dir, tmp_path):
    full = media.make_clip(media_dir / "fs_cli.mp4", n_frames=100, faststart=True)
    cut = media.truncate(full.path, media_dir / "fs_cli_cut.mp4", 0.5)
    proc = run_cli("run", str(cut), "-o", str(tmp_path))
    assert proc.returncode == 1
    assert "stream ended early" in one_clear_line(proc.stderr)
    report = json.loads((tmp_path / "run.json").read_text())
    kept = report["counts"]["frames_decoded"]
    assert report["status"] == "stream_error" and 10 < kept < 100
    video = read_video(tmp_path / "overlay.mp4")
    assert video.indices == list(range(kept))


def test_corrupted_packets_in_the_middle(media_dir, tmp_path):
    whole = media.make_clip(media_dir / "whole_c.mp4", n_frames=30)
    bad = media.corrupt_middle(whole.path, media_dir / "corrupt.mp4", n_packets=1)
    proc = run_cli("run", str(bad.path), "-o", str(tmp_path))
    assert proc.returncode == 1
    assert "input is damaged: 1 packets could not be decoded" in one_clear_line(proc.stderr)
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["status"] == "damaged" and report["counts"]["decode_errors"] == 1
    video = read_video(tmp_path / "overlay.mp4", with_indices=False)
    assert video.n_frames == 29  # every frame but the damaged one, after it too


def test_ctrl_c_finalises_outputs(media_dir, tmp_path):
    long = media.make_clip(media_dir / "long.mp4", n_frames=1000, size=(640, 360))
    cmd = [sys.executable, "-m", "streamer", "run", str(long.path), "-o", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    partial = tmp_path / "overlay.mp4.partial"
    while not (partial.exists() and partial.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["status"] == "interrupted"
    processed = report["counts"]["frames_processed"]
    assert 0 < processed < 1000
    video = read_video(tmp_path / "overlay.mp4")
    assert video.indices == list(range(processed))
    assert not list(tmp_path.glob("*.partial"))

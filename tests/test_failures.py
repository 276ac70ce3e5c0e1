"""A stage or sink that raises mid-run: outputs finalised, run.json and run.log say what failed, exit 1."""

from __future__ import annotations

import json

import pytest
from failing_parts import BoomSink

from streamer.cli import main
from streamer.config import load_config
from streamer.pipeline import Pipeline
from streamer.stages import STAGE_FACTORIES

import media
from conftest import read_video


@pytest.fixture(scope="module")
def clip60(media_dir) -> media.Clip:
    return media.make_clip(media_dir / "clip60.mp4", n_frames=60)


def test_raising_stage_finalises_outputs_and_reports_it(clip60, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(STAGE_FACTORIES, "boom", "failing_parts:build_boom")
    out = tmp_path / "out"
    rc = main(["run", str(clip60.path), "-o", str(out), "--set", "pipeline.stages=[boom]",
               "--set", "pipeline.window=8"])
    assert rc == 1
    stderr = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(stderr) == 1 and "stage 'boom' failed: RuntimeError: boom at frame 30" in stderr[0]
    report = json.loads((out / "run.json").read_text())
    assert report["status"] == "failed" and report["exit_code"] == 1
    assert report["failed"] == {"stage": "boom"}
    assert report["error"] == "stage 'boom' failed: RuntimeError: boom at frame 30"
    # frames 0-23 finished before the window holding frame 30 (24-31) reached the stage
    assert report["counts"]["frames_processed"] == 24
    assert read_video(out / "overlay.mp4").indices == list(range(24))
    log = (out / "run.log").read_text()
    assert "Traceback" in log and "boom at frame 30" in log and "failing_parts.py" in log
    assert not list(out.glob("*.partial"))


def test_raising_sink_finalises_the_others_and_reports_it(clip60, tmp_path):
    config = load_config(None, ["pipeline.stages=[]"])
    sink = BoomSink(at=20)
    result = Pipeline(config).run(str(clip60.path), tmp_path, extra_sinks=[sink])
    assert result.status == "failed" and result.exit_code == 1
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["failed"] == {"sink": "boom_sink"}
    assert report["error"].startswith("sink 'boom_sink' failed: KeyError:")
    assert "\n" not in report["error"]
    assert sink.written == 20
    video = read_video(tmp_path / "overlay.mp4")
    assert video.indices[:20] == list(range(20))  # the other sinks kept what came before
    assert "Traceback" in (tmp_path / "run.log").read_text()
    assert not list(tmp_path.glob("*.partial"))


def test_completed_run_has_no_failure_and_no_log(clip60, tmp_path):
    config = load_config(None, ["pipeline.stages=[]", "outputs.overlay.enabled=false"])
    result = Pipeline(config).run(str(clip60.path), tmp_path)
    assert result.status == "completed"
    assert json.loads((tmp_path / "run.json").read_text())["failed"] == {}
    assert not (tmp_path / "run.log").exists()


def test_a_failed_file_run_still_gets_its_soccer_report(clip60, tmp_path):
    """The report waits for the identity pass; when a sink fails the pass does not run, and the
    report is written under the tracker's ids instead of being lost."""
    config = load_config(None, ["pipeline.stages=[detect,track,soccer]", "detect.backend=pitch",
                                "outputs.overlay.enabled=false"])
    assert config["identity"]["enabled"]
    result = Pipeline(config).run(str(clip60.path), tmp_path, extra_sinks=[BoomSink(at=20)])
    assert result.status == "failed"
    assert result.report["identity"] == {}  # no pass
    assert (tmp_path / "summary.csv").read_text().startswith("player_id,team,")
    assert "summary.csv" in result.report["outputs"]

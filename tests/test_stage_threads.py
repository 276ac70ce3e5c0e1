"""Stage threads (``pipeline.thread_split``): the same outputs as one thread, every stage on one
thread of its own group, shot ends and the final flush passed down the groups, a stage that
raises on a stage thread reported like one on the main thread."""

from __future__ import annotations

import csv
import json
import threading
from fractions import Fraction
from pathlib import Path

import av
import pytest
import shot_scenes as sc
import stage_fakes

from streamer.config import load_config
from streamer.pipeline import Pipeline, split_stages
from streamer.stages import STAGE_FACTORIES

import media


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory) -> Path:
    """12 frames of a wide shot, a cut to 9 frames of a close-up, a cut back to 10 wide."""
    stadium = sc.world(1)
    frames = (sc.pan(stadium, 12, 500, 500, 0.5, 10) + sc.pan(sc.closeup(2), 9, 560, 360, 1.0, 4)
              + sc.pan(stadium, 10, 1500, 560, 0.6, 10))
    path = tmp_path_factory.mktemp("threads") / "cuts.mp4"
    with av.open(str(path), "w") as container:
        stream = media._add_video(container, "libx264", Fraction(25), (frames[0].shape[1], frames[0].shape[0]),
                                  time_base=Fraction(1, 25))
        media._encode(container, stream, frames, list(range(len(frames))))
    return path


@pytest.fixture
def fakes(monkeypatch):
    monkeypatch.setitem(STAGE_FACTORIES, "fixed_boxes", "stage_fakes:build_fixed_boxes")
    monkeypatch.setitem(STAGE_FACTORIES, "spy", "stage_fakes:build_spy")
    monkeypatch.setitem(STAGE_FACTORIES, "boom", "failing_parts:build_boom")
    monkeypatch.setattr(stage_fakes, "BOXES", stage_fakes.np.array([[250, 120, 290, 240]], "float32"))
    monkeypatch.setattr(stage_fakes, "SCORES", stage_fakes.np.array([0.9], "float32"))
    seen: list[str] = []
    process = stage_fakes.Spy.process
    monkeypatch.setattr(stage_fakes.Spy, "process",
                        lambda self, packets: seen.append(threading.current_thread().name) or process(self, packets))
    return seen


def run(clip: Path, out: Path, stages: str, split: str) -> dict:
    config = load_config(overrides=[f"pipeline.stages=[{stages}]", f"pipeline.thread_split=[{split}]",
                                    "outputs.overlay.enabled=false", "progress=off", "pipeline.window=4"])
    Pipeline(config).run(str(clip), out)
    return json.loads((out / "run.json").read_text())


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_split_stages_cuts_before_the_named_stages():
    a, b, c = object(), object(), object()
    assert split_stages([a, b, c], ["x", "y", "z"], ["y"]) == [[a], [b, c]]
    assert split_stages([a, b, c], ["x", "y", "z"], ["x", "z", "nope"]) == [[a, b], [c]]
    assert split_stages([a, b, c], ["x", "y", "z"], []) == [[a, b, c]]
    assert split_stages([], [], ["y"]) == [[]]


def test_threaded_stages_give_the_same_outputs_and_pass_shot_ends_and_the_flush_down(fakes, cut_clip, tmp_path):
    one = run(cut_clip, tmp_path / "one", "fixed_boxes,track,spy", "")
    log_one = list(stage_fakes.SPY_LOG)
    assert set(fakes) == {"MainThread"}
    fakes.clear()
    split = run(cut_clip, tmp_path / "split", "fixed_boxes,track,spy", "track,spy")
    assert set(fakes) == {"streamer-spy"}  # its own thread, every window
    assert split["status"] == one["status"] == "completed"
    assert rows(tmp_path / "split" / "tracks.csv") == rows(tmp_path / "one" / "tracks.csv")
    assert [int(r["frame"]) for r in rows(tmp_path / "split" / "tracks.csv")] == list(range(31))
    assert log_one == stage_fakes.SPY_LOG  # same windows, then end_shot at each cut and the flush
    assert [e for e in log_one if e[0] != "window"] == [("end_shot", 1), ("end_shot", 1), ("flush", 1)]
    assert split["counts"]["frames_processed"] == one["counts"]["frames_processed"] == 31
    assert set(split["timings"]["stages"]) == {"fixed_boxes", "track", "spy"}
    assert split["timings"]["stages"]["spy"]["frames"] == 31


def test_a_stage_that_raises_on_a_stage_thread_fails_the_run(fakes, cut_clip, tmp_path):
    # boom raises at frame 30: the windows before it reach the sinks, the run says which stage
    # failed, as when every stage runs on the main thread
    one = run(cut_clip, tmp_path / "one", "fixed_boxes,track,boom", "")
    report = run(cut_clip, tmp_path / "out", "fixed_boxes,track,boom", "track,boom")
    assert report["status"] == one["status"] == "failed" and report["failed"] == {"stage": "boom"}
    assert report["error"] == one["error"] == "stage 'boom' failed: RuntimeError: boom at frame 30"
    assert 0 < report["counts"]["frames_processed"] == one["counts"]["frames_processed"] < 30
    assert rows(tmp_path / "out" / "tracks.csv") == rows(tmp_path / "one" / "tracks.csv")
    assert "boom at frame 30" in (tmp_path / "out" / "run.log").read_text()

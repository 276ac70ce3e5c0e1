"""Detection scoring on constructed boxes, and the hand-made person-box label files themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamer.detection.evaluate import Counts, match_frame, parse_labels

LABELS = Path(__file__).resolve().parent / "data" / "person_boxes"


def test_exact_boxes_all_match():
    targets = np.array([[10, 10, 30, 70], [100, 20, 120, 80]], float)
    m = match_frame(targets[::-1], targets)
    assert m.n_matched == 2 and m.n_kept == 2 and len(m.missed) == 0
    assert sorted(map(tuple, m.matches.tolist())) == [(0, 1), (1, 0)]
    np.testing.assert_allclose(m.iou, 1.0)


def test_iou_threshold_is_half():
    target = np.array([[0, 0, 10, 10]], float)
    at_half = np.array([[0, 0, 10, 5]], float)  # IoU exactly 0.5: a hit
    below = np.array([[0, 0, 10, 4.9]], float)  # IoU 0.49: a false positive and a miss
    assert match_frame(at_half, target).n_matched == 1
    m = match_frame(below, target)
    assert m.n_matched == 0 and m.false_positives.tolist() == [0] and m.missed.tolist() == [0]


def test_hungarian_beats_greedy():
    # greedy by IoU would give detection 0 to target 0 (IoU 0.82), and detection 1 could then
    # only take target 1 (IoU 0.25): one match; the assignment makes two (0.54 and 0.67)
    targets = np.array([[0, 0, 10, 20], [4, 0, 14, 20]], float)
    dets = np.array([[1, 0, 11, 20], [-2, 0, 8, 20]], float)
    m = match_frame(dets, targets)
    assert m.n_matched == 2
    assert sorted(map(tuple, m.matches.tolist())) == [(0, 1), (1, 0)]


def test_one_detection_matches_one_target():
    targets = np.array([[0, 0, 10, 20]], float)
    dets = np.array([[0, 0, 10, 20], [0, 0, 10, 19]], float)
    m = match_frame(dets, targets)
    assert m.matches.tolist() == [[0, 0]]
    assert m.false_positives.tolist() == [1]  # the duplicate counts against precision


def test_ignore_drops_unmatched_detections_only():
    targets = np.array([[0, 0, 10, 20]], float)
    ignore = np.array([[-5, -5, 100, 100]], float)  # covers the target too
    dets = np.array([[0, 0, 10, 20],  # matched: stays a hit although inside the ignore box
                     [50, 50, 60, 70],  # fully inside: dropped
                     [90, 0, 110, 20],  # half inside (by its own area): dropped
                     [95, 0, 115, 20]], float)  # a quarter inside: a false positive
    m = match_frame(dets, targets, ignore)
    assert m.matches.tolist() == [[0, 0]]
    assert m.ignored.tolist() == [1, 2]
    assert m.false_positives.tolist() == [3]
    assert m.n_kept == 2


def test_ignore_box_is_not_a_target():
    m = match_frame(np.zeros((0, 4)), np.zeros((0, 4)), np.array([[0, 0, 50, 50]], float))
    assert m.n_targets == 0 and m.n_kept == 0 and len(m.missed) == 0


@pytest.mark.parametrize("dets, targets, matched, kept, missed", [
    ([], [], 0, 0, 0),
    ([], [[0, 0, 10, 20]], 0, 0, 1),
    ([[0, 0, 10, 20]], [], 0, 1, 0),
])
def test_empty_frames(dets, targets, matched, kept, missed):
    m = match_frame(np.array(dets, float).reshape(-1, 4), targets)
    assert (m.n_matched, m.n_kept, len(m.missed)) == (matched, kept, missed)


def test_counts_recall_precision():
    c = Counts()
    assert c.recall is None and c.precision is None
    targets = np.array([[0, 0, 10, 20], [20, 0, 30, 20]], float)
    c.add(match_frame(np.array([[0, 0, 10, 20], [50, 0, 60, 20], [70, 0, 80, 20]], float), targets))
    assert (c.frames, c.targets, c.matched, c.kept, c.false_positives) == (1, 2, 1, 3, 2)
    assert c.recall == pytest.approx(0.5) and c.precision == pytest.approx(1 / 3)
    total = Counts()
    total += c
    total += c
    assert total.as_dict()["targets"] == 4 and total.recall == pytest.approx(0.5)


def test_parse_labels_rejects_bad_files():
    good = {"media": "x.mp4", "frames": [{"frame": 5, "split": "check", "boxes": [[0, 0, 1, 2]]},
                                         {"frame": 1, "split": "tune", "boxes": [], "ignore": [[0, 0, 3, 3]]}]}
    frames = parse_labels(good)
    assert [f.frame for f in frames] == [1, 5] and frames[0].boxes.shape == (0, 4)
    for bad in ({"frames": [{"frame": 1, "split": "train", "boxes": []}]},
                {"frames": [{"frame": 1, "split": "tune", "boxes": [[5, 0, 1, 2]]}]},
                {"frames": [{"frame": 1, "split": "tune", "boxes": []}, {"frame": 1, "split": "check", "boxes": []}]},
                {"frames": [{"split": "tune", "boxes": []}]}):
        with pytest.raises(ValueError):
            parse_labels(bad)


def label_files() -> list[Path]:
    return sorted(LABELS.glob("*.json"))


@pytest.mark.parametrize("path", label_files(), ids=lambda p: p.stem)
def test_label_file_is_well_formed(path):
    data = json.loads(path.read_text())
    assert Path(data["media"]).stem == path.stem
    assert data["how"].strip()
    frames = parse_labels(data, str(path))
    assert frames
    splits = [f.split for f in frames]
    if len(frames) > 1:  # clips alternate tune / check starting with tune; a still is either
        assert splits == [("tune", "check")[i % 2] for i in range(len(frames))]


@pytest.mark.parametrize("path", label_files(), ids=lambda p: p.stem)
def test_label_boxes_lie_in_the_frame(path, shared_data):
    from streamer.config import load_config
    from streamer.io.source import open_source

    data = json.loads(path.read_text())
    media = shared_data / data["media"]
    if not media.exists():
        pytest.skip(f"{media} is absent")
    with open_source(str(media), {**load_config()["source"], "max_frames": 1}) as source:
        height, width = next(iter(source)).image.shape[:2]
    for f in parse_labels(data, str(path)):
        for box in f.boxes:  # targets lie in the picture (ignore boxes may reach past it)
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height, (f.frame, box)


def test_tool_scores_the_labelled_frames(clip, tmp_path):
    """tools/eval_detection.py end to end on a bar-coded clip: the drawn frames are the labelled ones."""
    import os
    import subprocess
    import sys

    import cv2

    import media

    labels = tmp_path / "labels"
    labels.mkdir()
    box = [20, 60, 40, 90]  # below the bar code band
    (labels / "clip.json").write_text(json.dumps({"media": clip.path.name, "how": "test", "frames": [
        {"frame": 7, "split": "check", "boxes": [box]},
        {"frame": 3, "split": "tune", "boxes": [box, [100, 50, 120, 90]], "ignore": [[130, 40, 160, 96]]}]}))
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    out = subprocess.run([sys.executable, str(repo / "tools" / "eval_detection.py"), "--labels-dir", str(labels),
                          "--data", str(clip.path.parent), "--json", str(tmp_path / "e.json"),
                          "--draw", str(tmp_path / "draw")], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    numbers = json.loads((tmp_path / "e.json").read_text())["clips"]
    assert numbers["clip"]["tune"]["frames"] == 1 and numbers["clip"]["tune"]["targets"] == 2
    assert numbers["clip"]["check"]["frames"] == 1 and numbers["clip"]["check"]["targets"] == 1
    assert numbers["TOTAL"]["all"]["targets"] == 3
    for index in (3, 7):
        drawn = cv2.imread(str(tmp_path / "draw" / f"clip_f{index:05d}.png"))
        assert media.read_index(drawn) == index

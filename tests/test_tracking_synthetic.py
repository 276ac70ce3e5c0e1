"""Detection + tracking against the synthetic broadcast generator's exact ground truth.

22 players and a referee, crossings, a panning camera, score overlay (see
tools/eval_tracking.py for the full report and longer clips). Seed 0 dresses the
teams in red and navy; seed 1 in orange and white, the colour of the pitch lines;
seed 2 in yellow and maroon; seed 7 in white and yellow. Seeds 0 and 2 must meet the issue's targets (IDF1 and MOTA >=
0.85, at most one ID switch per player-minute in view); the seed-1 floors guard the
level measured when they were written (white kits on white lines are the
detector's weak spot); seed 7, white again, guards it with another scene.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import eval_tracking  # noqa: E402

from streamer.synth import SynthConfig  # noqa: E402

# seed -> (min IDF1, min MOTA, max ID switches per player-minute, min precision, min recall);
# measured in the comments
FLOORS = {
    0: (0.85, 0.85, 1.0, 0.95, 0.92),  # 0.956, 0.913, 0 (0 switches), 0.975, 0.937
    1: (0.88, 0.80, 5.0, 0.93, 0.85),  # 0.902, 0.820, 4.4 (4 switches), 0.954, 0.865
    2: (0.85, 0.85, 1.0, 0.93, 0.91),  # 0.939, 0.880, 0 (0 switches), 0.951, 0.928
    7: (0.92, 0.87, 5.0, 0.96, 0.90),  # 0.948, 0.901, 4.0 (4 switches), 0.978, 0.924
}


@pytest.mark.parametrize("seed", sorted(FLOORS))
def test_pitch_detector_and_tracker_on_a_generated_broadcast_clip(seed):
    result = eval_tracking.run_eval(SynthConfig(seconds=4.0, seed=seed))
    scores = result.scores
    min_idf1, min_mota, max_switches, min_precision, min_recall = FLOORS[seed]
    assert scores.num_gt_ids >= 14  # a crowd in view, not a few players
    assert scores.idf1 >= min_idf1, scores.as_dict()
    assert scores.mota >= min_mota, scores.as_dict()
    assert scores.switches_per_player_minute <= max_switches, scores.as_dict()
    assert scores.precision >= min_precision and scores.recall >= min_recall, scores.as_dict()

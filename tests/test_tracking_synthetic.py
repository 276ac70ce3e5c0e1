"""Detection + tracking against the synthetic broadcast generator's exact ground truth.

The floors here are regression guards at the level measured when they were written
(see tools/eval_tracking.py for the full report); the issue's targets (IDF1 and MOTA
>= 0.85) are not reached yet by the weight-free pitch detector.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import eval_tracking  # noqa: E402

from streamer.synth import SynthConfig  # noqa: E402


def test_pitch_detector_and_tracker_on_a_generated_broadcast_clip():
    result = eval_tracking.run_eval(SynthConfig(seconds=4.0, seed=0))
    scores = result.scores
    assert scores.num_gt_ids >= 15
    assert scores.idf1 >= 0.78, scores.as_dict()  # measured 0.84
    assert scores.mota >= 0.62, scores.as_dict()  # measured 0.70
    assert scores.precision >= 0.85 and scores.recall >= 0.72, scores.as_dict()  # measured 0.90 / 0.79

"""Shot boundaries: cuts found exactly; pans, zooms, flashes and shaky cameras are not cuts."""

from __future__ import annotations

import numpy as np
import pytest
import shot_scenes as sc

from streamer.config import load_config
from streamer.detection.shots import ShotConfig, ShotDetector, change, signature
from streamer.io.source import open_source

FPS = 25.0


def detect(frames: list[np.ndarray], config: ShotConfig | None = None) -> list[int]:
    """First frames of the shots found in ``frames``; checks the streaming contract on the way."""
    detector = ShotDetector(config)
    decided = []
    for i, image in enumerate(frames):
        decided += detector.push(i, i / FPS, image)
        assert len(decided) >= i + 1 - detector.cfg.lookahead  # at most `lookahead` frames late
    decided += detector.finish()
    assert [index for index, _ in decided] == list(range(len(frames)))  # each frame once, in order
    starts = [s.first_frame for s in detector.shots]
    # the shot of each frame agrees with the shot list
    assert [shot for _, shot in decided] == [int(np.searchsorted(starts, i, side="right")) - 1
                                             for i in range(len(frames))]
    return starts


@pytest.fixture(scope="module")
def stadium() -> np.ndarray:
    return sc.world(1)


def test_fast_pans_and_zooms_are_one_shot(stadium):
    x = sc.pan_end(20, 300, 0.5, 80)
    zoomed = 0.5 * 1.04**30
    frames = (
        sc.pan(stadium, 20, 300, 560, 0.5, top_speed_px=80)  # a whip pan: 1/8 of the picture a frame
        + sc.zoom(stadium, 30, x, 560, 0.5, 1.04)  # zoom in, 4 % a frame
        + sc.pan(stadium, 20, x, 560, zoomed, top_speed_px=40)  # tight, sideways
        + sc.zoom(stadium, 25, sc.pan_end(20, x, zoomed, 40), 560, zoomed, 1 / 1.05)  # out, faster
    )
    assert detect(frames) == [0]


def test_cuts_are_found_exactly(stadium):
    frames = (
        sc.pan(stadium, 20, 500, 500, 0.5, top_speed_px=10)  # wide
        + sc.pan(stadium, 20, 1700, 700, 1.0, top_speed_px=10)  # tight on the same pitch
        + sc.pan(sc.closeup(2), 20, 560, 360, 1.0, top_speed_px=4)  # close-up
        + sc.pan(stadium, 20, 900, 500, 0.5, top_speed_px=10)  # wide again
        + sc.pan(stadium, 20, 1700, 520, 0.55, top_speed_px=6)  # another wide view, same colours
    )
    assert detect(frames) == [0, 20, 40, 60, 80]


def test_flashes_are_not_cuts(stadium):
    frames = sc.pan(stadium, 50, 500, 500, 0.5, top_speed_px=20)
    for i in (15, 30, 31):  # a one-frame and a two-frame flash, during a pan
        frames[i] = sc.flashed(frames[i])
    assert detect(frames) == [0]
    # a cut just after a flash is still a cut
    frames = frames[:30] + sc.pan(sc.closeup(2), 20, 560, 360, 1.0, top_speed_px=4)
    frames[27] = sc.flashed(frames[27])
    assert detect(frames) == [0, 30]


def test_without_lookahead_frames_are_decided_at_once(stadium):
    frames = sc.pan(stadium, 20, 500, 500, 0.5, 10) + sc.pan(sc.closeup(2), 10, 560, 360, 1.0, 4)
    detector = ShotDetector(ShotConfig(lookahead=0))
    assert [detector.push(i, i / FPS, image) for i, image in enumerate(frames)] == [
        [(i, int(i >= 20))] for i in range(30)]
    assert detector.finish() == []


def test_shots_shorter_than_min_shot_are_not_split(stadium):
    wide, tight = sc.view(stadium, 800, 500, 0.5), sc.view(stadium, 1700, 700, 1.0)
    frames = [wide] * 20 + [tight] * 3 + [wide] * 20
    assert detect(frames, ShotConfig(min_shot_s=0.2)) == [0, 20]  # back after 3 frames: too soon
    assert detect(frames, ShotConfig(min_shot_s=0.1)) == [0, 20, 23]


def test_change_terms():
    """Colour and structure each see what they should: a shifted picture has neither,
    a recoloured one has colour change, a rearranged one of the same colours has structure."""
    scene = sc.world(3)
    a, shifted = sc.view(scene, 800, 500, 0.5), sc.view(scene, 830, 505, 0.5)
    assert change(signature(a), signature(shifted)) < 0.1
    assert change(signature(a), signature(a[:, :, ::-1].copy())) > 0.4  # red <-> blue
    blocks = a.reshape(4, 90, 4, 160, 3).transpose(2, 1, 0, 3, 4).reshape(360, 640, 3)
    assert change(signature(a), signature(np.ascontiguousarray(blocks))) > 0.4  # tiles moved
    black = np.zeros_like(a)
    assert change(signature(black), signature(black)) == 0.0


# Real clips: the one with cuts, and every other clip, which has none (the thresholds were set
# on the synthetic sequences above and the cut clip; these others were only checked).
CLIPS = {
    "clips/broadcast_cuts_pitchside.mp4": [0, 17, 208],
    "clips/bundesliga_08fd33_4.mp4": [0],
    "clips/goalkeeper_amateur.mp4": [0],  # hand-held shake
    "clips/broadcast_white_kits.mp4": [0],
    "clips/indoor_match_portrait.mp4": [0],
    "clips/indoor_person_squat.mp4": [0],
    "clips/pedestrians_vtest.avi": [0],
}


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_shared_clips(shared_data, clip):
    detector = ShotDetector()
    source_cfg = load_config()["source"]
    with open_source(str(shared_data / clip), source_cfg) as source:
        try:
            for frame in source:
                detector.push(frame.index, frame.time_s, frame.image)
        except Exception as exc:  # a truncated container (the cut clip) still gave its frames
            if "ended early" not in str(exc):
                raise
    detector.finish()
    assert [s.first_frame for s in detector.shots] == CLIPS[clip]

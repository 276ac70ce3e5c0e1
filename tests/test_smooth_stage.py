"""The ``smooth`` stage: registry, config, packet order and holding, raw/smoothed fields, noise inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamer.config import load_config
from streamer.errors import ConfigError
from streamer.pipeline import Pipeline
from streamer.records import BodyParams, Frame, Packet, Tracks
from streamer.smoothing import SmoothingParams
from streamer.smoothing.measurement import box_heights_px, measurements_from_body
from streamer.stages import STAGE_FACTORIES, StageContext, build_stage
from streamer.stages.smooth import SmoothStage
from testkit import motion as synth

FPS = 25.0
IMAGE = np.zeros((4, 4, 3), np.uint8)


def _packets(n: int, with_body=lambda k: True, box_height_px: float = 200.0) -> list[Packet]:
    """Two walkers with noisy estimates; frames where ``with_body(k)`` is False carry none."""
    times = np.arange(n) / FPS
    truth = synth.stack_players([synth.gait_motion(times, synth.WALK),
                                 synth.gait_motion(times, synth.RUN)])
    est = synth.noisy_estimates(truth, synth.NoiseSpec(), np.random.default_rng(0))
    ids = np.array([4, 9], np.int64)
    boxes = np.array([[0, 0, 50, box_height_px], [60, 0, 110, box_height_px]], np.float32)
    tracks = Tracks(ids, boxes, np.ones(2, np.float32))
    return [
        Packet(Frame(k, k, float(times[k]), IMAGE), tracks=tracks,
               body=est.body_at(k, ids) if with_body(k) else None)
        for k in range(n)
    ]


def _run(stage: SmoothStage, packets: list[Packet], window: int = 8) -> tuple[list[Packet], list[int]]:
    out, returned = [], []
    for start in range(0, len(packets), window):
        got = stage.process(packets[start:start + window])
        returned.append(len(got))
        out += got
    out += stage.flush()
    return out, returned


def test_registered_and_built_from_the_default_config():
    assert "smooth" in STAGE_FACTORIES
    stage = build_stage("smooth", load_config(), StageContext("cpu", FPS))
    assert stage.name == "smooth"
    assert stage.params.mode == "rts"
    assert math.isclose(stage.params.rot_noise_rad, math.radians(5.0))


@pytest.mark.parametrize("override", ["smooth.mode=bogus", "smooth.lag_s=-1", "smooth.rot_noise_deg=0"])
def test_bad_settings_are_config_errors(override):
    with pytest.raises(ConfigError):
        build_stage("smooth", load_config(overrides=[override]), StageContext("cpu", FPS))


@pytest.mark.parametrize("mode", ["rts", "forward"])
def test_every_packet_comes_out_once_in_order_with_raw_and_smoothed(mode):
    packets = _packets(60, with_body=lambda k: k % 7 != 3)
    out, _ = _run(SmoothStage(SmoothingParams(mode=mode)), packets)
    assert [p.frame.index for p in out] == list(range(60))
    for before, after in zip(packets, out, strict=True):
        if before.body is None:
            assert after.body is None and after.body_raw is None
            continue
        assert after.body_raw is before.body
        assert after.body is not before.body
        assert np.array_equal(after.body.track_id, before.body.track_id)
        assert after.body.body_pose.dtype == np.float32
        assert after.body.joints_cam_m is None
        assert after.tracks is before.tracks
    changed = np.mean([np.abs(a.body.transl - a.body_raw.transl).max() for a in out if a.body is not None])
    assert changed > 0.01  # it did smooth


def test_rts_holds_back_at_most_its_lag_and_forward_holds_nothing():
    packets = _packets(80)
    _, returned = _run(SmoothStage(SmoothingParams(mode="forward")), packets)
    assert returned == [8] * 10
    stage = SmoothStage(SmoothingParams(mode="rts", lag_s=0.5))
    _, returned = _run(stage, packets)
    assert returned[0] == 0  # 8 frames span 0.28 s < lag
    assert sum(returned) >= 80 - math.ceil(0.5 * FPS) - 8
    assert stage.smoother.held == 0  # flushed


def test_frames_without_bodies_are_not_held():
    packets = [p.replace(body=None) for p in _packets(16)]
    stage = SmoothStage(SmoothingParams(mode="rts", lag_s=0.5))
    assert stage.process(packets[:8]) == packets[:8]
    with_body = _packets(16)
    assert stage.process(packets[8:12] + with_body[12:16]) == packets[8:12]  # up to the first body
    assert [p.frame.index for p in stage.flush()] == [12, 13, 14, 15]


def test_joints_are_filled_by_one_batched_call_per_release():
    calls = []

    def fk(betas, global_orient, body_pose, transl):
        calls.append(len(betas))
        return np.repeat(transl[:, None, :], 22, axis=1)

    out, _ = _run(SmoothStage(SmoothingParams(mode="forward"), joints_fn=fk), _packets(16))
    assert calls == [16, 16]  # two windows of 8 frames x 2 players
    assert all(np.allclose(p.body.joints_cam_m[:, 5], p.body.transl) for p in out)


def test_duplicate_track_ids_are_refused():
    body = _packets(1)[0].body
    twice = BodyParams(np.array([3, 3]), body.betas, body.global_orient, body.body_pose, body.transl,
                       body.cam_K, body.joint_conf)
    with pytest.raises(ValueError, match="duplicate track ids"):
        SmoothStage(SmoothingParams(mode="forward")).process([Packet(Frame(0, 0, 0.0, IMAGE), body=twice)])


def test_small_boxes_and_low_confidence_mean_more_noise():
    params = SmoothingParams()
    body = _packets(1)[0].body
    tracks = Tracks(np.array([9, 4]), np.array([[0, 0, 10, 50], [0, 0, 10, 400]], np.float32), np.ones(2, np.float32))
    heights = box_heights_px(body.track_id, tracks)
    assert np.allclose(heights, [400.0, 50.0])  # rows matched by id, not position
    meas = measurements_from_body(body, heights, params)
    conf = body.joint_conf.astype(np.float64)
    # std = rot_noise x clip(200 / height, 0.5, 4) / conf
    assert np.allclose(np.sqrt(meas.rot_var[0]), params.rot_noise_rad * 0.5 / conf[0])
    assert np.allclose(np.sqrt(meas.rot_var[1]), params.rot_noise_rad * 4.0 / conf[1])
    assert meas.transl_var[1, 2] > meas.transl_var[1, 0]  # depth is the noisy axis
    unknown = measurements_from_body(body, box_heights_px(body.track_id, None), params)
    assert np.allclose(np.sqrt(unknown.rot_var), params.rot_noise_rad / conf)


def test_unconfident_and_non_finite_joints_carry_no_measurement():
    body = _packets(1)[0].body
    conf = body.joint_conf.copy()
    conf[0, 5] = 0.01
    pose = body.body_pose.copy()
    pose[1, 2] = np.nan
    odd = BodyParams(body.track_id, body.betas, body.global_orient, pose, body.transl, body.cam_K, conf)
    meas = measurements_from_body(odd, None, SmoothingParams())
    assert not meas.rot_valid[0, 5] and not meas.rot_valid[1, 3]
    assert meas.rot_valid.sum() == 2 * 22 - 2
    assert np.all(np.isfinite(meas.quat))


def test_runs_inside_the_pipeline(clip, tmp_path):
    """Packets without bodies (no mesh stage) pass through the held/flush path untouched."""
    config = load_config(overrides=["pipeline.stages=[smooth]", "outputs.overlay.enabled=false"])
    result = Pipeline(config).run(str(clip.path), tmp_path / "out")
    assert result.status == "completed"
    assert result.report["counts"]["frames_processed"] == clip.n_frames
    assert "smooth" in result.report["timings"]["stages"]

"""The keypoints stage: batching per window, empty frames, filters, rotation state, config, pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.config import load_config
from streamer.errors import ConfigError, MissingDependencyError
from streamer.pose.backend import PoseBatch
from streamer.pose.layouts import COCO17
from streamer.records import Frame, Packet, Tracks
from streamer.stages import STAGE_FACTORIES, StageContext, build_stage
from streamer.stages.keypoints import KeypointsStage

_UPRIGHT = {"left_shoulder": (6, -30), "right_shoulder": (-6, -30), "left_hip": (4, 0), "right_hip": (-4, 0),
            "left_knee": (4, 20), "right_knee": (-4, 20), "left_ankle": (4, 40), "right_ankle": (-4, 40)}


class FakeBackend:
    """COCO-17 skeletons centred on each box's centre, turned by a chosen body angle per box."""

    layout = "coco17"
    gives_world = False

    def __init__(self, body_angle: float = 0.0, conf: float = 0.9, pose_score: float = 0.8) -> None:
        self.calls: list[dict] = []
        self.body_angle, self.conf, self.pose_score = body_angle, conf, pose_score

    def estimate(self, images, image_index, xyxy_px, angle_rad) -> PoseBatch:
        self.calls.append({"n_images": len(images), "image_index": np.array(image_index),
                           "boxes": np.array(xyxy_px), "angle": np.array(angle_rad),
                           "image_ids": [int(im[0, 0, 0]) for im in images]})
        m = len(xyxy_px)
        c, s = np.cos(self.body_angle), np.sin(self.body_angle)
        xy = np.zeros((m, 17, 2), np.float32)
        for name, (dx, dy) in _UPRIGHT.items():
            centre = 0.5 * (xyxy_px[:, :2] + xyxy_px[:, 2:])
            xy[:, COCO17.index(name)] = centre + (c * dx - s * dy, s * dx + c * dy)
        return PoseBatch(xy, np.full((m, 17), self.conf, np.float32), np.full(m, self.pose_score, np.float32))


def _packet(index: int, boxes: list[tuple[float, ...]], ids: list[int] | None = None) -> Packet:
    image = np.full((120, 160, 3), index % 256, np.uint8)  # pixel value = frame index: which frame was sent
    frame = Frame(index, index, index / 25.0, image)
    ids = ids if ids is not None else list(range(1, len(boxes) + 1))
    tracks = Tracks(np.array(ids, np.int64), np.array(boxes, np.float32).reshape(-1, 4),
                    np.ones(len(boxes), np.float32))
    return Packet(frame, tracks=tracks)


def test_one_backend_call_per_window_with_every_box():
    backend = FakeBackend()
    stage = KeypointsStage(backend)
    packets = [_packet(0, [(0, 0, 20, 60), (50, 0, 70, 60)]), _packet(1, []), _packet(2, [(10, 10, 30, 70)])]
    out = stage.process(packets)
    assert len(backend.calls) == 1
    call = backend.calls[0]
    assert call["n_images"] == 2 and call["image_ids"] == [0, 2]  # frame 1 has no tracks: no image sent
    assert call["image_index"].tolist() == [0, 0, 1]
    np.testing.assert_array_equal(call["boxes"][2], (10, 10, 30, 70))
    assert [len(p.keypoints) for p in out] == [2, 0, 1]
    assert all(p.keypoints.layout == "coco17" and p.keypoints.world_m is None for p in out)
    assert out[0].keypoints.track_id.tolist() == [1, 2]
    np.testing.assert_allclose(out[2].keypoints.xy_px[0, COCO17.index("left_hip")], (24, 40))
    assert out[1].keypoints.xy_px.shape == (0, 17, 2)
    assert [p.frame.index for p in out] == [0, 1, 2] and out[0].tracks is packets[0].tracks


def test_frames_without_tracks_cost_no_model_call():
    backend = FakeBackend()
    out = KeypointsStage(backend).process([_packet(0, []), _packet(1, [])])
    assert backend.calls == [] and [len(p.keypoints) for p in out] == [0, 0]


@pytest.mark.parametrize(
    "kwargs, backend_kwargs, kept_ids",
    [
        ({"min_box_height_px": 30}, {}, [2]),  # box 1 is 20 px tall
        ({"min_pose_score": 0.5}, {"pose_score": 0.4}, []),
        ({"min_pose_score": 0.5}, {"pose_score": 0.6}, [7, 2]),
    ],
)
def test_filters_keep_track_order(kwargs, backend_kwargs, kept_ids):
    stage = KeypointsStage(FakeBackend(**backend_kwargs), **kwargs)
    out = stage.process([_packet(0, [(0, 0, 20, 20), (40, 0, 60, 60)], ids=[7, 2])])
    assert out[0].keypoints.track_id.tolist() == kept_ids


def test_rotation_follows_each_tracks_last_confident_torso():
    backend = FakeBackend(body_angle=0.5)
    stage = KeypointsStage(backend, rotate_max_age_s=0.3)
    stage.process([_packet(0, [(0, 0, 20, 60)], ids=[5])])
    assert backend.calls[0]["angle"].tolist() == [0.0]  # nothing known yet
    stage.process([_packet(1, [(0, 0, 20, 60), (40, 0, 60, 60)], ids=[5, 6])])
    np.testing.assert_allclose(backend.calls[1]["angle"], [0.5, 0.0])  # track 6 is new
    stage.process([_packet(20, [(0, 0, 20, 60)], ids=[5])])  # 0.76 s later: forgotten
    assert backend.calls[2]["angle"].tolist() == [0.0]


def test_rotation_off_and_unconfident_torsos_leave_crops_upright():
    for stage, backend in [(KeypointsStage(b := FakeBackend(body_angle=0.5), rotate=False), b),
                           (KeypointsStage(b2 := FakeBackend(body_angle=0.5, conf=0.3)), b2)]:
        stage.process([_packet(0, [(0, 0, 20, 60)])])
        stage.process([_packet(1, [(0, 0, 20, 60)])])
        assert backend.calls[1]["angle"].tolist() == [0.0]


def test_missing_tracks_is_a_config_error():
    frame = Frame(0, 0, 0.0, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="needs tracks"):
        KeypointsStage(FakeBackend()).process([Packet(frame)])


def _context() -> StageContext:
    return StageContext(device="cpu", fps=25.0)


def test_factory_builds_the_default_blazepose_stage():
    assert STAGE_FACTORIES["keypoints"] == "streamer.stages.keypoints:build"
    stage = build_stage("keypoints", load_config(), _context())
    assert stage.name == "keypoints" and stage.layout.name == "blazepose33" and stage.with_world
    assert stage.backend.landmarker.batch_size == 8 and stage.rotate


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["keypoints.backend=openpose"], ConfigError, "must be one of blazepose, onnx, mmpose"),
        (["keypoints.backend=onnx"], ConfigError, "keypoints.onnx.model: give the path"),
        (["keypoints.backend=onnx", "keypoints.onnx.model=/no/such.onnx"], ConfigError, "no such file"),
        (["keypoints.backend=mmpose"], ConfigError, "keypoints.mmpose.config: give"),
        (["keypoints.batch_size=0"], ConfigError, "keypoints.batch_size"),
        (["keypoints.crop_scale=0.1"], ConfigError, "keypoints.crop_scale"),
        (["keypoints.min_pose_score=2"], ConfigError, "keypoints.min_pose_score"),
        (["keypoints.blazepose.model=/no/such.tflite"], ConfigError, "no such file"),
    ],
)
def test_factory_rejects_bad_settings(overrides, error, message):
    with pytest.raises(error, match=message):
        build_stage("keypoints", load_config(None, overrides), _context())


def test_mmpose_backend_without_mmpose_names_the_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mmpose", None)  # as if not installed
    config_file = tmp_path / "rtmpose.py"
    config_file.write_text("# config\n")
    config = load_config(None, ["keypoints.backend=mmpose", f"keypoints.mmpose.config={config_file}"])
    with pytest.raises(MissingDependencyError, match=r"pip install -e .\[mmpose\]"):
        build_stage("keypoints", config, _context())


# ---------------------------------------------------------------------------------------------
# inside the pipeline


class FixedBoxes:
    """A stand-in tracker: the same two player boxes on every frame."""

    name = "fixed_boxes"
    fills = ("tracks",)

    def process(self, packets: list[Packet]) -> list[Packet]:
        boxes = np.array([[10, 10, 40, 90], [100, 5, 130, 90]], np.float32)
        return [p.replace(tracks=Tracks(np.array([1, 2]), boxes, np.ones(2, np.float32))) for p in packets]

    def flush(self) -> list[Packet]:
        return []


def build_fixed_boxes(config, context) -> FixedBoxes:
    return FixedBoxes()


def test_runs_in_the_pipeline_on_every_frame(clip, tmp_path, monkeypatch):
    from streamer.pipeline import Pipeline

    monkeypatch.setitem(STAGE_FACTORIES, "fixed_boxes", f"{__name__}:build_fixed_boxes")
    seen: list[Packet] = []
    original = KeypointsStage.process

    def spy(self, packets):
        out = original(self, packets)
        seen.extend(out)
        return out

    monkeypatch.setattr(KeypointsStage, "process", spy)
    config = load_config(None, ["pipeline.stages=[fixed_boxes, keypoints]", "outputs.overlay.enabled=false",
                                "pipeline.window=4"])
    result = Pipeline(config).run(str(clip.path), tmp_path / "out")
    assert result.status == "completed"
    assert len(seen) == clip.n_frames
    assert all(len(p.keypoints) == 2 and p.keypoints.xy_px.shape == (2, 33, 2) for p in seen)
    assert result.report["timings"]["stages"]["keypoints"]["frames"] == clip.n_frames

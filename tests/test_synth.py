"""Synthetic broadcast clips: determinism, truth that agrees with the pixels, gait, paths, stadium."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streamer.body.mannequin_backend import MannequinBody
from streamer.errors import ConfigError
from streamer.render import PinholeCamera, intrinsics, look_at
from streamer.synth import ClipGenerator, SynthConfig, load_truth, write_clip
from streamer.synth.gait import advance_phase, facing_orient, gait_pose, steps_per_second
from streamer.synth.paths import MIN_GAP_M, simulate_people
from streamer.synth.stadium import FILL_RGB, TexturedPlane, _draw_plane, build_stadium, render_stadium

SMALL = SynthConfig(width=480, height=272, seconds=0.4, fps=25, n_players=12, seed=3, mannequin_lod=2)


@pytest.fixture(scope="module")
def clip():
    """(generator, frames, truths) of the small config."""
    generator = ClipGenerator(SMALL)
    frames, truths = zip(*generator, strict=True)
    return generator, frames, truths


def test_same_seed_same_frames_and_truth(clip):
    _, frames, truths = clip
    again = ClipGenerator(SMALL)
    for k in (0, len(frames) - 1):
        image, truth = again.frame(k)
        assert image.tobytes() == frames[k].tobytes()
        for field in dataclasses.fields(truth):
            a, b = getattr(truth, field.name), getattr(truths[k], field.name)
            np.testing.assert_array_equal(a, b, err_msg=field.name)
    other, _ = ClipGenerator(dataclasses.replace(SMALL, seed=4)).frame(0)
    assert other.tobytes() != frames[0].tobytes()


def test_boxes_and_counts_match_the_instance_mask(clip):
    _, frames, truths = clip
    seen = 0
    for image, truth in zip(frames, truths, strict=True):
        assert image.shape == (SMALL.height, SMALL.width, 3) and image.dtype == np.uint8
        ids = set(np.unique(truth.instance_id)) - {0}
        assert ids <= set(truth.track_id.tolist())
        for row, track in enumerate(truth.track_id):
            ys, xs = np.nonzero(truth.instance_id == track)
            assert truth.visible_px[row] == len(xs)
            if len(xs) == 0:
                assert np.isnan(truth.xyxy_visible_px[row]).all() and truth.visibility[row] == 0
                continue
            seen += 1
            np.testing.assert_array_equal(truth.xyxy_visible_px[row], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            # what is visible lies inside the whole projected body
            x1, y1, x2, y2 = truth.xyxy_full_px[row]
            assert xs.min() + 0.5 >= x1 and xs.max() + 0.5 <= x2 and ys.min() + 0.5 >= y1 and ys.max() + 0.5 <= y2
            assert 0 < truth.visibility[row] <= 1
    assert seen >= 5 * len(frames)  # most players are in view


def test_projected_joints_fall_inside_the_boxes(clip):
    _, _, truths = clip
    checked = 0
    for truth in truths:
        for row in np.flatnonzero(truth.visibility > 0.95):
            x1, y1, x2, y2 = truth.xyxy_full_px[row]
            joints = truth.joints_px[row]
            assert ((joints[:, 0] >= x1 - 1) & (joints[:, 0] <= x2 + 1)).all()
            assert ((joints[:, 1] >= y1 - 1) & (joints[:, 1] <= y2 + 1)).all()
            vx1, vy1, vx2, vy2 = truth.xyxy_visible_px[row]
            if vx1 > 0 and vy1 > 0 and vx2 < SMALL.width and vy2 < SMALL.height:
                inside = ((joints[:, 0] >= vx1 - 1.5) & (joints[:, 0] <= vx2 + 1.5)
                          & (joints[:, 1] >= vy1 - 1.5) & (joints[:, 1] <= vy2 + 1.5))
                assert inside.mean() > 0.9
                checked += 1
    assert checked > 10


def test_team_colours_are_on_the_players(clip):
    generator, frames, truths = clip
    shirts = np.array([kit.shirt for kit in generator.kits], np.float64)  # home, away, referee
    chroma = shirts / shirts.sum(1, keepdims=True)  # shading scales colours: compare chromaticity
    for team in (0, 1):
        pixels = np.concatenate([
            image[np.isin(truth.instance_id, truth.track_id[truth.team == team])] for image, truth in
            zip(frames, truths, strict=True)]).astype(np.float64)
        pixels = pixels[pixels.sum(1) > 60]
        assert len(pixels) > 50
        near = np.linalg.norm((pixels / pixels.sum(1, keepdims=True))[:, None] - chroma[None], axis=2) < 0.06
        share = near.mean(0)  # share of the team's pixels in each kit's shirt colour
        assert share[team] > 0.08 and share[team] > 2 * share[1 - team], (team, share)


def test_truth_geometry_is_consistent(clip):
    generator, _, truths = clip
    truth = truths[-1]
    camera = PinholeCamera(truth.cam_K, truth.cam_R, truth.cam_t, SMALL.width, SMALL.height)
    ground = np.array([[0.0, 0.0, 0.0], [20.0, -10.0, 0.0], [-30.0, 25.0, 0.0]])
    uv, _ = camera.project(ground)
    hom = np.c_[ground[:, :2], np.ones(3)] @ truth.homography.T
    np.testing.assert_allclose(hom[:, :2] / hom[:, 2:], uv, atol=1e-6)
    np.testing.assert_allclose(truth.joints_cam_m, camera.to_camera(truth.joints_pitch_m), atol=1e-4)
    # feet on the grass, heads about a body height up
    assert np.abs(truth.joints_pitch_m[:, [10, 11], 2].min(1)).max() < 0.15
    assert (truth.joints_pitch_m[:, 15, 2] > 1.3).all()
    # the camera-frame SMPL-X parameters reproduce the camera-frame joints with the same body model
    body = MannequinBody("convex", lod=2)
    joints = body.joints(truth.betas, truth.global_orient_cam, truth.body_pose, truth.transl_cam)[:, :22]
    np.testing.assert_allclose(joints.numpy(), truth.joints_cam_m, atol=2e-3)
    pitch = body.joints(truth.betas, truth.global_orient_pitch, truth.body_pose, truth.transl_pitch)[:, :22]
    np.testing.assert_allclose(pitch.numpy(), truth.joints_pitch_m, atol=2e-3)
    assert len(np.unique(truth.team)) == 3 and (truth.team == 2).sum() == 1


def test_camera_pans_and_stays_put_without_pan():
    panning = ClipGenerator(dataclasses.replace(SMALL, seconds=6.0, n_players=10))
    first, last = panning.camera(0).ground_homography(), panning.camera(len(panning) - 1).ground_homography()
    assert not np.allclose(first / first[2, 2], last / last[2, 2], rtol=1e-3)
    assert abs(panning.aim[-1, 0] - panning.aim[0, 0]) > 1.0  # metres of pan along the touchline
    fixed = ClipGenerator(dataclasses.replace(SMALL, seconds=6.0, n_players=10, pan=False))
    np.testing.assert_allclose(fixed.camera(0).ground_homography(), fixed.camera(len(fixed) - 1).ground_homography())
    zooming = ClipGenerator(dataclasses.replace(SMALL, seconds=6.0, n_players=10, pan=False, zoom=True))
    focal = [zooming.camera(k).K[0, 0] for k in range(len(zooming))]
    assert max(focal) / min(focal) > 1.05


def test_overlay_hides_players_and_is_reported(clip):
    _, frames, truths = clip
    truth = truths[0]
    assert truth.overlay_xyxy_px.shape == (2, 4)
    x0, y0, x1, y1 = truth.overlay_xyxy_px[0].astype(int)
    assert (truth.instance_id[y0:y1, x0:x1] == 0).all()
    box = frames[0][y0:y1, x0:x1].reshape(-1, 3)
    assert (box.mean(0) < 90).all()  # a dark panel
    plain, plain_truth = ClipGenerator(dataclasses.replace(SMALL, overlay=False)).frame(0)
    assert plain_truth.overlay_xyxy_px.shape == (0, 4)


def test_players_are_broadcast_sized_at_720p():
    generator = ClipGenerator(SynthConfig(seconds=0.12, seed=5, mannequin_lod=2, shadows=False))
    _, truth = generator.frame(2)
    heights = (truth.xyxy_full_px[:, 3] - truth.xyxy_full_px[:, 1])[truth.visible_px > 0]
    assert len(heights) >= 8
    assert heights.min() >= 15 and heights.max() <= 90


def test_write_clip_and_load_truth(tmp_path):
    import av

    config = dataclasses.replace(SMALL, seconds=0.2)
    path = tmp_path / "clip.mp4"
    truth = write_clip(path, config)
    loaded = load_truth(tmp_path / "clip.truth.npz")
    assert len(loaded) == config.n_frames == 5
    assert loaded["betas"].shape == (5, 13, 10) and loaded["joints_px"].shape == (5, 13, 22, 2)
    np.testing.assert_array_equal(loaded["xyxy_full_px"], truth["xyxy_full_px"])
    assert loaded.meta["config"]["seed"] == SMALL.seed and loaded.meta["joint_names"][7] == "left_ankle"
    with av.open(str(path)) as container:
        frames = [f for f in container.decode(video=0)]
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == (SMALL.width, SMALL.height)


@pytest.mark.parametrize(("field", "value"), [("n_players", 9), ("n_players", 23), ("mannequin_lod", 3),
                                               ("fps", 0.0), ("camera_height_m", 1.0)])
def test_bad_configs(field, value):
    with pytest.raises(ConfigError):
        SynthConfig(**{field: value})


def test_gait_is_periodic_symmetric_and_speed_dependent():
    phase = np.linspace(0, 1, 16, endpoint=False)
    run = gait_pose(phase, np.full(16, 6.0))
    np.testing.assert_allclose(gait_pose(phase + 1.0, np.full(16, 6.0)), run, atol=1e-5)
    # half a stride later the legs have swapped: left hip then = right hip now
    half = gait_pose((phase + 0.5) % 1.0, np.full(16, 6.0))
    np.testing.assert_allclose(half[:, 0, 0], run[:, 1, 0], atol=1e-5)
    walk = gait_pose(phase, np.full(16, 1.4))
    assert np.ptp(run[:, 0, 0]) > np.ptp(walk[:, 0, 0]) > 0.4  # hip swing grows with speed
    assert run[:, 3, 0].max() > 1.4 and walk[:, 3, 0].max() < 1.2  # the knee folds more running
    stand = gait_pose(phase, np.zeros(16))
    assert np.ptp(stand[:, 0, 0]) < 1e-6
    assert steps_per_second(np.array([1.4]))[0] < steps_per_second(np.array([6.0]))[0] <= 3.2
    np.testing.assert_allclose(advance_phase(np.array([0.9]), np.array([6.0]), 0.1), [(0.9 + 0.15) % 1.0])


def test_facing_orient_points_the_body_along_its_heading():
    body = MannequinBody("convex", lod=2)
    for heading in (0.0, np.pi / 2, 2.5):
        joints = body.joints(global_orient=facing_orient(np.array([heading]))[0]).numpy()
        up = joints[15] - joints[0]
        assert up[2] > 0.5 and np.hypot(up[0], up[1]) < 0.15
        toes = (joints[10] + joints[11]) / 2 - (joints[7] + joints[8]) / 2  # ankles → toes: forward
        assert np.dot(toes[:2] / np.linalg.norm(toes[:2]), [np.cos(heading), np.sin(heading)]) > 0.9


def test_people_move_smoothly_on_the_pitch_and_meet():
    paths = simulate_people(np.random.default_rng(0), 22, True, n_frames=500, fps=25.0)
    pos = paths.position_m
    assert pos.shape == (500, 23, 2) and paths.team.tolist().count(2) == 1
    assert (np.abs(pos[..., 0]) < 56).all() and (np.abs(pos[..., 1]) < 37).all()
    step = np.linalg.norm(np.diff(pos, axis=0), axis=2) * 25.0
    assert step.max() < 8.0 and paths.speed_mps.max() < 8.0
    gaps = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=3) + np.eye(23) * 1e9
    assert gaps.min() < 1.5  # players come close: crossings and occlusions happen
    assert gaps.min() >= MIN_GAP_M - 1e-6  # ...shoulder to shoulder, never inside one another


def test_planes_behind_the_camera_leave_no_ghost():
    stadium = build_stadium(np.random.default_rng(0))
    width, height = 320, 180
    R, t = look_at(np.array([0.0, -74.0, 18.0]), np.array([0.0, -140.0, 10.0]))  # facing away from the pitch
    camera = PinholeCamera(intrinsics(300.0, width, height), R, t, width, height)
    frame = render_stadium(stadium, camera)
    assert (frame == np.array(FILL_RGB, np.uint8)).all()
    # a plane crossing the camera's sideways plane is drawn only where it really is in front
    R, t = look_at(np.array([0.0, 0.0, 2.0]), np.array([0.0, 10.0, 2.0]))
    camera = PinholeCamera(intrinsics(150.0, width, height), R, t, width, height)
    # a white wall at x = +3 m from y = -40 (behind the camera) to y = +40, 4 m high
    wall = TexturedPlane.from_image(np.full((64, 512, 3), 255, np.uint8), np.array([3.0, -40.0, 4.0]),
                                    np.array([0.0, 80.0 / 512, 0.0]), np.array([0.0, 0.0, -4.0 / 64]))
    frame = np.zeros((height, width, 3), np.uint8)
    _draw_plane(frame, wall, camera)
    white = frame[..., 0] == 255
    assert white.any() and not white[:, : width // 2].any()  # the wall is on the right (x = +3 m) only


def test_stadium_shows_the_halfway_line_where_the_homography_says():
    stadium = build_stadium(np.random.default_rng(1), ad_boards=False)
    width, height = 640, 360
    R, t = look_at(np.array([0.0, -74.0, 18.0]), np.array([0.0, -12.0, 0.0]))
    camera = PinholeCamera(intrinsics(900.0, width, height), R, t, width, height)
    frame = render_stadium(stadium, camera).astype(int)
    line = np.stack([np.zeros(7), np.linspace(-30, 30, 7), np.zeros(7)], 1)
    uv, _ = camera.project(line)
    on = frame[uv[:, 1].astype(int), uv[:, 0].astype(int)].sum(1)
    off = frame[uv[:, 1].astype(int), uv[:, 0].astype(int) + 6].sum(1)
    assert (on > off + 150).all()


def test_grass_has_no_seams_while_the_camera_moves():
    """Every pixel that looks at the pitch is painted (split planes overlap, no fill shows through)."""
    generator = ClipGenerator(SynthConfig(seconds=8.0, seed=7, zoom=True, n_players=10, mannequin_lod=2))
    for k in range(0, len(generator), 10):
        camera = generator.camera(k)
        frame = render_stadium(generator.stadium, camera)
        ys, xs = np.nonzero((frame == np.array(FILL_RGB, np.uint8)).all(2))
        ground = camera.ray_to_ground(np.c_[xs + 0.5, ys + 0.5])
        _, depth = camera.project(np.c_[ground, np.zeros(len(ground))])
        on_pitch = (depth > 0) & (np.abs(ground[:, 0]) < 60) & (np.abs(ground[:, 1]) < 38)
        assert not on_pitch.any(), k

"""ROIs, crop ↔ image affine maps and the warp: pure geometry, no model."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.pose.crop import (
    apply_affine,
    aspect_rois,
    crop_to_image,
    invert_affine,
    square_rois,
    upright_angle_rad,
    warp_crops,
)


@pytest.mark.parametrize(
    "box, scale, center, side",
    [
        ((10, 20, 30, 80), 1.0, (20, 50), 60),  # tall: longer side is the height
        ((0, 0, 100, 40), 1.5, (50, 20), 150),  # wide (a sliding player): the width
        ((5, 5, 15, 15), 1.35, (10, 10), 13.5),
    ],
)
def test_square_rois(box, scale, center, side):
    c, s = square_rois(np.array([box], np.float32), scale)
    np.testing.assert_allclose(c[0], center)
    np.testing.assert_allclose(s[0], (side, side))


@pytest.mark.parametrize(
    "box, size",
    [
        ((0, 0, 30, 80), (75.0, 100.0)),  # tall box: height padded, width widened to 3:4
        ((0, 0, 100, 40), (125.0, 125.0 / 0.75)),  # wide box: width padded, height grown
    ],
)
def test_aspect_rois_keep_the_model_aspect(box, size):
    c, s = aspect_rois(np.array([box], np.float32), 1.25, 192 / 256)
    np.testing.assert_allclose(s[0], size)
    np.testing.assert_allclose(c[0], ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))


@pytest.mark.parametrize(
    "hips, shoulders, angle",
    [
        ((50, 100), (50, 60), 0.0),  # upright
        ((50, 100), (90, 100), np.pi / 2),  # lying, head to the image's right
        ((50, 100), (10, 100), -np.pi / 2),
        ((50, 100), (50, 140), np.pi),  # upside down
        ((0, 0), (10, -10), np.pi / 4),
    ],
)
def test_upright_angle(hips, shoulders, angle):
    got = upright_angle_rad(np.array([hips], float), np.array([shoulders], float))[0]
    assert got == pytest.approx(angle)


def test_crop_corners_and_centre_land_on_the_roi():
    center, size = np.array([[100.0, 50.0]]), np.array([[40.0, 80.0]])
    mats = crop_to_image(center, size, np.array([0.0]), (20, 40))
    pts = apply_affine(mats, np.array([[[0, 0], [20, 40], [10, 20]]], float))
    np.testing.assert_allclose(pts[0], [[80, 10], [120, 90], [100, 50]])


def test_rotated_roi_turns_crop_up_towards_the_body():
    # a body lying with its head to the image's right: crop "up" (0, -1) must point to +x
    mats = crop_to_image(np.array([[0.0, 0.0]]), np.array([[2.0, 2.0]]), np.array([np.pi / 2]), (2, 2))
    top, below = apply_affine(mats, np.array([[[1.0, 0.0], [1.0, 1.0]]]))[0]
    up = top - below
    np.testing.assert_allclose(up, [1.0, 0.0], atol=1e-12)


def test_affine_round_trip():
    rng = np.random.default_rng(0)
    mats = crop_to_image(rng.uniform(0, 500, (5, 2)), rng.uniform(10, 200, (5, 2)), rng.uniform(-3, 3, 5),
                         (192, 256))
    pts = rng.uniform(0, 256, (5, 7, 2))
    np.testing.assert_allclose(apply_affine(invert_affine(mats), apply_affine(mats, pts)), pts, atol=1e-9)


@pytest.mark.parametrize("angle", [0.0, np.pi / 2, np.pi, -np.pi / 2])
def test_warp_puts_pixels_where_the_map_says(angle):
    """A lone pixel lands, exactly, on the crop pixel the affine map predicts (half-pixel convention)."""
    image = np.zeros((60, 80, 3), np.uint8)
    image[17, 43] = (255, 128, 7)
    center = np.array([[40.0, 30.0]])
    mats = crop_to_image(center, np.array([[32.0, 32.0]]), np.array([angle]), (32, 32))
    crop = warp_crops([image], np.array([0]), mats, (32, 32))[0]
    row, col = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    expected = apply_affine(invert_affine(mats), np.array([[[43.5, 17.5]]]))[0, 0]
    np.testing.assert_allclose((col + 0.5, row + 0.5), expected, atol=1e-6)
    np.testing.assert_array_equal(crop[row, col], (255, 128, 7))
    assert crop.sum() == 255 + 128 + 7  # nothing smeared: an exact copy at scale 1


def test_warp_fills_outside_the_image_with_black_and_uses_each_crops_frame():
    frames = [np.full((10, 10, 3), 50, np.uint8), np.full((10, 10, 3), 200, np.uint8)]
    mats = crop_to_image(np.full((2, 2), 5.0), np.full((2, 2), 40.0), np.zeros(2), (8, 8))
    crops = warp_crops(frames, np.array([1, 0]), mats, (8, 8))
    assert crops.shape == (2, 8, 8, 3)
    assert crops[0, 4, 4, 0] == 200 and crops[1, 4, 4, 0] == 50
    assert crops[0, 0, 0, 0] == 0

"""Regions of interest around players, the affine warps into model crops, and back.

Shape legend: ``M`` crops (players, across all frames of a window), ``K`` points per
crop, ``H, W`` image rows and columns, ``h, w`` crop rows and columns.

Coordinates are continuous pixels: the image's top-left corner is (0, 0) and the
centre of pixel (col, row) is (col + 0.5, row + 0.5), so a box ``x1 y1 x2 y2`` covers
columns ``x1 .. x2`` exactly and a crop point ``u / w`` is its normalised position,
as MediaPipe's landmark models report it. OpenCV puts pixel centres on integers;
:func:`warp_crops` converts.

A ROI is a centre, a size (w, h) in image pixels and an angle: the crop is the
rectangle of that size centred there, turned by the angle. ``angle_rad`` > 0 turns
the crop's "up" towards the image's +x (clockwise on screen), so a body leaning
right by that angle comes out upright in the crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def square_rois(xyxy_px: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Square ROIs centred on each box, side = ``scale`` × the box's longer side.

    Args:
        xyxy_px: (M, 4) boxes.
        scale: side of the square over the box's longer side (BlazePose: ~1.35).

    Returns:
        center_px: (M, 2) float64. size_px: (M, 2) float64, width = height.
    """
    boxes = np.asarray(xyxy_px, np.float64).reshape(-1, 4)
    center = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    side = scale * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return center, np.stack([side, side], axis=1)


def aspect_rois(xyxy_px: np.ndarray, padding: float, aspect_wh: float) -> tuple[np.ndarray, np.ndarray]:
    """ROIs centred on each box, padded, then widened or heightened to ``aspect_wh`` (top-down style).

    Args:
        xyxy_px: (M, 4) boxes.
        padding: factor on the box's width and height (RTMPose / mmpose: 1.25).
        aspect_wh: the model input's width / height (e.g. 192 / 256).

    Returns:
        center_px: (M, 2) float64. size_px: (M, 2) float64 (w, h) with w / h = aspect_wh.
    """
    boxes = np.asarray(xyxy_px, np.float64).reshape(-1, 4)
    center = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    w = padding * (boxes[:, 2] - boxes[:, 0])
    h = padding * (boxes[:, 3] - boxes[:, 1])
    wide = w > h * aspect_wh
    size = np.where(wide[:, None], np.stack([w, w / aspect_wh], 1), np.stack([h * aspect_wh, h], 1))
    return center, size


def upright_angle_rad(hips_xy_px: np.ndarray, shoulders_xy_px: np.ndarray) -> np.ndarray:
    """The ROI angle that makes the hips → shoulders direction point straight up in the crop.

    Args:
        hips_xy_px: (M, 2) mid-hip points. shoulders_xy_px: (M, 2) mid-shoulder points.

    Returns:
        (M,) float64 radians in (-pi, pi]; 0 for an upright body, > 0 when the shoulders
        are to the image's right of the hips.
    """
    up = np.asarray(shoulders_xy_px, np.float64) - np.asarray(hips_xy_px, np.float64)
    return np.arctan2(up[:, 0], -up[:, 1])


def rotation_matrices(angle_rad: np.ndarray) -> np.ndarray:
    """(M, 2, 2) rotations by ``angle_rad`` in image axes (y down: > 0 is clockwise on screen)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def crop_to_image(
    center_px: np.ndarray, size_px: np.ndarray, angle_rad: np.ndarray, crop_wh: tuple[int, int]
) -> np.ndarray:
    """Affine maps from crop coordinates to image coordinates.

    Args:
        center_px: (M, 2) ROI centres. size_px: (M, 2) ROI (w, h) in image pixels.
        angle_rad: (M,) ROI angles. crop_wh: the crop's (w, h) in pixels.

    Returns:
        (M, 2, 3) float64 ``A`` with ``image = A[:, :2] @ crop + A[:, 2]``.
    """
    crop = np.asarray(crop_wh, np.float64)
    linear = rotation_matrices(np.asarray(angle_rad, np.float64)) * (np.asarray(size_px) / crop)[:, None, :]
    offset = np.asarray(center_px, np.float64) - linear @ (crop / 2)
    return np.concatenate([linear, offset[:, :, None]], axis=2)


def invert_affine(mats: np.ndarray) -> np.ndarray:
    """(M, 2, 3) inverses of (M, 2, 3) affine maps."""
    linear_inv = np.linalg.inv(mats[:, :, :2])
    offset = -linear_inv @ mats[:, :, 2:]
    return np.concatenate([linear_inv, offset], axis=2)


def apply_affine(mats: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Map points: (M, 2, 3) maps, (M, K, 2) points → (M, K, 2) float64."""
    return np.einsum("mij,mkj->mki", mats[:, :, :2], xy) + mats[:, None, :, 2]


def warp_crops(
    images: Sequence[np.ndarray],
    image_index: np.ndarray,
    crop_to_image_mats: np.ndarray,
    crop_wh: tuple[int, int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Cut every ROI out of its image with bilinear sampling; outside the image is black.

    Args:
        images: frames, each (H, W, 3) uint8.
        image_index: (M,) which frame each crop comes from.
        crop_to_image_mats: (M, 2, 3) from :func:`crop_to_image`.
        crop_wh: (w, h) of the crops.
        out: optional (M, h, w, 3) uint8 buffer to fill.

    Returns:
        (M, h, w, 3) uint8 crops.
    """
    w, h = crop_wh
    m = len(image_index)
    crops = out if out is not None else np.empty((m, h, w, 3), np.uint8)
    # OpenCV samples pixel centres at integers: shift by half a pixel on both sides
    to_crop = invert_affine(crop_to_image_mats)
    to_crop[:, :, 2] += 0.5 * to_crop[:, :, :2].sum(axis=2) - 0.5
    for i in range(m):
        cv2.warpAffine(
            images[int(image_index[i])], to_crop[i], (w, h), dst=crops[i],
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
        )
    return crops

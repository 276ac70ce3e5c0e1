"""Record construction validates shapes and names expected vs actual."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.records import Detections, Frame, Packet, Tracks


def test_frame_checks_image_shape_and_dtype():
    Frame(0, 0, 0.0, np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match=r"Frame.image: expected shape \(\*, \*, 3\), got \(4, 6\)"):
        Frame(0, 0, 0.0, np.zeros((4, 6), np.uint8))
    with pytest.raises(ValueError, match="dtype uint8"):
        Frame(0, 0, 0.0, np.zeros((4, 6, 3), np.float32))


def test_tracks_shapes_and_select():
    tracks = Tracks(np.array([1, 2, 3]), np.zeros((3, 4), np.float32), np.ones(3, np.float32))
    kept = tracks.select(np.array([True, False, True]))
    assert kept.track_id.tolist() == [1, 3] and len(kept) == 2
    assert len(Tracks.empty()) == 0
    with pytest.raises(ValueError, match=r"Tracks.xyxy_px: expected shape \(3, 4\), got \(2, 4\)"):
        Tracks(np.array([1, 2, 3]), np.zeros((2, 4), np.float32), np.ones(3, np.float32))


def test_detections_shapes():
    assert len(Detections.empty()) == 0
    with pytest.raises(ValueError, match=r"Detections.score: expected shape \(2,\)"):
        Detections(np.zeros((2, 4), np.float32), np.zeros(3, np.float32))


def test_packet_replace_returns_new_packet():
    frame = Frame(0, 0, 0.0, np.zeros((2, 2, 3), np.uint8))
    packet = Packet(frame)
    updated = packet.replace(tracks=Tracks.empty())
    assert packet.tracks is None and updated.tracks is not None and updated.frame is frame

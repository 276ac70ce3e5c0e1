"""Test-only stages, registered by the tests that use them (``register_stage``).

* ``fixed_boxes``: a detector that finds the boxes in :data:`BOXES` in every frame (the
  plumbing of stills and cuts is tested without depending on a real person detector);
* ``spy``: passes packets on and records what it saw (windows, shot ends, flushes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamer.records import Detections, Packet

#: (N, 4) boxes x1 y1 x2 y2 and their scores; tests set them before a run
BOXES = np.zeros((0, 4), np.float32)
SCORES = np.zeros((0,), np.float32)
#: what the last spy stage saw: ("window", [shots]) / ("end_shot", n held) / ("flush", n held)
SPY_LOG: list[tuple[str, Any]] = []


class FixedBoxes:
    name = "fixed_boxes"
    fills = ("detections",)

    def process(self, packets: list[Packet]) -> list[Packet]:
        found = Detections(np.asarray(BOXES, np.float32), np.asarray(SCORES, np.float32))
        return [p.replace(detections=found) for p in packets]

    def flush(self) -> list[Packet]:
        return []


class Spy:
    """Holds the last packet of each window back (as a smoother would) and logs the calls."""

    name = "spy"

    def __init__(self) -> None:
        self.held: list[Packet] = []
        SPY_LOG.clear()

    def process(self, packets: list[Packet]) -> list[Packet]:
        SPY_LOG.append(("window", [p.shot for p in packets]))
        out, self.held = self.held + packets[:-1], packets[-1:]
        return out

    def end_shot(self) -> list[Packet]:
        SPY_LOG.append(("end_shot", len(self.held)))
        out, self.held = self.held, []
        return out

    def flush(self) -> list[Packet]:
        SPY_LOG.append(("flush", len(self.held)))
        out, self.held = self.held, []
        return out


def build_fixed_boxes(config: dict[str, Any], context: Any) -> FixedBoxes:
    return FixedBoxes()


def build_spy(config: dict[str, Any], context: Any) -> Spy:
    return Spy()

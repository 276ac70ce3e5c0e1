"""A stage and a sink that raise on purpose, for the failure-path tests."""

from __future__ import annotations

from typing import Any

from streamer.records import Packet


class BoomStage:
    """Passes packets through until it sees frame ``at``, then raises."""

    name = "boom"

    def __init__(self, at: int) -> None:
        self.at = at

    def process(self, packets: list[Packet]) -> list[Packet]:
        for packet in packets:
            if packet.frame.index == self.at:
                raise RuntimeError(f"boom at frame {self.at}")
        return packets

    def flush(self) -> list[Packet]:
        return []


def build_boom(config: dict[str, Any], context: Any) -> BoomStage:
    return BoomStage(at=30)


class BoomSink:
    """A sink whose ``write`` raises a non-OSError at frame ``at``."""

    name = "boom_sink"

    def __init__(self, at: int) -> None:
        self.at, self.written = at, 0

    def write(self, packet: Packet) -> None:
        if packet.frame.index == self.at:
            raise KeyError(f"no column for frame {self.at}")
        self.written += 1

    def counts(self) -> dict[str, int]:
        return {"boom_sink_frames": self.written}

    def close(self) -> None:
        pass

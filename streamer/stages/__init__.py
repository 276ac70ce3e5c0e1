"""Pipeline stages: a small protocol and a name → factory registry.

A stage receives a window of :class:`~streamer.records.Packet` (consecutive
frames, oldest first) and returns packets with its own field filled in. A stage
may hold packets back (a smoother that needs the future) and release them from a
later call or from :meth:`Stage.flush` at the end of the stream; it never
reorders them and never reads fields a later stage fills.

At a camera cut the pipeline calls :func:`end_shot`: a stage that has an
``end_shot()`` method returns the packets of the old shot it still holds and
forgets what belonged to the old camera view (tracks, calibration, filters); the
next packet it gets is the new shot's first. Windows never mix two shots.

Factories are registered as ``"module:function"`` strings so that naming a
stage in the config is what imports its module: a pipeline without model stages
never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from streamer.errors import ConfigError
from streamer.records import Packet


class Stage(Protocol):
    """What the pipeline runner needs from a stage.

    ``reads``: packet fields an earlier stage must fill; ``uses``: fields read when
    present (no later stage may fill them); ``fills``: fields it fills. The pipeline
    checks them when it builds the stages (:func:`check_order`), before anything is
    decoded or written.
    """

    name: str
    reads: tuple[str, ...]
    uses: tuple[str, ...]
    fills: tuple[str, ...]

    def process(self, packets: list[Packet]) -> list[Packet]:
        """Packets of one window in, finished packets out (possibly delayed)."""
        ...

    def flush(self) -> list[Packet]:
        """Packets still held back at the end of the stream."""
        ...


def end_shot(stage: Stage) -> list[Packet]:
    """The shot ended (a camera cut): the packets ``stage`` still held, oldest first, after
    which its per-view state is reset. A stage without an ``end_shot`` method keeps going:
    its state must not depend on the view (state keyed by player id is fine: ids never
    continue across a cut), and packets it holds must not feed a later stage that restarts
    (the soccer stage, last, holds packets and has no ``end_shot``)."""
    method = getattr(stage, "end_shot", None)
    return list(method()) if method is not None else []


@dataclass(frozen=True, slots=True)
class StageContext:
    """Run-wide facts a stage factory may use."""

    device: str  # "cpu" | "cuda"
    fps: float | None  # nominal input rate (informational; use Frame.time_s for time)
    live: bool = False  # a live source (camera, stream, preview): stages must not hold frames back


#: stage name -> "module:factory"; each factory is ``f(config, context) -> Stage``
STAGE_FACTORIES: dict[str, str] = {
    "detect": "streamer.stages.detect:build",
    "track": "streamer.stages.track:build",
    "keypoints": "streamer.stages.keypoints:build",
    "smooth": "streamer.stages.smooth:build",
    "mesh": "streamer.stages.mesh:build",
    "calibrate": "streamer.stages.calibrate:build", "soccer": "streamer.stages.soccer:build",
}


def register_stage(name: str, target: str) -> None:
    """Register a stage factory by its import path, e.g. ``"streamer.stages.track:build"``."""
    STAGE_FACTORIES[name] = target


def check_order(stages: list[tuple[str, Stage]]) -> None:
    """ConfigError unless every stage comes after the stages that fill what it reads.

    ``stages``: (name in ``pipeline.stages``, built stage) in run order.
    """
    filled: set[str] = set()
    for i, (name, stage) in enumerate(stages):
        later = {f: n for n, s in reversed(stages[i + 1:]) for f in getattr(s, "fills", ())}
        for field in getattr(stage, "reads", ()):
            if field in filled:
                continue
            if field in later:
                raise ConfigError(f"pipeline.stages: put '{later[field]}' before '{name}' ('{name}' reads the "
                                  f"{field} that '{later[field]}' fills)")
            raise ConfigError(f"pipeline.stages: '{name}' reads {field}, which no stage before it fills")
        for field in getattr(stage, "uses", ()):
            if field not in filled and field in later:
                raise ConfigError(f"pipeline.stages: put '{later[field]}' before '{name}' ('{name}' uses the "
                                  f"{field} that '{later[field]}' fills)")
        filled |= set(getattr(stage, "fills", ()))


def build_stage(name: str, config: dict[str, Any], context: StageContext) -> Stage:
    """Import and build the stage ``name`` (a ConfigError names the unknown stage)."""
    target = STAGE_FACTORIES.get(name)
    if target is None:
        known = ", ".join(sorted(STAGE_FACTORIES)) or "none yet"
        raise ConfigError(f"unknown stage '{name}' in pipeline.stages (available: {known})")
    module_name, _, func_name = target.partition(":")
    factory = getattr(importlib.import_module(module_name), func_name)
    return factory(config, context)

"""A LiteRT (TFLite) image model with one square RGB input whose batch size follows each call.

Both BlazePose models (the landmark model, :mod:`streamer.models.blazepose`, and the person
detector, :mod:`streamer.models.blazepose_detector`) load and batch the same way; each
subclass reads its own outputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError, MissingDependencyError
from streamer.io.quiet import quiet_stderr


def default_threads() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LiteRTImageModel:
    """Loads ``model_path`` and checks its one (input_px, input_px, 3) input.

    Raises:
        MissingDependencyError: LiteRT is not installed (``install_hint`` says how to get it).
        ConfigError: the file is not a TFLite model, or its input has another shape.
    """

    def __init__(self, model_path: Path, input_px: int, threads: int, install_hint: str) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise MissingDependencyError(install_hint) from exc
        self.model_path = model_path
        self.input_px = int(input_px)
        try:
            with quiet_stderr():  # LiteRT's C++ runtime announces its XNNPACK delegate on fd 2
                self._interp: Any = Interpreter(model_path=str(model_path), num_threads=threads or default_threads())
        except ValueError as exc:
            raise ConfigError(f"cannot load {model_path} as a TFLite model: {exc}") from exc
        inputs = self._interp.get_input_details()
        if len(inputs) != 1 or tuple(inputs[0]["shape"][1:]) != (self.input_px, self.input_px, 3):
            raise ConfigError(f"{model_path}: expected one {self.input_px}x{self.input_px}x3 input, got "
                              f"{[tuple(d['shape']) for d in inputs]}")
        self._input = inputs[0]["index"]
        self._size = 0

    def output_shapes(self) -> list[tuple[int, tuple[int, ...]]]:
        """(tensor index, shape without the batch axis) of every output."""
        return [(d["index"], tuple(int(v) for v in d["shape"][1:])) for d in self._interp.get_output_details()]

    def _resize(self, n: int) -> None:
        """Input batch size ``n`` (cheap once the arena has been allocated for a larger batch)."""
        if n != self._size:
            self._interp.resize_tensor_input(self._input, [n, self.input_px, self.input_px, 3])
            with quiet_stderr():
                self._interp.allocate_tensors()
            self._size = n

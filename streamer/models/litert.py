"""A LiteRT (TFLite) image model with one square RGB input whose batch size follows each call.

Both BlazePose models (the landmark model, :mod:`streamer.models.blazepose`, and the person
detector, :mod:`streamer.models.blazepose_detector`) load and batch the same way; each
subclass reads its own outputs. A subclass may name outputs it never reads (by their shape
without the batch axis): they are cut from the graph before it is loaded, with every
operator that only they need (:func:`prune_outputs`), so the interpreter does not compute
them; the other outputs stay bit-identical.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError, MissingDependencyError
from streamer.io.quiet import quiet_stderr

Shape = tuple[int, ...]


def default_threads() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=4)
def _pruned_file(path: str, size: int, mtime_ns: int, drop: frozenset[Shape]) -> bytes | None:
    """:func:`prune_outputs` of a file, once per process (the flatbuffer round trip costs ~0.5 s)."""
    return prune_outputs(Path(path).read_bytes(), drop)


def prune_outputs(model: bytes, drop: frozenset[Shape]) -> bytes | None:
    """``model`` (TFLite flatbuffer) without its first subgraph's outputs whose shape (without
    the batch axis) is in ``drop``, nor the operators only they need.

    Returns:
        The new flatbuffer, or None when nothing is dropped, when ``model`` is no TFLite
        flatbuffer (LiteRT then says why), or when LiteRT's schema module (or flatbuffers) is
        missing: the caller then loads ``model`` unchanged.
    """
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    if model[4:8] != b"TFL3":
        return None
    try:
        tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    except Exception:  # noqa: BLE001 - a damaged file: the interpreter reports it
        return None
    graph = tree.subgraphs[0]
    keep = [int(o) for o in graph.outputs if tuple(int(v) for v in graph.tensors[o].shape[1:]) not in drop]
    if len(keep) == len(graph.outputs):
        return None
    producer = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
    needed: set[int] = set()
    stack = list(keep)
    while stack:  # walk back from the kept outputs
        op = producer.get(stack.pop())
        if op is not None and op not in needed:
            needed.add(op)
            stack += [int(t) for t in graph.operators[op].inputs if t >= 0]
    graph.operators = [op for i, op in enumerate(graph.operators) if i in needed]  # order kept: still topological
    graph.outputs = keep
    for signature in tree.signatureDefs or []:
        signature.outputs = [t for t in signature.outputs if t.tensorIndex in keep]
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class LiteRTImageModel:
    """Loads ``model_path`` (without the outputs of shape in ``unused_outputs``, see
    :func:`prune_outputs`) and checks its one (input_px, input_px, 3) input.

    Raises:
        MissingDependencyError: LiteRT is not installed (``install_hint`` says how to get it).
        ConfigError: the file is not a TFLite model, or its input has another shape.
    """

    def __init__(
        self, model_path: Path, input_px: int, threads: int, install_hint: str,
        unused_outputs: frozenset[Shape] = frozenset(),
    ) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise MissingDependencyError(install_hint) from exc
        self.model_path = model_path
        self.input_px = int(input_px)
        threads = threads or default_threads()
        try:
            pruned = None
            if unused_outputs:
                stat = Path(model_path).stat()
                pruned = _pruned_file(str(Path(model_path).resolve()), stat.st_size, stat.st_mtime_ns,
                                      frozenset(unused_outputs))
            with quiet_stderr():  # LiteRT's C++ runtime announces its XNNPACK delegate on fd 2
                if pruned is None:
                    self._interp: Any = Interpreter(model_path=str(model_path), num_threads=threads)
                else:
                    self._interp = Interpreter(model_content=pruned, num_threads=threads)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"cannot load {model_path} as a TFLite model: {exc}") from exc
        inputs = self._interp.get_input_details()
        if len(inputs) != 1 or tuple(inputs[0]["shape"][1:]) != (self.input_px, self.input_px, 3):
            raise ConfigError(f"{model_path}: expected one {self.input_px}x{self.input_px}x3 input, got "
                              f"{[tuple(d['shape']) for d in inputs]}")
        self._input = inputs[0]["index"]
        self._size = 0

    @property
    def interpreter(self) -> Any:
        """The LiteRT interpreter itself (the benchmarks drive it bare, as the floor)."""
        return self._interp

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

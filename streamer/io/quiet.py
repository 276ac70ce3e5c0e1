"""Silence native libraries that print to the process's stderr (file descriptor 2)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send fd 2 to /dev/null for the duration (C/C++ code bypasses ``sys.stderr``).

    streamer's contract is one clear line on stderr for an error; a native runtime's
    banner must not add another. Keep the block short: other threads' stderr is lost too.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (e.g. a closed or redirected stream)
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

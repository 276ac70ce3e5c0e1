"""Signal helpers shared by the frame loop and the batch runner."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C for the duration: finalising outputs (or shutting Ray down) must not be cut
    short by a second Ctrl-C. A no-op off the main thread, where signals cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

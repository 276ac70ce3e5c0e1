"""Signal helpers shared by the frame loop and the batch runner."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def handling(signum: int, handler: Any) -> Iterator[bool]:
    """``handler`` for ``signum`` for the duration, the previous one restored after. Yields
    whether it was installed: off the main thread signals cannot be set, and this is a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.signal(signum, handler)
    try:
        yield True
    finally:
        signal.signal(signum, previous)


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C for the duration: finalising outputs (or shutting Ray down) must not be cut
    short by a second Ctrl-C. A no-op off the main thread, where signals cannot be set."""
    with handling(signal.SIGINT, signal.SIG_IGN):
        yield

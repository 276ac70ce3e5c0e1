"""The allocator setting the pipeline makes for frame-rate work."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tune_allocator_is_idempotent_and_keeps_the_process_working():
    # in a child process: the setting is process-wide
    code = ("import numpy as np\n"
            "from streamer.runtime import tune_allocator\n"
            "first = tune_allocator(); second = tune_allocator()\n"
            "assert first == second and isinstance(first, bool)\n"
            "arrays = [np.ones((720, 1280, 3), np.uint8) * i for i in range(20)]\n"
            "assert sum(int(a[0, 0, 0]) for a in arrays) == sum(range(20))\n"
            "print(first)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # glibc accepts both settings; other libcs refuse them and the pipeline runs as before
    assert out.stdout.strip() == str(platform.libc_ver()[0] == "glibc")

"""Write-to-temp-then-rename helpers: a reader never sees a half-written output."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def partial_path(final: Path) -> Path:
    """The temporary name an output is written under until it is complete."""
    return final.with_name(f"{final.name}.partial")


def commit(temp: Path, final: Path) -> None:
    """Atomically move a finished temporary file into place."""
    os.replace(temp, final)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, temp-then-rename."""
    temp = partial_path(path)
    with open(temp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")
    commit(temp, path)

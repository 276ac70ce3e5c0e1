"""``streamer batch``: many clips, one output folder each, on Ray or one by one, resumable.

Modules: ``plan`` (inputs, output folders, which clips are done), ``clip`` (one clip,
never raises), ``local`` and ``ray_runner`` (the two runners), ``report``
(``batch.json``), ``progress`` (the bar across clips), ``run`` (ties them together).
"""

from __future__ import annotations

from streamer.batch.plan import already_done, clip_digest, clip_dirs, expand_inputs
from streamer.batch.run import run_batch

__all__ = ["already_done", "clip_digest", "clip_dirs", "expand_inputs", "run_batch"]

"""Synthetic broadcast soccer clips with exact ground truth (boxes, ids, teams, joints, SMPL-X, camera).

``generate(SynthConfig(...))`` yields (frame, :class:`FrameTruth`); ``write_clip(path, config)``
writes an mp4 plus ``<stem>.truth.npz`` / ``.truth.json``. ``tools/synth.py`` is the CLI.
"""

from streamer.synth.generator import ClipGenerator, SynthConfig, generate, write_clip
from streamer.synth.truth import ClipTruth, FrameTruth, load_truth

__all__ = ["ClipGenerator", "ClipTruth", "FrameTruth", "SynthConfig", "generate", "load_truth", "write_clip"]

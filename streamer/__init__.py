"""streamer: soccer video in, per-player 3D motion out."""

__version__ = "0.1.0"

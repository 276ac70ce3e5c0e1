"""2D keypoints of tracked players: layouts, crops, plausibility checks and drawing.

Model backends live in :mod:`streamer.models`; the pipeline stage in
:mod:`streamer.stages.keypoints`. Everything here is pure numpy (OpenCV only for
warping and drawing) and never imports a model runtime.
"""

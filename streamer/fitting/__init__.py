"""CPU fitting of SMPL-X bodies to keypoints: the ``fit`` backend of the mesh stage.

One concept per module:

* :mod:`~streamer.fitting.skeleton` — the body model's joints as a fast, exact forward model;
* :mod:`~streamer.fitting.targets` — keypoint layout → model points, weights, bone directions;
* :mod:`~streamer.fitting.camera` — intrinsics, projection, viewing-ray frames, translation solve;
* :mod:`~streamer.fitting.priors` — anatomical joint ranges and a weak Gaussian pose prior;
* :mod:`~streamer.fitting.init` — torso Kabsch, limb inverse kinematics, initial translation;
* :mod:`~streamer.fitting.optimize` — the window objective and the batched Adam loop;
* :mod:`~streamer.fitting.confidence` — per-joint confidence of the result;
* :mod:`~streamer.fitting.fitter` — windows of keypoints in, ``BodyParams`` out, per-track memory;
"""

from streamer.fitting.fitter import FitterSettings, KeypointFitter, TrackState
from streamer.fitting.optimize import FitProblem, FitResult, FitWeights, fit_problem
from streamer.fitting.skeleton import FitSkeleton
from streamer.fitting.targets import TargetSpec, make_target_spec

__all__ = [
    "FitProblem", "FitResult", "FitSkeleton", "FitWeights", "FitterSettings", "KeypointFitter", "TargetSpec",
    "TrackState", "fit_problem", "make_target_spec",
]

"""Synthetic ground truth for the tests and the benchmark/evaluation tools; not part of the package.

* :mod:`testkit.motion`: SMPL-X walking / running motion and noisy estimates of it (smoother tests);
* :mod:`testkit.mesh_fit`: keypoints from known bodies, hidden limbs, MPJPE metrics (mesh-fit tests).

Tests import it from the repository root (pytest's ``pythonpath``); tools put the root on ``sys.path``.
"""

"""What ``torch.load(weights_only=True)`` must accept, besides tensors, in research checkpoints.

Checkpoints written by mmcv / mmengine training loops (BLADE's, mmpose's) carry numpy
scalars and arrays in their metadata (``dataset_meta`` sigmas and colours, logged
values). numpy 2 rebuilds a dtype through its class (``numpy.dtypes.Float32DType``...),
and pickles name the private module ``numpy.core`` when written under numpy 1,
``numpy._core`` under numpy 2: both names are allowed.
"""

from __future__ import annotations

import numpy as np


def numpy_globals() -> list:
    """numpy objects needed to rebuild scalars, arrays and dtypes, under numpy 1.x and 2.x names."""
    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    out: list = [np.ndarray, np.dtype]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out += [(core.scalar, f"{module}.scalar"), (core._reconstruct, f"{module}._reconstruct")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return out

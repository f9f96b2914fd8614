"""Box arithmetic shared by the detector, its focusing wrapper and the tracker (x1, y1, x2, y2 boxes)."""

from __future__ import annotations

from typing import cast

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) and (M, 4) boxes -> (N, M) intersection over union; 0 for disjoint or empty boxes."""
    a, b = a[:, None, :], b[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    # Numpy's stubs type arithmetic on an unparameterised ndarray as Any.
    return cast(np.ndarray, inter / np.maximum(area_a + area_b - inter, 1e-12))

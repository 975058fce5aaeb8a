"""Argument checks shared by the control core.

Every public function of the core accepts scalars, lists and ndarrays. These
helpers turn them into float arrays of the expected shape and raise
``ValueError`` naming the argument, the shape received and the shape expected.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def as_float(name: str, value: npt.ArrayLike, shape: tuple[int, ...] | None = None) -> FloatArray:
    """``value`` as a float64 array, broadcast to ``shape`` when given."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if shape is None or arr.shape == shape:
        return arr
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"{name} has shape {arr.shape}, expected {shape} (or a shape broadcastable to it)"
        ) from None


def as_bool(name: str, value: npt.ArrayLike, shape: tuple[int, ...]) -> BoolArray:
    """``value`` as a bool array broadcast to ``shape``."""
    arr = np.asarray(value, dtype=bool)
    if arr.shape == shape:
        return arr
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"{name} has shape {arr.shape}, expected {shape} (or a shape broadcastable to it)"
        ) from None


def leading_2d(name: str, value: npt.ArrayLike) -> FloatArray:
    """A float array of shape (n_entities, n_phases); 1-D input is one entity."""
    arr = as_float(name, value)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} has shape {arr.shape}, expected (n_intersections, n_phases)")
    return arr


def non_negative(name: str, arr: FloatArray) -> None:
    """Refuse negative values (NaN is allowed: it means 'unknown')."""
    if arr.size and not arr.min() >= 0 and np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 (got a minimum of {np.nanmin(arr)!r})")


def positive(name: str, arr: FloatArray) -> None:
    """Refuse values <= 0 (NaN is allowed: it means 'unknown')."""
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 (got a minimum of {np.nanmin(arr)!r})")


def rowsum(a: npt.NDArray[np.floating] | npt.NDArray[np.bool_]) -> FloatArray:
    """Sum over the last axis of a 2-D array (phases), left to right.

    The order of the scalar reference (``sum()`` in :mod:`control._reference`)
    and of the compiled pipeline (:mod:`control._kernels`), so all three add the
    same floats in the same order and agree to the last bit, whatever the memory
    layout (``a.sum(axis=-1)`` sums a C-ordered row of 8 or more pairwise, and
    a BLAS matrix-vector product in blocks). One pass per column: about as fast
    as a BLAS product on Fortran-ordered (n, 8) arrays. NaN and inf propagate
    as in any sum.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[-1] == 0:
        return a.sum(axis=-1)
    out = a[:, 0] + 0.0  # 0.0 + a0, as sum() starts from 0
    for j in range(1, a.shape[1]):
        out += a[:, j]
    return out

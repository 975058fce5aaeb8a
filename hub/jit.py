"""numba's ``njit``, or a stand-in that leaves the functions plain Python.

numba is a dependency of the hub; the stand-in only keeps the compiled kernels
(``control._kernels``, ``traveler_info._kernels``) importable, and runnable as
plain Python, where numba cannot be installed. :data:`HAVE_NUMBA` tells callers
which one they got.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency
    HAVE_NUMBA = False

    def njit(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        """``@njit`` and ``@njit(...)`` both give back the function unchanged."""
        if args and callable(args[0]):
            return args[0]

        def keep(f: Callable[..., Any]) -> Callable[..., Any]:
            return f

        return keep


__all__ = ["HAVE_NUMBA", "njit"]

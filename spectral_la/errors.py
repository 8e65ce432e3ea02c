"""Exceptions raised by spectral_la.

Every numerical failure is a :class:`LinAlgError` (a subclass of
``numpy.linalg.LinAlgError``, so callers that already catch NumPy's error keep
working). Bad arguments raise plain ``ValueError`` / ``TypeError`` naming the
argument.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DivergedError",
    "LinAlgError",
    "NotConvergedError",
    "NotPositiveSemidefiniteError",
    "ResultOverflowError",
    "SingularMatrixError",
]


class LinAlgError(np.linalg.LinAlgError):
    """Base class of the numerical failures of spectral_la."""


class SingularMatrixError(LinAlgError):
    """A map that needs an invertible matrix met a singular one (e.g. ``eps=0``)."""


class NotPositiveSemidefiniteError(LinAlgError, ValueError):
    """A symmetric input has eigenvalues below zero beyond rounding."""


class ResultOverflowError(LinAlgError, OverflowError):
    """The exact result of a map lies beyond the largest finite value of the output dtype."""


class NotConvergedError(LinAlgError):
    """An iteration did not reach its stopping criterion within its iteration cap."""


class DivergedError(NotConvergedError):
    """A fixed-step iteration left the finite range of its compute dtype (Inf or NaN in the result)."""

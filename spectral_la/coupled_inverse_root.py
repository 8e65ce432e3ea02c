"""Matmul-only inverse roots (A + εI)^{-1/r} of a symmetric PSD matrix.

Two coupled iterations, each written once for torch and mpmath:

**Coupled Newton** (``method="newton"``, any integer r ≥ 1; Guo & Higham,
"A Schur–Newton method for the matrix p'th root and its inverse", SIAM J.
Matrix Anal. Appl. 28(3), 2006, eq. (3.7); the variant used by Shampoo). With
B = A + εI and z = (r + 1)/(2‖B‖_F):

    X₀ = z^{1/r} I,   M₀ = z B,
    T = ((r + 1) I − M)/r,   X ← X T,   M ← T^r M.

The invariant X^{-r}·B = M holds at every step (all iterates are polynomials
in B and commute), M → I and X → B^{-1/r}. Convergence needs the eigenvalues
of M₀ in (0, r + 1); the scaling puts them in (0, (r + 1)/2]. Each eigenvalue
μ of M follows μ ← ((r + 1 − μ)/r)^r μ: quadratic near 1, but a small μ only
grows by about (1 + 1/r)^r ≤ e per step, so an eigenvalue ratio κ needs
≈ log(κ)/log((1 + 1/r)^r) steps before the quadratic phase.

**Coupled Newton–Schulz** (``method="newton_schulz"``, r = 2 only; Higham,
*Functions of Matrices*, 2008, eq. (6.35)): with c = ‖B‖_F,

    Y₀ = B/c,   Z₀ = I,   T = (3I − Z Y)/2,   Y ← Y T,   Z ← T Z,

Y → (B/c)^{1/2} and Z → (B/c)^{-1/2} when ‖I − B/c‖₂ < 1, which the scaling
guarantees for B ≻ 0. It returns the square root too (:func:`coupled_sqrt`).
Any odd-polynomial sign schedule drives it (``schedule``): a row p(x) =
x·q(x²), q(m) = c₀ + c₁m + …, gives T = q(ZY). This is the sign iteration
applied to [[0, B/c], [I, 0]], whose sign is [[0, (B/c)^{1/2}], [(B/c)^{-1/2}, 0]]
and whose eigenvalues are ±√(λᵢ/c) (Higham 2008, Thm 6.9 and §6.7): a
schedule designed for the sign on [√(λ_min/c), 1] takes every eigenvalue there.
The classic step is the row (3/2, −1/2) (``"newton_schulz_cubic"``, the default);
a Remez-designed schedule (:func:`spectral_la.design_schedule`, Polar Express's
construction) is the CANS coupled inverse square root (Grishina, Smirnov &
Rakhuba 2025, arXiv 2506.10935: Chebyshev-alternance polynomials for the polar
factor and the coupled inverse square root). A degree-(2k+1) step costs k + 2
products (ZY, k − 1 Horner products, Y T and T Z).

Stopping rule: iterate until ‖M − I‖_F ≤ tol (Newton) or ‖Z Y − I‖_F ≤ tol
(Newton–Schulz), checked every ``check_every`` steps (one host sync per check
on a GPU), then take one more step: convergence is quadratic there, so with
the default tol = √(n·u) that last step brings the residual to rounding level.
``converged`` says whether tol was reached within ``max_iterations``. Pass
``steps`` to run a fixed number of steps without per-step checks; ``converged``
then reports whether the final residual is ≤ tol. On a GPU the fixed-step mode
synchronises with the host three times in all (the input symmetry check, the
Cholesky test that B = A + εI is positive definite, and the final residual),
the tolerance mode once more per check. An indefinite A raises
:class:`NotPositiveSemidefiniteError`, a B singular to working precision
:class:`SingularMatrixError` (:func:`check_positive_definite`), so the
iterations never meet an input on which they would diverge or produce NaN.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from spectral_la.backend import Ops, working
from spectral_la.errors import DivergedError, NotPositiveSemidefiniteError, SingularMatrixError
from spectral_la.inverse_root import SLACK, scaled_shift, symmetric_part_checked
from spectral_la.kernels import gram_polynomial, matrix_power
from spectral_la.newton_schulz import map_bound
from spectral_la.schedules import Schedule, schedules
from spectral_la.validation import MAX_STEPS, check_in_range, check_int, check_result_finite

__all__ = ["RootResult", "coupled_inverse_root", "coupled_sqrt"]

METHODS = ("newton", "newton_schulz")


class RootResult(NamedTuple):
    """Result of a coupled root iteration."""

    root: Any
    """The requested root, same kind and dtype as the input."""
    iterations: int
    residual: float
    """max over the batch of ‖M − I‖_F (Newton) or ‖ZY − I‖_F (Newton–Schulz) at the end."""
    converged: bool


def _validate(r: Any, eps: Any, method: str, steps: Any, max_iterations: int, tol: Any = None) -> None:
    if tol is not None:  # tol ≤ 0 or NaN never stops: 100 iterations to converged=False (the audit's case)
        check_in_range(tol, "tol", 0, 1, lo_open=True)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(r, numbers.Integral) and isinstance(r, numbers.Real) and not isinstance(r, bool):
        raise ValueError(f"r must be a positive int (coupled iterations need an integer root), got {r!r}")
    check_int(r, "r", 1, 1024)
    if method == "newton_schulz" and r != 2:
        raise ValueError(f"method='newton_schulz' computes r = 2 only, got r={r}")
    check_in_range(eps, "eps", 0, None)
    if steps is not None:
        check_int(steps, "steps", 1, MAX_STEPS)
    check_int(max_iterations, "max_iterations", 1, MAX_STEPS)


def check_positive_definite(ops: Ops, b: Any, a: Any, eps: Any, rel: Any, name: str = "A") -> None:
    """Raise unless B = A + εI is numerically positive definite (a Cholesky factor exists).

    The coupled iterations need every eigenvalue of B in (0, ∞): on an
    indefinite B they diverge and on a singular one they never converge. When
    Cholesky fails, A + (ε + slack)I tells the two apart: positive definite
    means A is PSD but B is singular to working precision
    (:class:`SingularMatrixError`: pass a larger eps); otherwise A has an
    eigenvalue clearly below −ε (:class:`NotPositiveSemidefiniteError`).
    """
    if ops.is_positive_definite(b):
        return
    # The lift: the definiteness slack of inverse_root, plus ε_u² for a zero A (entries are ≤ 1 here).
    lifted = b + ops.eye(b.shape[-1]) * (ops.fro(a) * rel + ops.unit_roundoff * ops.unit_roundoff)
    if ops.is_positive_definite(lifted):
        raise SingularMatrixError(
            f"{name} + eps·I is numerically singular (eps = {eps}): the coupled iterations need it positive "
            "definite; pass a larger eps, or use the eigh route (inverse_root), which floors eigenvalues"
        )
    raise NotPositiveSemidefiniteError(f"{name} must be positive semidefinite: {name} + eps·I is indefinite")


@contextlib.contextmanager
def _shifted_operand(A: Any, eps: Any, tol: Any, compute_dtype: Any, check_finite: bool) -> Iterator[tuple]:
    """Inside the backend guard: (ops, B = 2^-e(sym(A) + εI), e, restore, stopping tolerance).

    Symmetry is checked with the same slack as :func:`spectral_la.inverse_root`,
    at the input's precision (before the guard digits); the power-of-two scaling
    (:func:`spectral_la.inverse_root.scaled_shift`) keeps every product in range.
    """
    ops, a, restore = working(A, "A", square=True, compute_dtype=compute_dtype, check_finite_entries=check_finite)
    n = a.shape[-1]
    rel = SLACK * n * ops.machine_epsilon
    with ops.guard():
        a_s, eps_s, e = scaled_shift(ops, symmetric_part_checked(ops, a, "A", rel), eps)
        b = a_s + ops.eye(n) * eps_s
        check_positive_definite(ops, b, a_s, eps, rel)
        yield ops, b, e, restore, default_tol(ops, n) if tol is None else ops.scalar(tol)


@dataclass(frozen=True)
class StoppingRule:
    """When a coupled iteration stops: after ``steps`` fixed steps, or once its residual is ≤ ``tol``.

    The tolerance mode checks the residual every ``check_every`` steps (one host synchronisation
    each), stops at ``max_iterations``, and after reaching ``tol`` takes one more step (quadratic
    convergence then brings the residual to rounding level). ``tol`` is in the working precision
    (a host scalar of ``ops``).
    """

    steps: int | None
    max_iterations: int = 100
    check_every: int = 1
    tol: Any = None


def _run(
    ops: Ops,
    state: tuple,
    step: Any,
    residual: Any,
    rule: StoppingRule,
    bound: Any = math.inf,
    name: str = "coupled iteration",
) -> tuple[tuple, int, Any, bool]:
    """Run ``step`` under the stopping ``rule``; returns (state, steps taken, residual, converged).

    ``bound``: the largest residual the recurrence can have in exact arithmetic from its start
    (a number, or a function of the steps run); a final residual above it (or not finite) means an
    iterate left the range where the recurrence is defined, and raises :class:`DivergedError`
    (no extra work: the residual is computed for the result anyway).
    """
    if rule.steps is not None:
        for _ in range(rule.steps):
            state = step(state)
        res = ops.batch_max(residual(state))
        _check_bounded(res, bound(rule.steps) if callable(bound) else bound, name)
        return state, rule.steps, res, bool(res <= rule.tol)
    it = 0
    res = ops.batch_max(residual(state))
    while it < rule.max_iterations and not res <= rule.tol:
        for _ in range(min(rule.check_every, rule.max_iterations - it)):
            state = step(state)
            it += 1
        res = ops.batch_max(residual(state))
    converged = bool(res <= rule.tol)
    if converged:
        state = step(state)
        it += 1
        res = ops.batch_max(residual(state))
    _check_bounded(res, bound(it) if callable(bound) else bound, name)
    return state, it, res, converged


def _check_bounded(res: Any, bound: float, name: str) -> None:
    if not float(res) <= bound:  # also for NaN
        raise DivergedError(
            f"{name}: the residual reached {float(res):.3g}, above {bound:.3g}, the most its iterates can have in "
            "exact arithmetic from the scaled start: an iterate left the range where the recurrence is defined "
            "(rounding in a low compute dtype, or eps too small for the dtype); use a wider compute dtype or eps > 0"
        )


def coupled_newton(ops: Ops, b: Any, r: int, rule: StoppingRule) -> tuple[Any, int, Any, bool]:
    """B^{-1/r} of a positive definite working array B by coupled Newton (Guo & Higham 2006, eq. 3.4).

    X₀ = z^{1/r}·I, M₀ = z·B with z = (r + 1)/(2‖B‖_F); each step T = ((r + 1)I − M)/r,
    X ← X T, M ← T^r M, so M → I and X → B^{-1/r}. Returns (X, steps, residual ‖M − I‖_F, converged).
    """
    n = b.shape[-1]
    eye = ops.eye(n)
    z = (r + 1) / (2 * ops.fro(b))  # B is positive definite here (checked), so ‖B‖_F > 0
    x = eye * ops.power(z, ops.scalar(1) / ops.scalar(r))
    m = b * z

    def step(state):
        x, m = state
        t = (eye * ops.scalar(r + 1) - m) / ops.scalar(r)
        return x @ t, matrix_power(ops, t, r) @ m

    def residual(state):
        return ops.fro(state[1] - eye)

    # M₀ = zB has its eigenvalues in (0, (r+1)/2]; each step maps them into (0, 1] (Guo–Higham 2006,
    # Lemma 3.3 for this scaling), so ‖M_k − I‖_F ≤ √n; twice that allows for rounding.
    bound = 2 * math.sqrt(n) * max(1.0, (r - 1) / 2)
    (x, _), it, res, converged = _run(ops, (x, m), step, residual, rule, bound, "coupled Newton")
    return x, it, res, converged


def _sign_schedule(schedule: str | Schedule, steps: int | None) -> Schedule:
    """The schedule driving coupled Newton–Schulz: a sign schedule that can run ``steps`` (or to tol)."""
    sched = schedules.resolve(schedule)
    if sched.target != "sign":
        raise ValueError(f"schedule {sched.name!r} targets {sched.target!r}; coupled Newton–Schulz needs a sign one")
    if steps is None and not (sched.repeat_last or sched.cycle):
        raise ValueError(
            f"schedule {sched.name!r} has {len(sched.rows)} fixed rows and cannot iterate to a tolerance: pass steps"
        )
    if steps is not None:
        sched.coefficients(steps)  # raises naming the schedule if it has too few rows
    return sched


def _newton_schulz(
    ops: Ops, b: Any, rule: StoppingRule, schedule: str | Schedule = "newton_schulz_cubic"
) -> tuple[Any, Any, int, Any, bool]:
    """(B^{1/2}, B^{-1/2}, steps, residual, converged) by coupled Newton–Schulz driven by a sign schedule."""
    n = b.shape[-1]
    eye = ops.eye(n)
    c = ops.fro(b)
    y = b / c
    z = eye + 0 * y
    sched = schedules.resolve(schedule)

    def step(state):
        y, z, k = state
        row = sched.row(k)
        t = eye * ops.scalar(row[0]) + gram_polynomial(ops, z @ y, row)  # q(ZY) = c₀I + c₁M + …
        return y @ t, t @ z, k + 1

    def residual(state):
        return ops.fro(state[1] @ state[0] - eye)

    # ZY has the eigenvalues f(√λ)² of the sign schedule's composed map f on √(λ/‖B‖_F) ∈ (0, 1], so
    # ‖Z Y − I‖_F ≤ √n·max(B², 1) with B the rows' band on [0, 1]; twice that allows for rounding.
    def bound(k: int) -> float:
        return 2 * math.sqrt(n) * max(map_bound(tuple(sched.coefficients(k))) ** 2, 1.0) if k else 2 * math.sqrt(n)

    (y, z, _), it, res, converged = _run(ops, (y, z, 0), step, residual, rule, bound, "coupled Newton–Schulz")
    root_c = ops.sqrt(c)
    return y * root_c, z / root_c, it, res, converged


def default_tol(ops: Ops, n: int) -> Any:
    return ops.host_math.sqrt(n * ops.unit_roundoff)


def coupled_inverse_root(
    A: Any,
    r: int,
    *,
    eps: float = 0.0,
    method: str = "newton",
    steps: int | None = None,
    max_iterations: int = 100,
    check_every: int = 1,
    tol: float | None = None,
    schedule: str | Schedule = "newton_schulz_cubic",
    compute_dtype: Any = None,
    check_finite: bool = True,
) -> RootResult:
    """(A + εI)^{-1/r} of symmetric PSD A by a coupled iteration (matmul only).

    Parameters
    ----------
    A : torch.Tensor, mpmath.matrix or object ndarray, shape (..., n, n)
        Symmetric (checked to 10·n·ε·‖A‖_F, then symmetrised) PSD; batched.
        With eps = 0 it must be positive definite.
    r : int ≥ 1
        Root order.
    eps : float ≥ 0
        Regularisation added to the diagonal, as in :func:`spectral_la.inverse_root`
        (which is the exact counterpart; there negative rounding eigenvalues are
        clamped first, here they are not: eps must dominate them).
    method : {"newton", "newton_schulz"}
        Coupled Newton (any r) or coupled Newton–Schulz (r = 2); module docstring.
    steps : int, optional
        Fixed step count (no per-step host synchronisation). Default: iterate to ``tol``.
    max_iterations, check_every, tol
        Stopping rule of the default mode; tol defaults to √(n·u).
    schedule : str or Schedule
        ``method="newton_schulz"`` only: the sign schedule whose rows give
        T = q(ZY) (module docstring); the default is the classic step, a
        :func:`spectral_la.design_schedule` result for ℓ = √(λ_min/‖B‖_F) the
        CANS iteration. Its normalisation is not used (B is scaled by ‖B‖_F).
    compute_dtype : torch.dtype, optional
        As in :func:`spectral_la.newton_schulz` (default fp32 for half inputs).

    Returns
    -------
    RootResult(root, iterations, residual, converged)

    Examples
    --------
    >>> import torch
    >>> A = torch.diag(torch.tensor([4.0, 16.0], dtype=torch.float64))
    >>> res = coupled_inverse_root(A, 2)
    >>> torch.allclose(res.root, torch.diag(torch.tensor([0.5, 0.25], dtype=torch.float64))), res.converged
    (True, True)
    """
    _validate(r, eps, method, steps, max_iterations, tol)
    check_int(check_every, "check_every", 1, MAX_STEPS)
    sched = _sign_schedule(schedule, steps) if method == "newton_schulz" else schedules.resolve(schedule)
    with _shifted_operand(A, eps, tol, compute_dtype, check_finite) as (ops, b, e, restore, threshold):
        rule = StoppingRule(steps, max_iterations, check_every, threshold)
        if method == "newton":
            root, it, res, converged = coupled_newton(ops, b, r, rule)
        else:
            _, root, it, res, converged = _newton_schulz(ops, b, rule, sched)
        root = ops.mul_pow2(root, e * (ops.scalar(-1) / ops.scalar(r)))
    root = restore(root)
    check_result_finite(root, "(A + εI)^{-1/r}")
    return RootResult(root, it, float(res), converged)


def coupled_sqrt(
    A: Any,
    *,
    eps: float = 0.0,
    steps: int | None = None,
    max_iterations: int = 100,
    tol: float | None = None,
    schedule: str | Schedule = "newton_schulz_cubic",
    compute_dtype: Any = None,
    check_finite: bool = True,
) -> tuple[Any, Any, RootResult]:
    """(A + εI)^{1/2} and (A + εI)^{-1/2} together, by coupled Newton–Schulz.

    ``schedule`` as in :func:`coupled_inverse_root` (a designed one: CANS).
    Returns ``(sqrt, inv_sqrt, info)`` with ``info`` a :class:`RootResult` whose
    ``root`` is the inverse square root.

    Examples
    --------
    >>> import torch
    >>> from spectral_la import design_schedule
    >>> A = torch.diag(torch.tensor([1e-3, 0.5, 4.0], dtype=torch.float64))
    >>> cans = design_schedule(5, 6, 0.01).schedule  # ℓ ≤ √(λ_min/‖A‖_F) = √(1e-3/4.03)
    >>> sq, inv, info = coupled_sqrt(A, schedule=cans, steps=6)
    >>> torch.allclose(torch.diagonal(inv), torch.tensor([1e-3, 0.5, 4.0], dtype=torch.float64) ** -0.5)
    True
    """
    _validate(2, eps, "newton_schulz", steps, max_iterations, tol)
    sched = _sign_schedule(schedule, steps)
    with _shifted_operand(A, eps, tol, compute_dtype, check_finite) as (ops, b, e, restore, threshold):
        rule = StoppingRule(steps, max_iterations, 1, threshold)
        sq, inv, it, res, converged = _newton_schulz(ops, b, rule, sched)
        half = e * (ops.scalar(1) / ops.scalar(2))
        sq, inv = ops.mul_pow2(sq, half), ops.mul_pow2(inv, -half)
    inv_r, sq_r = restore(inv), restore(sq)
    check_result_finite(inv_r, "(A + εI)^{-1/2}")
    check_result_finite(sq_r, "(A + εI)^{1/2}")
    return sq_r, inv_r, RootResult(inv_r, it, float(res), converged)

"""Named methods for the analysis layer: a :class:`Method` wraps one core spec value.

A method is named by a spec (grammar, validation and round trip: :mod:`spectral_la.spec`), e.g.
``"ns:polar_express"``, ``"soften:0.3:jordan_ns5"``, ``"muon_p:1/3"``, ``"msign"``, or a
designed schedule file; the optimizer, the command line and the report use the same values.

Every :class:`Method` knows (ARCHITECTURE.md, principle 2): how the input's singular values σ
become the normalised σ̂ the iteration sees (``sigma_hat``), its scalar map f(σ̂) computed by
the same code as the matrix map (``scalar``), and its target map t(σ̂) (``target``), so
prediction, target and measured response can sit side by side.

Which exact map: the matmul-only iterations are odd polynomials, which map σ = 0 to 0, so
they approach :func:`spectral_la.msign` (U_r V_rᵀ), not a polar factor; their ``exact`` is
msign (the two agree on full-rank input). The ``polar`` specs compare against the polar
factor itself.

The σ-based analyses need σ̂ to be a function of σ and ‖X‖_F: a Newton–Schulz spec whose
normalisation is AOL or a spectral bound is refused here (the matrix-level tools keep it).
Muon^p's scalar map is the recurrence's map as it is, including its blow-up above the
stable bound (the response figure draws it); ``muon_p`` itself raises there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import spectral_la as sl
from spectral_la.normalization import FROBENIUS_KINDS
from spectral_la.spec import Spec, parse_spec

__all__ = ["Method", "Spec", "frobenius_schedules", "method", "parse_spec"]


@dataclass(frozen=True)
class Method:
    """A spec with the callables the analysis layer uses (module docstring)."""

    spec: Spec

    @property
    def name(self) -> str:
        return str(self.spec)

    @property
    def matmul_only(self) -> bool:
        return self.spec.matmul_only

    def apply(self, x: Any, **kw: Any) -> Any:
        """F(X); ``compute_dtype`` and ``check_finite`` as the spec takes them."""
        return self.spec(x, **kw)

    def scalar(self, sigma_hat: Any) -> Any:
        """f(σ̂) (float64 tensor or list of mpmath numbers), as the recurrence computes it everywhere."""
        return self.spec.scalar_map(sigma_hat, check_range=False)

    def target(self, sigma_hat: Any) -> Any:
        return self.spec.target(sigma_hat)

    def sigma_hat(self, sigma: Any, fro: Any) -> Any:
        """σ ↦ σ̂ from the singular values of X and ‖X‖_F."""
        return self.spec.normalized_sigma(sigma, fro)

    def exact(self, x: Any, rtol: float | None = None) -> Any:
        return self.spec.exact(x, rtol=rtol)


def frobenius_schedules(names=None) -> list[str]:
    """The registered schedules (or those of ``names``) whose normalised σ̂ is a function of σ and ‖X‖_F.

    The others (AOL, spectral bound) scale X by more than its singular values, so no scalar map of σ
    predicts their matrix result; the σ-based analyses skip them and the matrix-level ones keep them.
    """
    return [n for n in (names or list(sl.schedules)) if sl.schedules[n].normalization.kind in FROBENIUS_KINDS]


def method(spec: Any) -> Method:
    """The :class:`Method` of a spec: a string, a JSON object, a ``.json`` file, a Spec or a Method."""
    if isinstance(spec, Method):
        return spec
    sp = parse_spec(spec)
    norm = sp.iteration_normalization
    if norm is not None and norm.kind not in FROBENIUS_KINDS:
        raise ValueError(
            f"analysis methods need a Frobenius-normalised schedule, spec {sp} normalises by {norm.kind}: "
            "σ̂ is then not a function of σ and ‖X‖_F"
        )
    return Method(sp)

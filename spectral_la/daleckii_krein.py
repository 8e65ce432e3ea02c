"""Derivatives of spectral maps (Daleckii–Krein), finite at repeated singular values and eigenvalues.

torch's own SVD and eigh backward pass through the singular vectors, whose
derivative has 1/(σᵢ² − σⱼ²) terms that blow up at repeated values although
the *map* U f(Σ) Vᵀ is smooth there. The formulas below differentiate the map
itself (Higham, *Functions of Matrices*, 2008, Thm 3.11 for symmetric
matrices; the rectangular form for singular-value maps is in Noferini,
"A formula for the Fréchet derivative of a generalized matrix function",
SIMAX 38(2), 2017):

* **Eigenvalue map** F(A) = Q f(Λ) Qᵀ of symmetric A:
  dF = Q (D ∘ Qᵀ dA Q) Qᵀ with D_ij = f[λᵢ, λⱼ] (divided difference; f'(λᵢ)
  on the diagonal and wherever λᵢ = λⱼ).
* **Singular-value map** F(X) = W f(Σ) Vᵀ of a tall X = W Σ Vᵀ (m ≥ n, thin):
  with dS = Wᵀ dX V,
  dF = W (D⁻ ∘ sym(dS) + D⁺ ∘ skew(dS)) Vᵀ + (I − WWᵀ) dX V diag(f(σ)/σ) Vᵀ,
  D⁻_ij = (f(σᵢ) − f(σⱼ))/(σᵢ − σⱼ),  D⁺_ij = (f(σᵢ) + f(σⱼ))/(σᵢ + σⱼ).
  For the polar factor (f ≡ 1) this is the solution Ω of the Sylvester
  equation HΩ + ΩH = UᵀdX − dXᵀU, Ω = W (2 skew(dS)/(σᵢ + σⱼ)) Vᵀ: defined
  whenever σᵢ + σⱼ > 0, so at every repeated σ of a full-rank X.

Both operators are self-adjoint under the Frobenius inner product up to the
sym/skew split, so the vector–Jacobian products have the same form with Ḡ in
place of dX (for the eigenvalue map, symmetrised).

Divided differences of powers are evaluated without cancellation:
(a^q − b^q)/(a − b) = a^{q−1}·expm1(q·L)/expm1(L) with L = log(b/a), which
tends to q·a^{q−1} as b → a.
"""

from __future__ import annotations

import torch

__all__ = ["power_divided_difference", "singular_value_map_vjp", "eigen_map_vjp"]


def power_divided_difference(a: torch.Tensor, b: torch.Tensor, q: float) -> torch.Tensor:
    """(a^q − b^q)/(a − b) for a, b > 0, accurate to a few ulps also at a ≈ b (q·a^{q−1} at a = b)."""
    log_ratio = torch.log(b) - torch.log(a)
    near = log_ratio.abs() < 0.5
    safe = torch.where(near, log_ratio, torch.zeros_like(log_ratio))
    den = torch.expm1(safe)
    ratio = torch.where(den == 0, torch.full_like(den, q), torch.expm1(q * safe) / torch.where(den == 0, 1, den))
    close = a.pow(q - 1) * ratio
    far = (a.pow(q) - b.pow(q)) / torch.where(near, torch.ones_like(a), a - b)
    return torch.where(near, close, far)


def _sym(m: torch.Tensor) -> torch.Tensor:
    return (m + m.mT) / 2


def singular_value_map_vjp(
    g: torch.Tensor, w: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, p: float, keep: torch.Tensor | None
) -> torch.Tensor:
    """X̄ for F(X) = W f(Σ) Vᵀ, f(σ) = σ^p on kept σ and 0 on the others (tall X, thin SVD W, s, Vᵀ).

    ``keep`` None keeps every σ (the polar factor when p = 0); it must then be
    positive, or the derivative does not exist. A σ outside ``keep`` is a
    numerical zero mapped to 0 (the map is locally constant there).
    """
    if keep is None:
        if bool((s[..., -1] <= 0).any()):
            raise ValueError(
                "the polar factor is not differentiable at a rank-deficient X (a singular value is 0): "
                "its null-space part is not determined by X"
            )
        keep = torch.ones_like(s, dtype=torch.bool)
    elif p < 1 and bool((keep & (s <= 0)).any()):
        raise ValueError("U Σ^p Vᵀ with p < 1 is not differentiable where a kept singular value is 0")
    one = torch.ones_like(s)
    sk = torch.where(keep, s, one)
    f = torch.where(keep, sk.pow(p), torch.zeros_like(s))
    si, sj = sk[..., :, None], sk[..., None, :]
    ki, kj = keep[..., :, None], keep[..., None, :]
    fi, fj = f[..., :, None], f[..., None, :]
    both = ki & kj
    # D⁻: divided difference of σ^p between kept values; f_i/(σ_i − σ_j) against a zeroed one.
    s_raw_i, s_raw_j = s[..., :, None], s[..., None, :]
    gap = torch.where(both, one[..., None], s_raw_i - s_raw_j)
    if p == 0:
        d_minus_kept = torch.zeros_like(si * sj)
    else:
        d_minus_kept = power_divided_difference(si.expand_as(si * sj), sj.expand_as(si * sj), p)
    d_minus = torch.where(both, d_minus_kept, (fi - fj) / torch.where(gap == 0, one[..., None], gap))
    d_minus = torch.where(~ki & ~kj, torch.zeros_like(d_minus), d_minus)
    total = s_raw_i + s_raw_j
    d_plus = (fi + fj) / torch.where(total > 0, total, one[..., None])
    d_plus = torch.where(~ki & ~kj, torch.zeros_like(d_plus), d_plus)
    v = vh.mT
    m = w.mT @ g @ v
    core = d_minus * _sym(m) + d_plus * (m - m.mT) / 2
    out = w @ core @ vh
    if w.shape[-2] > w.shape[-1]:
        f_over_s = torch.where(keep, sk.pow(p - 1), torch.zeros_like(s))
        gv = g @ v
        out = out + (gv - w @ (w.mT @ gv)) * f_over_s[..., None, :] @ vh
    return out


def eigen_map_vjp(g: torch.Tensor, lam_hat: torch.Tensor, q_vecs: torch.Tensor, power: float) -> torch.Tensor:
    """Ā for F(A) = Q diag(λ̂^power) Qᵀ (λ̂ > 0, the shifted and floored eigenvalues): sym(Q (D ∘ QᵀḠQ) Qᵀ)."""
    li, lj = lam_hat[..., :, None], lam_hat[..., None, :]
    shape = torch.broadcast_shapes(li.shape, lj.shape)
    d = power_divided_difference(li.expand(shape), lj.expand(shape), power)
    inner = q_vecs.mT @ _sym(g) @ q_vecs
    return _sym(q_vecs @ (d * inner) @ q_vecs.mT)

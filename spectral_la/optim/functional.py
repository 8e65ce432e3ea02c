"""The pure pieces every matrix optimizer of :mod:`spectral_la.optim` is made of.

Each function returns new tensors and changes none of its arguments, so an optimizer can compute a
whole step (every group, every parameter) before it writes anything, and a step that raises leaves
weights and state as they were (``MatrixOptimizer``). The pieces, with the optimizers that use them:

* momentum: torch.optim.Muon's ``B ← B + (1 − β)(G − B)`` (:func:`ema_momentum`) and microsoft/dion's
  ``M ← μM + G`` (:func:`accumulated_momentum`; Muon there, NorMuon; Dion2 and NorDion2 with μ = 1);
* the orthogonaliser: a spec of :mod:`spectral_la.spec` or a callable ``f(X, epsilon)``, optionally
  softened, ``lerp(O(X), X/(‖X‖_F + ε), s)`` (:func:`orthogonalizer`; Soft-Muon, microsoft/dion PR #92);
* NorMuon's row normalisation (:func:`normuon_normalize`; Li et al. 2025, arXiv 2510.05491);
* Dion2's slice selection by L1 norm with error feedback (:func:`select_slices`; Dion2, arXiv 2512.16928);
* the learning-rate scale of each adjustment mode (:func:`lr_scale`) and the decoupled step
  ``W ← (1 − ηλ)W − η·r·U`` (:func:`decoupled_step`), with cautious weight decay (:func:`cautious_decay`);
* the element-wise rules microsoft/dion runs on non-matrix parameters: AdamW (:func:`adamw_step`)
  and Lion (:func:`lion_step`).

Hyperparameters enter as microsoft/dion passes them, 0-d float32 tensors (:func:`hyper`), so that
``1 − β`` and ``η·√(m/n)`` are rounded as there; torch.optim.Muon's pieces take Python floats, as
torch does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from spectral_la.spec import Spec

__all__ = [
    "LR_MODES",
    "accumulated_momentum",
    "adamw_step",
    "cautious_decay",
    "decoupled_step",
    "lion_step",
    "normuon_normalize_rows",
    "ema_momentum",
    "hyper",
    "lr_scale",
    "normuon_normalize",
    "orthogonalizer",
    "gather_slices",
    "scatter_slices",
    "select_slices",
    "stack_batch",
    "selection_dim",
]

#: Learning-rate adjustment modes, r(m, n) for an m × n weight (fan_out × fan_in):
#: torch.optim.Muon's ``original`` √max(1, m/n) and ``match_rms_adamw`` 0.2·√max(m, n) (Liu et al. 2025),
#: microsoft/dion's ``spectral_norm`` √(m/n) and ``rms_norm`` 0.2·√max(m, n), and ``none`` (r = 1).
LR_MODES = ("original", "match_rms_adamw", "spectral_norm", "rms_norm", "none")


def lr_scale(mode: str, shape: tuple[int, ...] | torch.Size) -> float:
    """r(m, n) of an adjustment mode (:data:`LR_MODES`) for a weight of shape (..., m, n)."""
    m, n = shape[-2], shape[-1]
    if mode == "original":
        return math.sqrt(max(1, m / n))
    if mode == "spectral_norm":
        return math.sqrt(m / n)
    if mode in ("match_rms_adamw", "rms_norm"):
        return 0.2 * math.sqrt(max(m, n))
    if mode == "none":
        return 1.0
    raise ValueError(f"lr adjustment must be one of {LR_MODES}, got {mode!r}")


def hyper(value: float | torch.Tensor) -> torch.Tensor:
    """A hyperparameter as microsoft/dion passes it to its kernels: a 0-d float32 tensor (host)."""
    return value if isinstance(value, torch.Tensor) else torch.tensor(value)


def ema_momentum(
    grad: torch.Tensor, buf: torch.Tensor, beta: float, nesterov: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.optim.Muon's momentum: (B', M) with B' = lerp(B, G, 1 − β), M = lerp(G, B', β) or B'."""
    new = buf.lerp(grad, 1 - beta)
    return new, (grad.lerp(new, beta) if nesterov else new)


def accumulated_momentum(
    grad: torch.Tensor, buf: torch.Tensor, mu: torch.Tensor | None, nesterov: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """microsoft/dion's momentum: (M', U) with M' = μM + G (G cast to M's dtype), U = μM' + G or M'.

    μ = None is Dion2's M' = M + G (no coefficient, no Nesterov): U is M' itself (one sum, not two).
    """
    g = grad.to(buf.dtype)
    if mu is None:
        new = buf + g
        return new, new
    new = buf * mu + g
    return new, (new * mu + g if nesterov else new)


def orthogonalizer(
    spec: Spec | None,
    func: Callable[..., torch.Tensor] | None,
    compute: torch.dtype | None,
    check: bool,
    softening: float,
) -> Callable[[torch.Tensor, Any], torch.Tensor]:
    """O(X, ε): the spec run in ``compute`` (a matmul-only spec) or in X's precision (an exact spec),
    or ``func(X, epsilon=ε)`` as microsoft/dion calls its ``newton_schulz_func``; softened for s > 0 to

        lerp(O(X), X/(‖X‖_F + ε), s) = (1 − s)·O(X) + s·X/(‖X‖_F + ε)

    per matrix, X in the dtype it is given (Soft-Muon, microsoft/dion PR #92). s = 0 returns O itself,
    so the unsoftened step is unchanged bit for bit.
    """
    if (spec is None) == (func is None):
        raise ValueError("orthogonalizer takes a spec or a callable, exactly one")
    if spec is not None:
        run_spec = spec

        def base(x: torch.Tensor, epsilon: Any = None) -> torch.Tensor:
            if run_spec.matmul_only:
                return run_spec(x, compute_dtype=compute, check_finite=check)
            return run_spec(x if compute is None else x.to(compute), check_finite=check).to(x.dtype)

    else:
        assert func is not None
        base = func
    if softening == 0:
        return base

    def softened(x: torch.Tensor, epsilon: Any = None) -> torch.Tensor:
        out = base(x, epsilon=epsilon)
        eps = 1e-7 if epsilon is None else epsilon
        direct = x / (x.norm(dim=(-2, -1), keepdim=True) + eps)
        return torch.lerp(out, direct.to(out.dtype), softening)

    return softened


def normuon_normalize(u: torch.Tensor, v: torch.Tensor, beta2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NorMuon's row normalisation of an orthogonalised update U (m × n, batched), with its state V (m × 1).

        V' = lerp(V, mean_j U_ij², 1 − β₂),   Û = U / (√V' + 1e-8),   U' = Û · ‖U‖_F / max(‖Û‖_F, 1e-8)

    in V's dtype (Li et al. 2025, arXiv 2510.05491, Algorithm 1; microsoft/dion's ``normuon.py``:
    no bias correction, the 1e-8 fixed, the Frobenius norm of U restored). Returns (U', V').
    """
    u = u.to(v.dtype)
    norm = u.norm(p=2, dim=(-2, -1), keepdim=True)
    v_new = torch.lerp(v, (u * u).mean(dim=-1, keepdim=True), 1 - beta2)
    normalized = u / (v_new.sqrt() + 1e-8)
    rescale = norm / normalized.norm(p=2, dim=(-2, -1), keepdim=True).clamp(min=1e-8)
    return normalized * rescale, v_new


def normuon_normalize_rows(
    u: torch.Tensor, v: torch.Tensor, rows: torch.Tensor, beta2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """NorDion2's normalisation of the orthogonalised selected rows U (N, k, n) with the rows of V (N, m, 1).

    The selected rows of V are gathered and computed on in float32, normalised as in
    :func:`normuon_normalize`, and scattered back in V's dtype; the other rows of V are unchanged
    (microsoft/dion's ``nordion2.py``). Returns (U', V').
    """
    idx = rows.unsqueeze(-1)
    u_new, v_rows = normuon_normalize(u, torch.gather(v, -2, idx).float(), beta2)
    return u_new, v.scatter(-2, idx, v_rows.to(v.dtype))


def selection_dim(shape: tuple[int, ...] | torch.Size) -> int:
    """Dion2's selection side: rows (−2) unless the matrix is tall (more rows than columns), then columns."""
    return -2 if shape[-2] <= shape[-1] else -1


def select_slices(m: torch.Tensor, fraction: float, dim: int) -> torch.Tensor:
    """Indices of the k = max(1, ⌈fraction·size⌉) rows (dim −2) or columns (dim −1) of largest L1 norm.

    ``m`` is a batch (N, rows, cols); the norms are taken in m's dtype and ``torch.topk(sorted=False)``
    picks the slices (Dion2, arXiv 2512.16928, section 3; microsoft/dion's ``dion2.py``), so ties and the
    order of the returned indices are torch's, as there. Returns (N, k) int64 indices.
    """
    size = m.size(dim)
    k = min(max(1, math.ceil(fraction * size)), size)
    norms = m.norm(p=1, dim=-1 if dim == -2 else -2)
    return torch.topk(norms, k, dim=-1, sorted=False).indices


def _expand(idx: torch.Tensor, like: torch.Tensor, dim: int) -> torch.Tensor:
    """(N, k) slice indices expanded to the index tensor of gather/scatter along ``dim`` for ``like``."""
    if dim == -2:
        return idx.unsqueeze(-1).expand(*idx.shape, like.size(-1))
    return idx.unsqueeze(-2).expand(*idx.shape[:-1], like.size(-2), idx.shape[-1])


def gather_slices(m: torch.Tensor, idx: torch.Tensor, dim: int) -> torch.Tensor:
    """The submatrices of the selected rows (dim −2) or columns (dim −1) of a batch ``m``."""
    return torch.gather(m, dim, _expand(idx, m, dim))


def stack_batch(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The batch (N, m, n) of equal-shape tensors: a view of the one tensor when N = 1 (no copy, as the
    orthogonaliser then runs on the 2-D matrix anyway), else ``torch.stack``."""
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)


def scatter_slices(
    full: torch.Tensor, idx: torch.Tensor, sub: torch.Tensor, dim: int, *, inplace: bool = False
) -> torch.Tensor:
    """``full`` with its selected slices replaced by ``sub`` (a new tensor; ``inplace``: ``full`` itself,
    for a tensor the caller made and nobody else holds)."""
    return (full.scatter_ if inplace else full.scatter)(dim, _expand(idx, sub, dim), sub)


def cautious_decay(weight: torch.Tensor, update: torch.Tensor, coeff: torch.Tensor) -> torch.Tensor:
    """W − c·W·[W∘U ≥ 0]: weight decay only where the weight and the update agree in sign.

    Cautious weight decay (Chen et al. 2025, arXiv 2510.12402), as microsoft/dion applies it to
    NorMuon and Lion: c = ηλ, the mask 1 where W_ij·U_ij ≥ 0 and 0 elsewhere.
    """
    mask = (torch.sign(weight * update) + 1).clamp(max=1)
    return weight - (weight * mask) * coeff


def decoupled_step(
    weight: torch.Tensor,
    update: torch.Tensor,
    decay: Any,
    lr: Any,
    *,
    slices: torch.Tensor | None = None,
    dim: int = -2,
    inplace: bool = False,
) -> torch.Tensor:
    """W' = W·decay − lr·U: the decoupled weight decay, then the step (a new tensor; W is unchanged).

    ``decay`` is 1 − ηλ (None: W is already decayed, e.g. by :func:`cautious_decay`) and ``lr`` the
    adjusted η·r. With Python floats (torch.optim.Muon) this is
    ``W.mul(decay).add(U, alpha=−lr)``, torch's own two operations; with 0-d tensors (microsoft/dion)
    U is cast to W's dtype and −lr·U added, added only at the selected ``slices`` along ``dim`` when
    given (Dion2, whose U holds those slices only).

    ``inplace=True`` writes W' into ``weight`` by the same operations in place (``mul_``, ``add_``,
    ``scatter_add_``: the same roundings): the commit of a planned step, once nothing can fail any
    more (:class:`~spectral_la.optim.base.MatrixOptimizer`), without a second weight-sized tensor.
    """
    T = torch.Tensor
    mul, add, scatter_add = (T.mul_, T.add_, T.scatter_add_) if inplace else (T.mul, T.add, T.scatter_add)
    decayed = weight if decay is None else mul(weight, decay)
    if not isinstance(lr, torch.Tensor):
        if slices is not None:
            raise ValueError("decoupled_step: slices need the learning rate as a tensor")
        return add(decayed, update, alpha=-lr)
    step = -lr * update.to(weight.dtype)
    if slices is None:
        return add(decayed, step)
    return scatter_add(decayed, dim, _expand(slices, step, dim), step)


def lion_step(
    weight: torch.Tensor,
    grad: torch.Tensor,
    buf: torch.Tensor,
    lr: torch.Tensor,
    beta1: torch.Tensor,
    beta2: torch.Tensor,
    weight_decay: torch.Tensor,
    cautious: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lion (Chen et al. 2023, arXiv 2302.06675) as microsoft/dion runs it: (W', M') with

        U = sign(lerp(M, G, 1 − β₁)),   M' = lerp(M, G, 1 − β₂),   W' = (1 − ηλ)·W − η·U

    (the decay cautious when asked, :func:`cautious_decay`).
    """
    g = grad.to(buf.dtype)
    u = buf.lerp(g, 1 - beta1).sign()
    new_buf = buf.lerp(g, 1 - beta2)
    decayed = cautious_decay(weight, u, lr * weight_decay) if cautious else weight * (1 - lr * weight_decay)
    return decayed.add(u, alpha=-float(lr)), new_buf  # torch reads a tensor alpha as this double


def adamw_step(
    weights: list[torch.Tensor],
    grads: list[torch.Tensor],
    m: list[torch.Tensor],
    v: list[torch.Tensor],
    steps: list[torch.Tensor],
    lr: torch.Tensor,
    beta1: float,
    beta2: float,
    weight_decay: float,
    eps: float,
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """AdamW (Loshchilov & Hutter 2019) through torch's fused kernel, as microsoft/dion and
    ``torch.optim.AdamW(fused=True)`` run it, on copies: returns (W', M', V', t') and changes nothing.

    The step counters t are float32 0-d tensors; β's, λ and ε are Python floats (dion passes the
    float32-rounded values, ``float(torch.tensor(β))``).
    """
    from torch.optim.adamw import adamw

    new = [[t.clone() for t in ts] for ts in (weights, m, v, steps)]
    adamw(
        new[0], grads, new[1], new[2], [], new[3],
        fused=True, amsgrad=False, beta1=beta1, beta2=beta2, lr=lr,
        weight_decay=weight_decay, eps=eps, maximize=False,
    )  # fmt: skip
    return new[0], new[1], new[2], new[3]

"""Coefficient schedules of odd-polynomial (Newton–Schulz-type) polar iterations.

A schedule is a list of per-step odd polynomials
p_k(x) = c₀x + c₁x³ + c₂x⁵ + … (a row (c₀, c₁, …) per step). Applied to a
matrix X = U Σ Vᵀ as X ↦ c₀X + c₁(XXᵀ)X + c₂(XXᵀ)²X + …, step k maps each
singular value σ to p_k(σ) and keeps U and V, so T steps apply the scalar map
f = p_T ∘ … ∘ p₁ to the singular values of the normalised input. Every
schedule here targets sign(σ) = 1 (the polar factor) on its design interval
[ℓ, u] of normalised singular values.

The registry :data:`schedules` holds the named tables in use in public
optimizer code, each with its source; :meth:`ScheduleRegistry.register` adds
a user's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spectral_la.normalization import SOURCE_EPS, SOURCE_FROBENIUS, SOURCE_FROBENIUS_CLAMP, Normalization
from spectral_la.targets import target
from spectral_la.validation import MAX_STEPS, check_int, check_real

__all__ = ["Schedule", "ScheduleRegistry", "schedules", "with_safety"]


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A named per-step coefficient table with its metadata.

    rows
        Effective per-step coefficients (c₀, c₁, …) of p(x) = Σ c_j x^{2j+1},
        safety scaling already applied; all rows have the same length.
    steps
        Default number of steps.
    repeat_last
        Whether steps beyond ``len(rows)`` reuse the last row; otherwise asking
        for more steps than rows is an error.
    cycle
        Whether steps beyond ``len(rows)`` start the rows over (Emerging-Optimizers'
        mode for its "quintic" and "aol" sets); excludes ``repeat_last``.
    interval
        Design interval (ℓ, u) of the normalised singular values.
    interval_stated
        Whether the source states (or its construction fixes) that interval; False where it
        does not and ``interval`` is our nominal [1e-3, 1] (the report then uses the
        measured effective interval, :func:`analysis.schedule_response.effective_intervals`).
    normalization
        The normalisation the source applies before iterating.
    target
        The map the schedule approximates on its interval (``"sign"``).
    safety
        Safety factor s the source applied as p(x/s) (1.0: none).
    source
        Where the table comes from (paper or public code).
    """

    name: str
    rows: tuple[tuple[float, ...], ...]
    steps: int
    repeat_last: bool
    interval: tuple[float, float]
    normalization: Normalization = field(default_factory=Normalization)
    target: str = "sign"
    safety: float = 1.0
    source: str = ""
    cycle: bool = False
    interval_stated: bool = True

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("schedule name must be a non-empty string")
        where = f"schedule {self.name!r}"
        if isinstance(self.rows, (str, bytes)) or not all(
            hasattr(r, "__iter__") and not isinstance(r, (str, bytes)) for r in _iterable(self.rows, where)
        ):
            raise TypeError(f"{where}: rows must be a sequence of coefficient rows (sequences of numbers)")
        rows = tuple(
            tuple(float(check_real(c, f"{where}: rows[{k}][{j}]")) for j, c in enumerate(row))
            for k, row in enumerate(self.rows)
        )
        object.__setattr__(self, "rows", rows)
        if not rows or any(len(r) != len(rows[0]) or not r for r in rows):
            raise ValueError(f"schedule {self.name!r}: rows must be non-empty and of equal length")
        if not all(math.isfinite(c) for r in rows for c in r):
            raise ValueError(f"schedule {self.name!r}: coefficients must be finite")
        object.__setattr__(self, "steps", check_int(self.steps, f"schedule {self.name!r}: steps", 1, MAX_STEPS))
        if not isinstance(self.repeat_last, bool):
            raise TypeError(f"schedule {self.name!r}: repeat_last must be a bool, got {self.repeat_last!r}")
        for flag in ("cycle", "interval_stated"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"schedule {self.name!r}: {flag} must be a bool, got {getattr(self, flag)!r}")
        if self.cycle and self.repeat_last:
            raise ValueError(f"schedule {self.name!r}: cycle and repeat_last exclude each other")
        if not self.repeat_last and not self.cycle and self.steps > len(rows):
            raise ValueError(f"schedule {self.name!r}: {self.steps} steps but only {len(rows)} rows")
        if len(self.interval) != 2:
            raise ValueError(f"{where}: interval must be a pair (ℓ, u), got {self.interval!r}")
        lo, hi = (float(check_real(v, f"{where}: interval")) for v in self.interval)
        object.__setattr__(self, "interval", (lo, hi))
        if not 0 < lo <= hi:
            raise ValueError(f"{where}: interval must satisfy 0 < ℓ ≤ u, got {(lo, hi)}")
        if not isinstance(self.normalization, Normalization):
            raise TypeError(f"{where}: normalization must be a Normalization, got {type(self.normalization).__name__}")
        if not isinstance(self.target, str):
            raise ValueError(f"{where}: target must be 'sign', 'soft:<s>' or 'power:<p>', got {self.target!r}")
        try:
            target(self.target)  # the one parser of the target vocabulary
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        object.__setattr__(self, "safety", float(check_real(self.safety, f"{where}: safety")))
        if self.safety < 1:
            raise ValueError(f"{where}: safety must be ≥ 1, got {self.safety}")
        if not isinstance(self.source, str):
            raise TypeError(f"{where}: source must be a string, got {type(self.source).__name__}")

    @property
    def degree(self) -> int:
        """Polynomial degree of one step (2·len(row) − 1)."""
        return 2 * len(self.rows[0]) - 1

    def coefficients(self, steps: int | None = None) -> list[tuple[float, ...]]:
        """The rows used by ``steps`` steps (default: ``self.steps``)."""
        steps = self.steps if steps is None else steps
        steps = check_int(steps, "steps", 0, MAX_STEPS)
        if steps > len(self.rows) and not (self.repeat_last or self.cycle):
            raise ValueError(f"schedule {self.name!r} defines {len(self.rows)} steps, {steps} requested")
        n = len(self.rows)  # self.row(k) for each k, without its per-call check (this is every NS call's path)
        return [self.rows[k % n] if self.cycle else self.rows[min(k, n - 1)] for k in range(steps)]

    def products(self, steps: int | None = None) -> int:
        """Matrix products of ``steps`` steps (default: the schedule's) on a wide X: the one cost rule.

        A step of a row (c₀, …, c_d) forms A = XXᵀ, then the d − 1 powers of A its Horner form needs
        (fused with the additions: ``addmm``), then one product with X: d + 1 − 1 = len(row) products
        (a cubic row: 2, a quintic: 3). The normalisation's own products are not counted.
        """
        return sum(len(row) for row in self.coefficients(steps))

    def row(self, k: int) -> tuple[float, ...]:
        """The row of step k (from 0): past the rows, the first again (``cycle``) or the last."""
        k = check_int(k, "k", 0, MAX_STEPS)
        return self.rows[k % len(self.rows)] if self.cycle else self.rows[min(k, len(self.rows) - 1)]


def _iterable(value: Any, where: str) -> Any:
    if not hasattr(value, "__iter__"):
        raise TypeError(f"{where}: rows must be a sequence of coefficient rows, got {type(value).__name__}")
    return value


def with_safety(rows: Sequence[Sequence[float]], safety: float, *, exempt_last: bool) -> tuple:
    """Rows of p(x/s): c_j ↦ c_j / s^{2j+1} (Amsel et al. 2025, §4.4), optionally not the last row."""
    scaled = [tuple(c / safety ** (2 * j + 1) for j, c in enumerate(row)) for row in rows]
    if exempt_last:
        scaled[-1] = tuple(rows[-1])
    return tuple(scaled)


class ScheduleRegistry(Mapping):
    """Name → :class:`Schedule`. Built-in names cannot be overwritten silently."""

    def __init__(self) -> None:
        self._table: dict[str, Schedule] = {}

    def register(self, schedule: Schedule, *, overwrite: bool = False) -> Schedule:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        if schedule.name in self._table and not overwrite:
            raise ValueError(f"a schedule named {schedule.name!r} is registered; pass overwrite=True to replace it")
        self._table[schedule.name] = schedule
        return schedule

    def __getitem__(self, name: str) -> Schedule:
        try:
            return self._table[name]
        except KeyError:
            raise KeyError(f"unknown schedule {name!r}; registered: {sorted(self._table)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __repr__(self) -> str:
        names = list(self)
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        return f"<ScheduleRegistry: {len(names)} schedules: {shown}>"

    def __len__(self) -> int:
        return len(self._table)

    def resolve(self, schedule: str | Schedule) -> Schedule:
        """A Schedule given itself or its registered name."""
        if isinstance(schedule, Schedule):
            return schedule
        if isinstance(schedule, str):
            return self[schedule]
        raise TypeError(f"schedule must be a name or a Schedule, got {type(schedule).__name__}")


schedules = ScheduleRegistry()

# --- built-in tables ---------------------------------------------------------

#: Jordan's NS5 step (3.4445, −4.7750, 2.0315): Muon's original, torch.optim.Muon's default.
JORDAN_NS5_ROW = (3.4445, -4.7750, 2.0315)

#: The five tuned quintic rows of modded-nanogpt, run by microsoft/dion and Emerging-Optimizers ("quintic").
MODDED_QUINTIC_ROWS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)

schedules.register(
    Schedule(
        name="newton_schulz_cubic",
        rows=((1.5, -0.5),),
        steps=12,
        repeat_last=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=SOURCE_FROBENIUS,
        source="Classic Newton–Schulz, p(x) = (3x − x³)/2; Higham, Functions of Matrices (2008), §8.3.",
    )
)

schedules.register(
    Schedule(
        name="newton_schulz_quintic",
        rows=((15 / 8, -10 / 8, 3 / 8),),
        steps=8,
        repeat_last=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=SOURCE_FROBENIUS,
        source="Degree-5 Padé (Newton–Schulz) iteration, p(x) = (15x − 10x³ + 3x⁵)/8; Higham (2008), §8.3.",
    )
)

schedules.register(
    Schedule(
        name="jordan_ns5",
        rows=(JORDAN_NS5_ROW,),
        steps=5,
        repeat_last=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=SOURCE_FROBENIUS,
        source="K. Jordan, 'Muon: an optimizer for hidden layers' (2024), quintic NS, 5 steps; "
        "does not converge to 1 but into a band around it.",
    )
)

schedules.register(
    Schedule(
        name="you_ns6",
        rows=(
            (3955 / 1024, -8306 / 1024, 5008 / 1024),
            (3735 / 1024, -6681 / 1024, 3463 / 1024),
            (3799 / 1024, -6499 / 1024, 3211 / 1024),
            (4019 / 1024, -6385 / 1024, 2906 / 1024),
            (2677 / 1024, -3029 / 1024, 1162 / 1024),
            (2172 / 1024, -1833 / 1024, 682 / 1024),
        ),
        steps=6,
        repeat_last=False,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=SOURCE_FROBENIUS,
        source="J. You, six per-step quintic rows found by heuristic search (cited as [10] in Amsel et al. 2025; "
        "rows as in public Muon code, e.g. modula's orthogonalize).",
    )
)

#: Polar Express degree-5 table as printed in Amsel, Persson, Musco & Gower 2025
#: (arXiv 2505.16932), Algorithm 1, before safety scaling; design interval [1e-3, 1].
POLAR_EXPRESS_TABLE = (
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),
)

schedules.register(
    Schedule(
        name="polar_express",
        rows=with_safety(POLAR_EXPRESS_TABLE, 1.01, exempt_last=True),
        steps=5,
        repeat_last=True,
        interval=(1e-3, 1.0),
        safety=1.01,
        normalization=Normalization(kind="frobenius", scale=1.01, eps=SOURCE_EPS),
        source="Amsel, Persson, Musco & Gower, 'The Polar Express' (2025), arXiv 2505.16932, Algorithm 1: "
        "degree 5, safety 1.01 on all rows but the last, X/(1.01‖X‖_F + 1e-7).",
    )
)

schedules.register(
    Schedule(
        name="polar_express_unscaled",
        rows=POLAR_EXPRESS_TABLE,
        steps=5,
        repeat_last=True,
        interval=(1e-3, 1.0),
        normalization=SOURCE_FROBENIUS,
        source="The Polar Express table of arXiv 2505.16932 without its safety scaling (the exact-arithmetic design).",
    )
)

schedules.register(
    Schedule(
        name="polar_express_gram",
        rows=with_safety(POLAR_EXPRESS_TABLE[:5], 1.05, exempt_last=False),
        steps=5,
        repeat_last=False,
        interval=(1e-3, 1.0),
        safety=1.05,
        normalization=SOURCE_FROBENIUS,
        source="Dao-AILab gram-newton-schulz: the first five Polar Express rows divided by 1.05, 1.05³, 1.05⁵.",
    )
)

schedules.register(
    Schedule(
        name="dion_ns5",
        rows=MODDED_QUINTIC_ROWS,
        steps=5,
        repeat_last=False,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=SOURCE_FROBENIUS,
        source="microsoft/dion, dion/newton_schulz_triton.py (zeropower_via_newtonschulz5), X/(‖X‖_F + 1e-7).",
    )
)

# --- the peers' variants (Emerging-Optimizers, modded-nanogpt / dion, torch.optim) ---------------------

#: Emerging-Optimizers' since its commit 7ebd3cf ("Reduce eps for newton_schulz"): X / max(‖X‖_F, 1e-15).
_EO_NORM = Normalization(kind="frobenius_clamp", scale=1.0, eps=1e-15, before_cast=True)
_EO = "NVIDIA-NeMo/Emerging-Optimizers, emerging_optimizers/orthogonalized_optimizers/muon_utils.py @ fd772921"

schedules.register(
    Schedule(
        name="torch_muon",
        rows=(JORDAN_NS5_ROW,),
        steps=5,
        repeat_last=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=SOURCE_FROBENIUS_CLAMP,
        source="torch.optim.Muon (torch 2.13, torch/optim/_muon.py): Jordan's NS5 rows, X/max(‖X‖_F, 1e-7).",
    )
)

schedules.register(
    Schedule(
        name="eo_quintic",
        rows=MODDED_QUINTIC_ROWS,
        steps=5,
        repeat_last=False,
        cycle=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=_EO_NORM,
        source=f"{_EO}: _COEFFICIENT_SETS['quintic'] (modded-nanogpt's rows), cycled past 5 steps.",
    )
)

schedules.register(
    Schedule(
        name="eo_polar_express",
        rows=(
            (8.2051, -22.9019, 16.4607),
            (4.0664, -2.8612, 0.5184),
            (3.9096, -2.8234, 0.5250),
            (3.2856, -2.4153, 0.4853),
            (2.2779, -1.6198, 0.3985),
            (1.8726, -1.2307, 0.3585),
            (1.8564, -1.2132, 0.3568),
            (1.8750, -1.2500, 0.3750),
        ),
        steps=8,
        repeat_last=True,
        interval=(1e-3, 1.0),
        safety=1.01,
        normalization=_EO_NORM,
        source=f"{_EO}: _COEFFICIENT_SETS['polar_express'] (arXiv 2505.16932 rows with the 1.01 safety folded in, "
        "4 decimals), X/max(‖X‖_F, 1e-15), the last row repeated past 8 steps.",
    )
)

schedules.register(
    Schedule(
        name="eo_aol",
        rows=(
            (4.0098, -7.0585, 2.4635),
            (3.4585, -5.5479, 2.5959),
            (2.7573, -3.2939, 1.4254),
            (2.7215, -3.0494, 1.3169),
        ),
        steps=4,
        repeat_last=False,
        cycle=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=_EO_NORM,
        source=f"{_EO}: _COEFFICIENT_SETS['aol'], from thib-s/flash-newton-schulz @ b73111d, where they were tuned "
        "with an AOL rescaling whose Gram update was later found wrong (A/s instead of D A D, fixed in cdb03db with "
        "new rows, see 'dion_aol'); EO applies them without any AOL rescaling, and so does this entry.",
    )
)

schedules.register(
    Schedule(
        name="polar_express_modded",
        rows=(
            (8.156554524902461, -22.48329292557795, 15.878769915207462),
            (4.042929935166739, -2.808917465908714, 0.5000178451051316),
            (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
            (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
            (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
        ),
        steps=5,
        repeat_last=False,
        interval=(1e-3, 1.0),
        safety=1.02,
        normalization=Normalization(kind="frobenius", scale=1.02, eps=1e-6),
        source="KellerJordan/modded-nanogpt train_gpt.py polar_express (arXiv 2505.16932 construction, 2% safety), "
        "X/(1.02‖X‖_F + 1e-6); the variant microsoft/dion's Muon, NorMuon and Dion2 run by default. Reproduced to "
        "16 digits by design_schedule(5, 5, 1e-3, cushion=0.02, safety=1.02, safety_in_recurrence=True).",
    )
)

schedules.register(
    Schedule(
        name="eo_cans",
        rows=(
            (8.4703, -25.1081, 18.6293),
            (4.1828, -3.1087, 0.5806),
            (3.9619, -2.9541, 0.5630),
            (3.2866, -2.4647, 0.5074),
            (2.2737, -1.6447, 0.4162),
        ),
        steps=5,
        repeat_last=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=_EO_NORM,
        source=f"{_EO}: _COEFFICIENT_SETS['cans'] (Grishina, Smirnov & Rakhuba, 'Accelerating Newton-Schulz "
        "iteration for orthogonalization via Chebyshev-type polynomials', arXiv 2506.10935: Remez with an adaptive "
        "interval), the last row repeated. The source states no design interval: [1e-3, 1] is nominal, see "
        "analysis.schedule_response.effective_intervals. No safety margin above 1: f(1 + 1e-4) ≈ 3e4, so a σ̂ "
        "that bf16 rounding puts above 1 is sent far out (rank-one bf16 inputs give outputs of norm up to 5e7).",
    )
)

schedules.register(
    Schedule(
        name="eo_deepseekv4",
        rows=(JORDAN_NS5_ROW,) * 8 + ((2.0, -1.5, 0.5),) * 2,
        steps=10,
        repeat_last=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=_EO_NORM,
        source=f"{_EO}: _COEFFICIENT_SETS['deepseekv4'] (DeepSeek-V4 report): eight steps of Jordan's row to reach "
        "the band around 1, then two of p(x) = 2x − 1.5x³ + 0.5x⁵ (p(1) = 1, p'(1) = 0), which pull the band onto 1; "
        "the last row repeated.",
    )
)

schedules.register(
    Schedule(
        name="eo_cubic5",
        rows=(
            (3.3656576, -3.3420992),
            (2.5744352, -1.4957376),
            (2.5368962, -1.4312570),
            (2.4418906, -1.2764040),
            (2.2230472, -0.9630650),
        ),
        steps=5,
        repeat_last=False,
        interval=(7e-3, 1.0),
        normalization=_EO_NORM,
        source=f"{_EO}: _COEFFICIENT_SETS['cubic5'] (arXiv 2606.00371, relaxed cubic schedule for an effective "
        "bf16 lower bound ℓ₀ = 7e-3): cubic rows p(x) = c₀x + c₁x³, two products a step (EO stores them with "
        "c₂ = 0 and takes its cubic path; EO allows exactly 5 steps).",
    )
)

schedules.register(
    Schedule(
        name="dion_aol",
        rows=(
            (4.6051, -9.6552, 5.6769),
            (4.7505, -6.0861, 2.1790),
            (2.7763, -2.3190, 0.5523),
            (2.4231, -2.2861, 0.8193),
        ),
        steps=4,
        repeat_last=False,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=Normalization(kind="aol", eps=SOURCE_EPS),
        source="microsoft/dion, dion/newton_schulz_triton.py @ 0a059a4 (newton_schulz_triton_fast; rows and AOL "
        "rescaling from thib-s/flash-newton-schulz @ cdb03db, tuned by a genetic search): X₀ = D X with "
        "D = diag(Σⱼ|(XXᵀ)ᵢⱼ|)^(-1/2) clamped at 1e-7, its Gram reused by the first of four steps. It approximates "
        "polar(DX), not polar(X).",
    )
)

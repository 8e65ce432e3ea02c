"""Statistics of the softening study: best learning rates, intervals over paired seeds, verdicts.

Rows are the study's CSV rows (``spectral_la.lab.study``). For each (optimizer, regime, s):

* the learning rate is the one with the lowest final held-out loss at the first seed, among the
  grid's values; ``lr_at_edge`` says when it is the smallest or largest of the grid (a better value
  may lie outside);
* ``mean`` and its 95 % interval over the seeds at that learning rate (Student t, n − 1 degrees of
  freedom; no interval with one seed);
* the **paired** difference to s = 0: per seed, loss(s) − loss(0), each at its own best learning
  rate (the same initialisation and data order under one seed), with its 95 % t interval;
* a verdict in plain words, only from the interval: "better by x ± y nats" when the interval lies
  below zero, "worse by …" above, else "no difference detectable with n seeds".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = [
    "COMMITTED_STUDY",
    "STUDY_KEY_FIELDS",
    "STUDY_PRECISION",
    "STUDY_VALUE_FIELDS",
    "best_lrs",
    "curves",
    "parse_rows",
    "read_study",
    "study_summary",
    "t_interval",
]

#: The columns of a study CSV: its key (a run) and what a run measured.
STUDY_KEY_FIELDS = ("config", "optimizer", "softening", "regime", "lr", "seed")
STUDY_VALUE_FIELDS = (
    "final_loss", "curve", "steps", "tokens", "params", "matrix_params", "tokens_per_param", "seconds",
)  # fmt: skip
#: What a study run computes in (``lab/study.py``: fp32 weights, ``compute_dtype="fp32"``; the dion
#: optimizers keep their default bf16 cast of the momentum before the orthogonaliser).
STUDY_PRECISION = "weights fp32, orthogonaliser fp32 (NorMuon/Dion2/NorDion2: momentum cast to bf16 first)"
#: The committed CPU study (``spectral-la study --out data/study/softening_study.csv``), read by the report.
COMMITTED_STUDY = Path(__file__).resolve().parents[1] / "data" / "study" / "softening_study.csv"


def read_study(path: str | Path = COMMITTED_STUDY) -> list[dict]:
    """Every stored row of a study CSV, as text (:func:`parse_rows` converts); a clear error if it is missing."""
    from spectral_la.analysis.result_store import ResultStore

    if not Path(path).exists():
        raise ValueError(f"study results {path} do not exist (make them with `spectral-la study --out {path}`)")
    store = ResultStore(path, (*STUDY_KEY_FIELDS, *STUDY_VALUE_FIELDS, "error"), STUDY_KEY_FIELDS)
    return list(store.rows().values())


def parse_rows(rows: Iterable[dict], config: str | None = None) -> list[dict]:
    """The study's finished rows as numbers (rows with an error or of another config are left out)."""
    out = []
    for r in rows:
        if r.get("error") or (config is not None and r["config"] != config):
            continue
        out.append(
            {
                **r,
                "lr": float(r["lr"]),
                "seed": int(r["seed"]),
                "final_loss": float(r["final_loss"]),
                "tokens_per_param": float(r["tokens_per_param"]),
                "seconds": float(r["seconds"]),
                "curve": [(int(t), float(v)) for t, v in (p.split(":") for p in r["curve"].split(";"))],
            }
        )
    return out


def best_lrs(rows: list[dict], seed: int) -> dict[tuple, dict]:
    """(optimizer, softening, regime) → {lr, lr_at_edge, grid} from the runs of ``seed``."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["seed"] == seed:
            groups.setdefault((r["optimizer"], r["softening"], r["regime"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        best = min(rs, key=lambda r: r["final_loss"])
        grid = sorted({r["lr"] for r in rs})
        out[key] = {"lr": best["lr"], "lr_at_edge": len(grid) > 1 and best["lr"] in (grid[0], grid[-1]), "grid": grid}
    return out


def t_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width) of the Student-t interval; half-width NaN with fewer than two values."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, half


def _verdict(mean: float, half: float, n: int) -> str:
    if not math.isfinite(half):
        return f"no verdict: {n} seed(s), no interval"
    if mean + half < 0:
        return f"better by {-mean:.4f} ± {half:.4f} nats"
    if mean - half > 0:
        return f"worse by {mean:.4f} ± {half:.4f} nats"
    return f"no difference detectable with {n} seeds ({mean:+.4f} ± {half:.4f} nats)"


def study_summary(rows: list[dict], first_seed: int = 0, baseline: str = "0") -> list[dict]:
    """One row per (optimizer, regime, s): lr, mean loss with its interval, paired difference to s = 0, verdict."""
    chosen = best_lrs(rows, first_seed)
    at: dict[tuple, dict[int, float]] = {}
    for r in rows:
        key = (r["optimizer"], r["softening"], r["regime"])
        if key in chosen and r["lr"] == chosen[key]["lr"]:
            at.setdefault(key, {})[r["seed"]] = r["final_loss"]
    out = []
    for (opt, s, regime), by_seed in sorted(at.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        mean, half = t_interval(list(by_seed.values()))
        base = at.get((opt, baseline, regime), {})
        seeds = sorted(set(by_seed) & set(base))
        tpp = next(
            r["tokens_per_param"] for r in rows if (r["optimizer"], r["softening"], r["regime"]) == (opt, s, regime)
        )
        row = {
            "optimizer": opt,
            "regime": regime,
            "tokens_per_param": round(tpp, 1),
            "softening": s,
            "lr": chosen[(opt, s, regime)]["lr"],
            "lr_at_edge": chosen[(opt, s, regime)]["lr_at_edge"],
            "seeds": len(by_seed),
            "loss_mean": mean,
            "loss_ci95": half,
        }
        if s == baseline:
            row.update({"diff_vs_s0": 0.0, "diff_ci95": 0.0, "verdict": "baseline"})
        else:
            d_mean, d_half = (
                t_interval([by_seed[k] - base[k] for k in seeds]) if seeds else (float("nan"), float("nan"))
            )
            row.update({"diff_vs_s0": d_mean, "diff_ci95": d_half, "verdict": _verdict(d_mean, d_half, len(seeds))})
        out.append(row)
    return out


def curves(rows: list[dict], first_seed: int = 0) -> dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(optimizer, softening, regime) → (tokens, mean loss, 95 % half-width) over the seeds at the chosen lr."""
    chosen = best_lrs(rows, first_seed)
    groups: dict[tuple, list[list[tuple[int, float]]]] = {}
    for r in rows:
        key = (r["optimizer"], r["softening"], r["regime"])
        if key in chosen and r["lr"] == chosen[key]["lr"]:
            groups.setdefault(key, []).append(r["curve"])
    out = {}
    for key, cs in groups.items():
        tokens = np.array([t for t, _ in cs[0]])
        values = np.array([[v for _, v in c] for c in cs if len(c) == len(tokens)])
        stats = [t_interval(list(values[:, j])) for j in range(values.shape[1])]
        out[key] = (tokens, np.array([m for m, _ in stats]), np.array([h for _, h in stats]))
    return out

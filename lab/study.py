"""Does softening help? Paired-seed training runs of the four optimizers, token-rich and high-dimensional.

The Soft-Muon proposal (microsoft/dion PR #92) left its behavioural check open: softening is expected
to help, if anywhere, in the token-rich regime (≥ 100 tokens per parameter) and to be neutral in the
high-dimensional one. This study trains the stdlib byte-level LM of :mod:`spectral_la.lab.workload`,
small enough that the token-rich regime fits a CPU, under a grid of

* optimizer: Muon, NorMuon, Dion2, NorDion2 (:mod:`spectral_la.optim`) on the hidden matrices,
  AdamW (lr 3e-3, no weight decay) on embeddings, norms, biases and the head, the same for all;
* softening s: constant values and a ramp ``ramp:<s0>:<s1>`` (linear from s0 at the first step to
  s1 at the last, :mod:`spectral_la.optim.softening`);
* regime: tokens per parameter, counted as tokens seen (steps × batch × context) over **every**
  trained parameter (both optimizers'; the matrix optimizer's alone are fewer, so the
  token-rich regime by this count is token-rich by the other too), reached by the token budget at
  a fixed model;
* learning rate: a small grid per (optimizer, s, regime), chosen on seed 0, edges reported;
* seeds: the chosen learning rate is rerun with more seeds, **paired**: under one seed every s sees
  the same initialisation and the same data order.

Data: the ``.py`` files of the running interpreter's standard library, split **by file**: a file
whose path hashes (CRC-32) to 0 mod 20 is held out. Training windows are consecutive, non-overlapping
``context + 1``-byte windows of the training files, visited once in a seeded random order (every
training token is new). The held-out loss is the mean cross-entropy (nats per byte) on a fixed set of
held-out windows, measured at ``evals`` evenly spaced token counts.

Every run is one task of :func:`spectral_la.analysis.sweeps.run_sweep` (Dask, local by default, the
kill-safe store, resumable); :func:`run_study` runs phase 1 (every learning rate, seed 0) and phase 2
(the other seeds at each setting's best learning rate) into one CSV. The statistics are
:mod:`spectral_la.analysis.study_stats`.
"""

from __future__ import annotations

import functools
import json
import math
import sysconfig
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spectral_la.analysis.study_stats import STUDY_KEY_FIELDS, STUDY_VALUE_FIELDS, read_study
from spectral_la.analysis.sweeps import SweepKind, SweepSummary, run_sweep
from spectral_la.optim import OPTIMIZERS
from spectral_la.optim.softening import parse_softening
from spectral_la.validation import check_in_range, check_int

if TYPE_CHECKING:
    from spectral_la.lab.workload import TinyLM

__all__ = ["STUDY_KIND", "StudyConfig", "held_out_split", "load_rows", "run_one", "run_study", "study_tasks"]

KEY_FIELDS = STUDY_KEY_FIELDS
VALUE_FIELDS = STUDY_VALUE_FIELDS


@dataclass(frozen=True)
class StudyConfig:
    """Every size and grid value of a study (the CSV's ``config`` column is its hash)."""

    optimizers: tuple = ("muon", "normuon", "dion2", "nordion2")
    softening: tuple = ("0", "0.1", "0.25", "0.5", "ramp:0:0.5")
    regimes: dict = field(default_factory=lambda: {"token_rich": 100.0, "high_dim": 8.0})
    lrs: dict = field(
        default_factory=lambda: {"muon": (0.01, 0.02, 0.04), "normuon": (0.005, 0.01, 0.02),
                                 "dion2": (0.01, 0.02, 0.04), "nordion2": (0.01, 0.02, 0.04)}
    )  # fmt: skip
    seeds: tuple = (0, 1, 2)
    width: int = 32
    layers: int = 1
    heads: int = 4
    context: int = 64
    batch: int = 16
    evals: int = 8
    held_out_windows: int = 128

    def __post_init__(self) -> None:
        for name in ("optimizers", "softening", "seeds"):
            if not getattr(self, name):
                raise ValueError(f"study: {name} is empty")
        unknown = [o for o in self.optimizers if o not in OPTIMIZERS]
        if unknown:
            raise ValueError(f"study: unknown optimizer(s) {unknown}; optimizers: {list(OPTIMIZERS)}")
        for s in self.softening:
            softening_for(s, 10)  # validates
        if not self.regimes:
            raise ValueError("study: regimes is empty")
        for name, tpp in self.regimes.items():
            check_in_range(tpp, f"study: regime {name!r} tokens per parameter", 0, None, lo_open=True)
        for o in self.optimizers:
            if not self.lrs.get(o):
                raise ValueError(f"study: no learning rates for {o!r}")
            for lr in self.lrs[o]:
                check_in_range(lr, f"study: lr of {o}", 0, 1, lo_open=True)
        for name in ("width", "layers", "heads", "context", "batch", "evals", "held_out_windows"):
            check_int(getattr(self, name), f"study: {name}", 1, None)
        for s in self.seeds:
            check_int(s, "study: seed", 0, 2**31 - 1)

    @classmethod
    def quick(cls) -> StudyConfig:
        """A few seconds per run: two optimizers, two s, one lr each, two seeds (tests, a first look)."""
        return cls(
            optimizers=("muon", "dion2"), softening=("0", "0.5"), regimes={"quick_4_tpp": 4.0, "quick_1_tpp": 1.0},
            lrs={"muon": (0.02,), "dion2": (0.02,)}, seeds=(0, 1), width=16, context=32, batch=8, evals=3,
            held_out_windows=16,
        )  # fmt: skip

    def key(self) -> str:
        """A short hash of every setting that changes a run (the grid's own values excluded)."""
        fixed = {k: v for k, v in asdict(self).items() if k not in ("optimizers", "softening", "lrs", "seeds")}
        return f"{zlib.crc32(json.dumps(fixed, sort_keys=True).encode()):08x}"

    def model(self) -> TinyLM:
        from spectral_la.lab.workload import TinyLM

        return TinyLM(self.width, self.layers, heads=self.heads, context=self.context)

    def params(self) -> tuple[int, int]:
        """(every trained parameter, the hidden matrices the matrix optimizer trains)."""
        from spectral_la.lab.workload import hidden_matrices

        with torch.random.fork_rng():
            model = self.model()
        return sum(p.numel() for p in model.parameters()), sum(p.numel() for _, p in hidden_matrices(model))

    def steps(self, regime: str) -> int:
        total, _ = self.params()
        return math.ceil(self.regimes[regime] * total / (self.batch * self.context))


def softening_for(value: str, steps: int) -> float | str:
    """The optimizer's ``softening=`` for a study value: a number, or ``ramp:<s0>:<s1>`` over ``steps``."""
    text = str(value)
    if text.startswith("ramp:"):
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"study softening {text!r}: write ramp:<s0>:<s1>")
        s0, s1 = (float(check_in_range(float(v), f"study softening {text!r}", 0, 1)) for v in parts[1:])
        return f"linear:{s0:g}:{s1:g}:{max(1, steps - 1)}"
    s = parse_softening(text, f"study softening {text!r}")
    if not isinstance(s, float):
        raise ValueError(f"study softening {text!r}: write a number or ramp:<s0>:<s1>")
    return s


def held_out_split(path: str) -> bool:
    """Whether a file (its path relative to the standard library) is held out: CRC-32 ≡ 0 mod 20."""
    return zlib.crc32(path.encode()) % 20 == 0


@functools.cache
def _files() -> tuple[list[Path], list[Path], Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    train = [p for p in files if not held_out_split(str(p.relative_to(root)))]
    held = [p for p in files if held_out_split(str(p.relative_to(root)))]
    return train, held, root


def _bytes(files: list[Path], need: int) -> torch.Tensor:
    chunks, total = [], 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        chunks.append(data)
        total += len(data)
        if total >= need:
            break
    return torch.frombuffer(bytearray(b"".join(chunks)[:need]), dtype=torch.uint8).clone()


def data(cfg: StudyConfig, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training windows, held-out windows), each (count, context + 1) bytes; refuses a budget the corpus
    cannot meet with fresh tokens."""
    window = cfg.context + 1
    need = steps * cfg.batch
    train_files, held_files, root = _files()
    train = _bytes(train_files, need * window)
    if train.numel() < need * window:
        raise ValueError(
            f"study: {steps} steps × {cfg.batch} windows of {window} bytes need {need * window} training bytes; "
            f"the standard library under {root} has {train.numel()} outside the held-out files"
        )
    held = _bytes(held_files, cfg.held_out_windows * window)
    if held.numel() < cfg.held_out_windows * window:
        raise ValueError(f"study: the held-out files hold {held.numel()} bytes, fewer than the windows asked for")
    return train.reshape(need, window), held.reshape(cfg.held_out_windows, window)


def _make_optimizer(name: str, params: list, lr: float, softening: float | str) -> torch.optim.Optimizer:
    """The optimizer of a run, in the precision ``analysis.study_stats.STUDY_PRECISION`` states."""
    return OPTIMIZERS[name](params, lr=lr, softening=softening, compute_dtype="fp32")


def run_one(cfg: StudyConfig, optimizer: str, softening: str, regime: str, lr: float, seed: int, device: str = "cpu"):
    """Train once; returns the held-out curve [(tokens, loss)], the final loss and the counts."""
    from spectral_la.lab.workload import hidden_matrices

    steps = cfg.steps(regime)
    train, held = data(cfg, steps)
    with torch.random.fork_rng(devices=[]):  # the seed sets init; the caller's global RNG is left as it was
        torch.manual_seed(seed)
        model = cfg.model().to(device)
    order = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(seed))
    hidden = hidden_matrices(model)
    ids = {id(p) for _, p in hidden}
    opt = _make_optimizer(optimizer, [p for _, p in hidden], lr, softening_for(softening, steps))
    adam = torch.optim.AdamW([p for p in model.parameters() if id(p) not in ids], lr=3e-3, weight_decay=0.0)
    held = held.long().to(device)
    evals = sorted({max(1, round(steps * k / cfg.evals)) for k in range(1, cfg.evals + 1)})
    curve = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = train[order[(step - 1) * cfg.batch : step * cfg.batch]].long().to(device)
        x, y = batch[:, :-1], batch[:, 1:]
        loss = nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        opt.zero_grad()
        adam.zero_grad()
        loss.backward()
        opt.step()
        adam.step()
        if step in evals:
            with torch.no_grad():
                value = float(
                    nn.functional.cross_entropy(model(held[:, :-1]).reshape(-1, 256), held[:, 1:].reshape(-1))
                )
            if not math.isfinite(value):
                raise FloatingPointError(f"held-out loss is {value} at step {step}")
            curve.append((step * cfg.batch * cfg.context, value))
    total, matrix = cfg.params()
    tokens = steps * cfg.batch * cfg.context
    return {
        "final_loss": curve[-1][1],
        "curve": ";".join(f"{t}:{v:.6f}" for t, v in curve),
        "steps": steps,
        "tokens": tokens,
        "params": total,
        "matrix_params": matrix,
        "tokens_per_param": tokens / total,
        "seconds": time.perf_counter() - start,
    }


# --- the sweep kind ---------------------------------------------------------------------------------


def _tasks(grid: dict) -> list[dict]:
    return list(grid.get("tasks", []))


def _run(task: dict, device: str) -> dict:
    d = json.loads(task["config_json"])
    kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    kwargs["lrs"] = {k: tuple(v) for k, v in kwargs["lrs"].items()}
    cfg = StudyConfig(**kwargs)
    return run_one(
        cfg, task["optimizer"], task["softening"], task["regime"], float(task["lr"]), int(task["seed"]), device
    )


STUDY_KIND = SweepKind("softening_study", {}, KEY_FIELDS, VALUE_FIELDS, _tasks, _run, text_fields=("curve",))


def _config_json(cfg: StudyConfig) -> str:
    d = asdict(cfg)
    d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
    return json.dumps(d, sort_keys=True)


def study_tasks(cfg: StudyConfig, seeds: tuple, lr_of=None) -> list[dict]:
    """Task dicts: every lr of each optimizer (``lr_of`` None) or the chosen one, for the given seeds."""
    out = []
    for o in cfg.optimizers:
        for s in cfg.softening:
            for regime in cfg.regimes:
                lrs = cfg.lrs[o] if lr_of is None else [lr_of[(o, s, regime)]]
                for lr in lrs:
                    for seed in seeds:
                        out.append({"config": cfg.key(), "optimizer": o, "softening": str(s), "regime": regime,
                                    "lr": repr(float(lr)), "seed": str(seed)})  # fmt: skip
    return out


def run_study(
    cfg: StudyConfig,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[SweepSummary, SweepSummary]:
    """Phase 1 (every lr, the first seed) then phase 2 (the other seeds at each setting's best lr), into ``out``.

    Everything is checked before any training: the grid, and that the corpus holds the token-rich budget.
    """
    from spectral_la.analysis.result_store import ResultStore
    from spectral_la.analysis.study_stats import best_lrs, parse_rows

    for regime in cfg.regimes:
        data(cfg, cfg.steps(regime))  # refuses a budget the corpus cannot meet, before any run
    if Path(out).exists():
        from spectral_la.analysis.result_store import ResultStore

        present = ResultStore(out, (*KEY_FIELDS, *VALUE_FIELDS, "error"), KEY_FIELDS).rows().values()
        other = sorted({r["config"] for r in present} - {cfg.key()})
        if other:
            raise ValueError(
                f"{out} holds runs of another study configuration ({', '.join(other)}; this one is {cfg.key()}): "
                "write to another file"
            )
    cj = _config_json(cfg)
    first = [{**t, "config_json": cj} for t in study_tasks(cfg, cfg.seeds[:1])]
    kind = STUDY_KIND
    phase1 = run_sweep(
        kind, {"tasks": first}, out, scheduler=scheduler, workers=workers, device=device, progress=progress
    )
    store = ResultStore(out, (*KEY_FIELDS, *VALUE_FIELDS, "error"), KEY_FIELDS, valid=kind.valid)
    rows = parse_rows(store.rows().values(), cfg.key())
    chosen = {k: v["lr"] for k, v in best_lrs(rows, cfg.seeds[0]).items()}
    missing = [
        (o, s, r) for o in cfg.optimizers for s in cfg.softening for r in cfg.regimes if (o, str(s), r) not in chosen
    ]
    if missing:
        raise RuntimeError(f"study: no finished seed-{cfg.seeds[0]} run for {missing[:3]}; see the failures: {phase1}")
    second = [{**t, "config_json": cj} for t in study_tasks(cfg, cfg.seeds[1:], chosen)] if cfg.seeds[1:] else []
    phase2 = run_sweep(
        kind, {"tasks": second}, out, scheduler=scheduler, workers=workers, device=device, progress=progress
    )
    return phase1, phase2


def load_rows(path: str | Path) -> list[dict]:
    """Every stored row of a study CSV (as text; :func:`spectral_la.analysis.study_stats.parse_rows` converts)."""
    return read_study(path)

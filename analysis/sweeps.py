"""Sweeps beyond one machine: one executor for every grid, on dask.distributed, local by default.

A sweep is a *kind* (``stability``, ``softening``, ``design``: what one task computes) and a
*grid* (a list of values per field); every combination is one independent task. The
executor:

* runs the tasks on a ``dask.distributed`` cluster: a ``LocalCluster`` of ``workers``
  processes on this machine by default, or an existing scheduler (``scheduler=ADDRESS``
  or the ``SPECTRAL_LA_SCHEDULER`` environment variable); ``workers=0`` runs them in this
  process (no Dask), with the same bookkeeping;
* writes one row per task, keyed by its parameters, to a :class:`~analysis.result_store.ResultStore`
  CSV as results arrive: a killed worker's tasks are rescheduled by Dask, a killed client
  loses nothing written, a rerun skips every key already there, and two clients on one
  file never duplicate a row (the store's lock);
* never lets a failing task kill the sweep: the task catches its own exception, the row
  records it in ``error``, and the summary lists the failures;
* gives each worker ``threads`` torch threads (default 1) so workers do not fight over
  cores, and can pin tasks to GPU workers through Dask resources (``resources={"GPU": 1}``
  with workers started as ``dask worker ADDRESS --resources GPU=1``).

Several machines: start ``dask scheduler`` on one (it prints its address,
``tcp://HOST:8786``), ``dask worker tcp://HOST:8786 --nworkers 4 --nthreads 1`` on each
machine, then point the sweep at it: ``spectral-la sweep stability --grid grid.toml
--scheduler tcp://HOST:8786`` (or ``export SPECTRAL_LA_SCHEDULER=tcp://HOST:8786``). The
output CSV is written by the client, so only the client needs the file system.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from tqdm.auto import tqdm

from spectral_la.analysis.result_store import ResultStore
from spectral_la.analysis.stability import FIELDS as STABILITY_FIELDS
from spectral_la.analysis.stability import KEY_FIELDS as STABILITY_KEYS
from spectral_la.analysis.stability import normalized_grid, parse_row, run_case
from spectral_la.dtypes import dtype_name, parse_dtype
from spectral_la.validation import check_in_range, check_int, parse_shape

__all__ = ["KINDS", "SweepKind", "SweepSummary", "expand", "run_sweep", "stability_sweep"]

STABILITY_VALUES = tuple(f for f in STABILITY_FIELDS if f not in STABILITY_KEYS)

#: Errors of the cluster, not of the task: a row holding one is recomputed on resume.
RETRYABLE_ERRORS = ("KilledWorker", "CommClosedError", "CancelledError", "FutureCancelledError", "TimeoutError")

#: Largest grid one sweep accepts.
MAX_TASKS = 1_000_000


@dataclass(frozen=True)
class SweepKind:
    """What one task of a sweep computes: its grid fields (with defaults), key and value columns."""

    name: str
    defaults: dict  # field → default list of values
    key_fields: tuple
    value_fields: tuple
    tasks: Callable[[dict], list[dict]]  # validated grid (every field a list) → canonical task dicts
    run: Callable[[dict, str], dict]  # (task, torch device) → its values (raises on failure)
    text_fields: tuple = ()  # value fields stored as text (not numbers)

    def valid(self, row: dict) -> bool:
        """A stored row is readable if it records the task's own error or every value parses.

        An error of the cluster rather than the task (a worker that died too often, a lost
        connection) is not the task's result: such a row is ignored. A row with the task's own
        error is kept (it is the evidence) but never counts as done: ``run_sweep`` computes it
        again on every resume, and it stays in the summary's failures until it succeeds.
        """
        if row.get("error"):
            return not row["error"].startswith(RETRYABLE_ERRORS)
        for name in self.value_fields:
            value = row.get(name, "")
            if value in ("True", "False") or name == "rows" or name in self.text_fields:
                continue
            try:
                float(value)
            except ValueError:
                return False
        return True


@dataclass
class SweepSummary:
    total: int
    already_done: int
    computed: int
    failures: list = field(default_factory=list)  # (key dict, error text)

    def __str__(self) -> str:
        text = f"{self.total} tasks: {self.already_done} already in the output, {self.computed} computed"
        if self.failures:
            text += f", {len(self.failures)} failed:\n" + "\n".join(f"  {k}: {e}" for k, e in self.failures[:20])
        return text


# --- the kinds --------------------------------------------------------------------------------------


def _stability_tasks(grid: dict) -> list[dict]:
    if len(grid["reference"]) != 1:
        raise ValueError("grid field 'reference' takes one value ('mpmath' or 'float64')")
    return normalized_grid(
        grid["methods"],
        grid["storage_dtypes"],
        grid["kappas"],
        grid["shapes"],
        grid["rank_deficiencies"],
        grid["seeds"],
        grid["reference"][0],
        grid["compute_dtypes"],
    )


def _stability_run(task: dict, device: str) -> dict:
    row = run_case(task, device)
    return {k: row[k] for k in STABILITY_VALUES}


def _softening_tasks(grid: dict) -> list[dict]:
    from spectral_la.analysis.softening import soften_specs
    from spectral_la.analysis.spectra import FAMILIES

    specs = [str(sp) for sp in soften_specs(grid["specs"], "grid field 'specs'")]
    for fam in grid["families"]:
        if fam not in FAMILIES:
            raise ValueError(f"grid field 'families': {fam!r} not in {', '.join(FAMILIES)}")
    shapes = ["x".join(map(str, parse_shape(v, "grid field 'shapes'"))) for v in grid["shapes"]]
    seeds = [str(check_int(v, "grid field 'seeds'", 0, 2**63 - 1)) for v in grid["seeds"]]
    storage = [_dtype(d, "storage_dtypes") for d in grid["storage_dtypes"]]
    keys = ("spec", "family", "shape", "storage_dtype", "seed")
    return [dict(zip(keys, c, strict=True)) for c in product(specs, grid["families"], shapes, storage, seeds)]


def _softening_run(task: dict, device: str) -> dict:
    from spectral_la.analysis.softening import measure_softening
    from spectral_la.analysis.spectra import family_matrix

    m, n = (int(v) for v in task["shape"].split("x"))
    x = family_matrix(task["family"], m, n, int(task["seed"]))
    (row,) = measure_softening(task["spec"], x, storage_dtype=task["storage_dtype"], device=device)
    return {k: row[k] for k in ("f_min", "f_max", "max_rel", "mean_rel", "fro_rel")}


def _design_tasks(grid: dict) -> list[dict]:
    from spectral_la.design import MAX_DESIGN_DEGREE, MAX_DESIGN_STEPS
    from spectral_la.targets import target

    degrees = [str(check_int(d, "grid field 'degrees'", 3, MAX_DESIGN_DEGREE)) for d in grid["degrees"]]
    even = [d for d in degrees if int(d) % 2 == 0]
    if even:  # the schedules are odd polynomials: an even degree fails in every task, so refuse it up front
        raise ValueError(f"grid field 'degrees': {even} are even; odd-polynomial schedules have odd degrees")
    steps = [str(check_int(t, "grid field 'steps'", 1, MAX_DESIGN_STEPS)) for t in grid["steps"]]
    ells = [repr(float(check_in_range(v, "grid field 'ells'", 0, 1, lo_open=True, hi_open=True))) for v in grid["ells"]]
    for t in grid["targets"]:
        target(t)  # raises ValueError naming the target
    safety = [repr(float(check_in_range(v, "grid field 'safety'", 1, None))) for v in grid["safety"]]
    keys = ("degree", "steps", "ell", "target", "safety")
    return [dict(zip(keys, c, strict=True)) for c in product(degrees, steps, ells, grid["targets"], safety)]


def _design_run(task: dict, device: str) -> dict:
    import json

    from spectral_la.certify import certify
    from spectral_la.design import design_schedule

    res = design_schedule(
        int(task["degree"]),
        int(task["steps"]),
        float(task["ell"]),
        target_map=task["target"],
        safety=float(task["safety"]),
    )
    bound = certify(res.schedule)
    return {
        "worst_error": float(res.worst_error),
        "certified_upper": bound.upper,
        "rows": json.dumps([list(r) for r in res.schedule.rows]),
    }


def _dtype(value, field: str) -> str:
    return dtype_name(parse_dtype(value, f"grid field {field!r}"))


KINDS = {
    "stability": SweepKind(
        "stability",
        {
            "methods": ["ns:polar_express"],
            "storage_dtypes": ["float32"],
            "compute_dtypes": ["default"],
            "kappas": [1e2],
            "shapes": ["64x64"],
            "rank_deficiencies": [0.0],
            "seeds": [0],
            "reference": ["float64"],
        },
        STABILITY_KEYS,
        STABILITY_VALUES,
        _stability_tasks,
        _stability_run,
    ),
    "softening": SweepKind(
        "softening",
        {
            "specs": ["soften:0.5:polar_express"],
            "families": ["power_law"],
            "shapes": ["128x512"],
            "storage_dtypes": ["float32"],
            "seeds": [0],
        },
        ("spec", "family", "shape", "storage_dtype", "seed"),
        ("f_min", "f_max", "max_rel", "mean_rel", "fro_rel"),
        _softening_tasks,
        _softening_run,
    ),
    "design": SweepKind(
        "design",
        {"degrees": [5], "steps": [5], "ells": [1e-3], "targets": ["sign"], "safety": [1.0]},
        ("degree", "steps", "ell", "target", "safety"),
        ("worst_error", "certified_upper", "rows"),
        _design_tasks,
        _design_run,
    ),
}


def expand(kind: str, grid: dict) -> list[dict]:
    """The validated, canonical task list of a grid (unknown or empty fields raise, naming the field)."""
    if kind not in KINDS:
        raise ValueError(f"unknown sweep kind {kind!r}; kinds: {sorted(KINDS)}")
    spec = KINDS[kind]
    unknown = sorted(set(grid) - set(spec.defaults))
    if unknown:
        raise ValueError(f"{kind} grid: unknown field(s) {unknown}; fields: {sorted(spec.defaults)}")
    full = {}
    for name, default in spec.defaults.items():
        values = grid.get(name, default)
        if isinstance(values, (str, int, float)):
            values = [values]
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"{kind} grid: field '{name}' must be a non-empty list, got {values!r}")
        full[name] = list(values)
    size = 1
    for values in full.values():
        size *= len(values)
    if size > MAX_TASKS:
        raise ValueError(f"{kind} grid has {size} tasks, more than {MAX_TASKS}; split it")
    return spec.tasks(full)


def _execute(kind: SweepKind, task: dict, threads: int, device: str = "cpu") -> dict:
    """One task on a worker: its values, or its error (a failing task never kills the sweep)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return {**kind.run(task, device), "error": ""}
    except Exception as exc:  # noqa: BLE001 - recorded in the row, reported in the summary
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return {"error": f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"}
    finally:
        torch.set_num_threads(before)


def _client(scheduler: str | None, workers: int, threads: int):
    from dask.distributed import Client, LocalCluster

    address = scheduler or os.environ.get("SPECTRAL_LA_SCHEDULER")
    if address:
        return Client(address), None
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    return Client(cluster), cluster


def _check_resources(client, resources: dict) -> None:
    """Fail fast where no worker offers the resources the tasks are pinned to (they would wait forever)."""
    workers = client.scheduler_info().get("workers", {})
    offering = [w for w in workers.values() if all(w.get("resources", {}).get(k, 0) >= v for k, v in resources.items())]
    if not offering:
        wanted = ", ".join(f"{k}={v}" for k, v in resources.items())
        raise ValueError(
            f"no worker of the cluster offers {wanted} ({len(workers)} worker(s) connected): start GPU workers with "
            f"`dask worker ADDRESS --resources {wanted}` and pass --scheduler ADDRESS, or drop --gpu"
        )


def run_sweep(
    kind: str | SweepKind,
    grid: dict | None,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    threads: int = 1,
    resources: dict | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> SweepSummary:
    """Run (or resume) a sweep into the CSV ``out``; returns the summary (module docstring)."""
    spec = kind if isinstance(kind, SweepKind) else None
    if spec is None:
        tasks = expand(str(kind), grid or {})
        spec = KINDS[str(kind)]
    else:  # a kind defined elsewhere (e.g. the lab's softening study) runs its own task list
        tasks = spec.tasks(grid or {})
    workers = check_int(workers, "workers", 0, 4096)
    threads = check_int(threads, "threads", 1, 1024)
    store = ResultStore(out, (*spec.key_fields, *spec.value_fields, "error"), spec.key_fields, valid=spec.valid)
    done = {k: r for k, r in store.rows().items() if not r.get("error")}  # a failure is never done
    todo = [t for t in tasks if store.key(t) not in done]
    summary = SweepSummary(total=len(tasks), already_done=len(tasks) - len(todo), computed=0)

    def record(task: dict, values: dict) -> None:
        row = {**task, **{f: values.get(f, "") for f in spec.value_fields}, "error": values["error"]}
        store.append(row, replace_failed=True)
        summary.computed += 1
        if values["error"]:
            summary.failures.append((task, values["error"]))

    bar = tqdm(total=len(todo), desc=f"{spec.name} sweep", disable=not progress)
    if workers == 0 and not (scheduler or os.environ.get("SPECTRAL_LA_SCHEDULER")):
        for task in todo:
            record(task, _execute(spec, task, threads, device))
            bar.update()
        bar.close()
        return summary
    from dask.distributed import as_completed

    client, cluster = _client(scheduler, workers, threads)
    try:
        if resources:
            _check_resources(client, resources)
        futures = {
            client.submit(
                _execute,
                spec,
                task,
                threads,
                device,
                key=f"{spec.name}-{i}-{hash(tuple(task.items()))}",
                resources=resources,
                pure=False,
            ): task
            for i, task in enumerate(todo)
        }
        for future in as_completed(futures):
            try:
                values = future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated worker deaths
                values = {"error": f"{type(exc).__name__}: {exc}"}
            record(futures[future], values)
            bar.update()
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return summary


def stability_sweep(
    methods=("ns:polar_express", "ns:jordan_ns5"),
    *,
    dtypes=("float64", "float32", "bfloat16", "float16"),
    compute_dtypes=("default",),
    kappas=(1e1, 1e4, 1e8, 1e12, 1e16),
    shapes=("64x64", "128x32", "32x128", "8x32x32"),
    rank_deficiencies=(0.0, 0.5),
    seeds=(0,),
    cache: str | Path = "reports/stability.csv",
    device: str = "cpu",
    progress: bool = True,
    reference: str = "mpmath",
    workers: int = 0,
    scheduler: str | None = None,
) -> list[dict]:
    """Run (or resume) the sweep; returns the tidy rows of the requested grid (module docstring).

    Keys are normalised (κ = 10 and 10.0 are one row); κ must be ≥ 1, the rank
    deficiency in [0, 1), seeds non-negative ints, shapes ``"MxN"`` or
    ``"BxMxN"``. The cache is a :class:`~analysis.result_store.ResultStore`:
    a cut-off or malformed row is recomputed, never parsed, and two sweeps
    writing to one file never duplicate a row.

    ``reference="mpmath"`` (default) measures the float64 rows against the
    exact map and the method itself run at 30 digits (python-flint kernels), so
    they show float64's real error; ``"float64"`` is the explicit fast option
    (float64 rows then read 0 rounding error by construction).

    ``workers`` > 0 (or ``scheduler``) runs the grid on dask.distributed through the one sweep
    executor (:func:`analysis.sweeps.run_sweep`); 0 runs it in this process.
    """
    grid = normalized_grid(methods, dtypes, kappas, shapes, rank_deficiencies, seeds, reference, compute_dtypes)
    spec = {
        "methods": list(methods),
        "storage_dtypes": list(dtypes),
        "compute_dtypes": list(compute_dtypes),
        "kappas": list(kappas),
        "shapes": list(shapes),
        "rank_deficiencies": list(rank_deficiencies),
        "seeds": list(seeds),
        "reference": [reference],
    }
    summary = run_sweep(
        "stability", spec, cache, workers=workers, scheduler=scheduler, device=device, progress=progress
    )
    if summary.failures:
        key, error = summary.failures[0]
        raise RuntimeError(f"stability sweep: {len(summary.failures)} case(s) failed, e.g. {key}: {error}")
    kind = KINDS["stability"]
    store = ResultStore(cache, (*kind.key_fields, *kind.value_fields, "error"), kind.key_fields, valid=kind.valid)
    done = {k: r for k, r in ((k, parse_row(r)) for k, r in store.rows().items()) if r is not None}
    out = []
    for cfg in grid:
        row = done[store.key(cfg)]
        out.append(
            {
                **cfg,
                "kappa": float(cfg["kappa"]),
                "rank_deficiency": float(cfg["rank_deficiency"]),
                "seed": int(cfg["seed"]),
                "rel_error": float(row["rel_error"]),
                "rounding_error": float(row["rounding_error"]),
                "finite": row["finite"] in (True, "True"),
                "reference_rtol": float(row["reference_rtol"]),
                "measurable": row["measurable"] in (True, "True"),
            }
        )
    return out

"""Sweeps on dask.distributed (a LocalCluster of 2 worker processes): kills, restarts, two clients, bad grids."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spectral_la.analysis.sweeps import expand, run_sweep

ROOT = Path(__file__).resolve().parents[1]
# 24 tasks of ≈ 0.1 s each: long enough to kill something in the middle
GRID = {
    "methods": ["ns:polar_express", "ns:jordan_ns5", "msign"],
    "storage_dtypes": ["float32", "bfloat16"],
    "kappas": [1e2, 1e6],
    "shapes": ["192x192", "96x288"],
}


def _rows(path: Path) -> list[tuple]:
    with path.open() as fh:
        return sorted(tuple(r.values()) for r in csv.DictReader(fh))


@pytest.fixture(scope="module")
def serial_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "serial.csv"
    run_sweep("stability", GRID, out, workers=0, progress=False)
    return _rows(out)


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _wait_for_rows(path: Path, n: int, timeout: float = 60) -> None:
    start = time.time()
    while time.time() - start < timeout:
        if path.exists() and len(path.read_text().splitlines()) > n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows after {timeout} s")


def test_a_worker_killed_mid_sweep_changes_nothing(cluster, serial_rows, tmp_path):
    from dask.distributed import Client

    out = tmp_path / "killed_worker.csv"
    worker = threading.Thread(
        target=run_sweep,
        args=("stability", GRID, out),
        kwargs={"scheduler": cluster.scheduler_address, "progress": False},
    )
    worker.start()
    _wait_for_rows(out, 2)
    with Client(cluster.scheduler_address) as client:
        pids = client.run(os.getpid)
    os.kill(next(iter(pids.values())), signal.SIGKILL)  # the nanny restarts it; Dask reruns its tasks
    worker.join(120)
    assert not worker.is_alive()
    assert _rows(out) == serial_rows


def _client_script(out: Path, address: str) -> list[str]:
    code = (
        "from spectral_la.analysis.sweeps import run_sweep; import tests.test_sweeps as t; "
        f"run_sweep('stability', t.GRID, {str(out)!r}, scheduler={address!r}, progress=False)"
    )
    return [sys.executable, "-c", code]


@pytest.mark.slow  # ≥ 3.5 s on 2 cores: CI's second step (-m slow)
def test_a_killed_client_resumes(cluster, serial_rows, tmp_path):
    out = tmp_path / "killed_client.csv"
    proc = subprocess.Popen(_client_script(out, cluster.scheduler_address), cwd=ROOT)
    _wait_for_rows(out, 3)
    proc.kill()
    proc.wait()
    partial = len(_rows(out))
    summary = run_sweep("stability", GRID, out, scheduler=cluster.scheduler_address, progress=False)
    assert summary.already_done >= partial >= 3 and summary.computed == len(serial_rows) - summary.already_done
    assert _rows(out) == serial_rows


@pytest.mark.slow  # ≥ 3.5 s on 2 cores: CI's second step (-m slow)
def test_two_clients_on_one_output(cluster, serial_rows, tmp_path):
    out = tmp_path / "two_clients.csv"
    procs = [subprocess.Popen(_client_script(out, cluster.scheduler_address), cwd=ROOT) for _ in range(2)]
    for p in procs:
        assert p.wait(180) == 0
    lines = out.read_text().splitlines()
    assert lines.count(lines[0]) == 1 and len(set(lines)) == len(lines)
    assert _rows(out) == serial_rows


def test_failures_are_recorded_not_fatal(tmp_path):
    summary = run_sweep(
        "stability",
        {"methods": ["muon_p_coupled:1/2", "ns:polar_express"], "rank_deficiencies": [0.5], "shapes": ["16x16"]},
        tmp_path / "f.csv",
        workers=0,
        progress=False,
    )
    assert summary.computed == 2 and len(summary.failures) == 1
    assert "SingularMatrixError" in summary.failures[0][1] and "1 failed" in str(summary)


@pytest.mark.parametrize(
    ("kind", "grid", "match"),
    [
        ("stability", {"methods": ["ns:nope"]}, "schedule 'nope'"),
        ("stability", {"shapes": ["-4x4"]}, "shape"),
        ("stability", {"kappas": []}, "kappas"),
        ("stability", {"colour": [1]}, "colour"),
        ("softening", {"shapes": ["0x3"]}, "shapes"),
        ("softening", {"specs": ["soften:2:polar_express"]}, "soften s"),
        ("design", {"degrees": [4000]}, "degrees"),
        ("flow", {}, "unknown sweep kind"),
    ],
)
def test_bad_grids_name_the_field(kind, grid, match):
    with pytest.raises(ValueError, match=match):
        expand(kind, grid)


def test_low_precision_stability_rows_measure_the_iteration_not_the_reference(tmp_path):
    """bf16 rows used to read 1.55 and inf at κ = 10 (64×64, 128×32): the reference cut real singular values."""
    from spectral_la.analysis.sweeps import stability_sweep

    rows = stability_sweep(
        ("ns:polar_express",),
        dtypes=("bf16", "fp32"),
        compute_dtypes=("default", "bf16"),
        kappas=(10, 1e4),
        shapes=("64x64", "128x32"),
        rank_deficiencies=(0.0, 0.5),
        cache=tmp_path / "s.csv",
        progress=False,
        reference="float64",
    )
    by = {(r["storage_dtype"], r["compute_dtype"], r["kappa"], r["shape"], r["rank_deficiency"]): r for r in rows}
    assert {r["compute_dtype"] for r in rows} == {"float32", "bfloat16"}  # "default" is stored as what ran
    for shape in ("64x64", "128x32"):
        low, ref = by[("bfloat16", "float32", 10.0, shape, 0.0)], by[("float32", "float32", 10.0, shape, 0.0)]
        # full rank, κ = 10: every σ̂ is inside Polar Express's interval, so both rows are its approximation
        # error (≈ 0.08); storage rounding moves σ by ≤ u_bf16 = 2^-8 relative, f by ≤ |f'|·2^-8 ≲ 0.01
        assert low["measurable"] and abs(low["rel_error"] - ref["rel_error"]) < 0.02
        assert low["rounding_error"] < 0.01
        # rank-deficient at κ = 1e4: bf16 rounding noise (‖E‖₂ ≈ 1e-3) reaches the designed σ_min = 1e-4,
        # so no rank decision is right: the row says so instead of giving a number
        gone = by[("bfloat16", "float32", 1e4, shape, 0.5)]
        assert not gone["measurable"] and math.isnan(gone["rel_error"])
        kept = by[("float32", "float32", 1e4, shape, 0.5)]  # fp32 noise ≈ 1e-7 ≪ 1e-4: measurable
        assert kept["measurable"] and 1e-8 < kept["reference_rtol"] < 1e-4


def _toy_run(task: dict, device: str) -> dict:
    x = int(task["x"])
    if x % 3 == 1:  # a multi-line error with the CSV's own separators in it
        raise ValueError(f'task {x} failed:\nline two, with a comma and a "quote"\r\nand a backslash \\n')
    return {"v": repr(x / 7), "ok": x % 2 == 0}


@pytest.fixture
def toy_kind(monkeypatch):
    from spectral_la.analysis.sweeps import KINDS, SweepKind

    kind = SweepKind("toy", {"xs": [0]}, ("x",), ("v", "ok"), lambda g: [{"x": str(x)} for x in g["xs"]], _toy_run)
    monkeypatch.setitem(KINDS, "toy", kind)
    return kind


def _store(kind, path):
    from spectral_la.analysis.result_store import ResultStore

    return ResultStore(path, (*kind.key_fields, *kind.value_fields, "error"), kind.key_fields, valid=kind.valid)


def test_a_file_cut_at_any_byte_resumes_to_exactly_the_serial_rows(toy_kind, tmp_path):
    """Was: a cut inside a multi-line error field hid every later row (216 tasks: 101 visible, 116 lost)."""
    grid = {"xs": list(range(7))}
    serial = tmp_path / "serial.csv"
    run_sweep("toy", grid, serial, workers=0, progress=False)
    expected = _store(toy_kind, serial).rows()
    assert len(expected) == 7 and "\nline two" in expected[("1",)]["error"]
    data = serial.read_bytes()
    cut = tmp_path / "cut.csv"
    for k in range(len(data) + 1):
        cut.write_bytes(data[:k])
        summary = run_sweep("toy", grid, cut, workers=0, progress=False)
        assert _store(toy_kind, cut).rows() == expected, k
        assert summary.already_done + summary.computed == 7
        # a failed task (x = 1, 4) is computed again on every resume and stays among the failures
        assert {int(t["x"]) for t, _ in summary.failures} == {1, 4} and summary.already_done <= 5
        # every successful key once in the file: nothing that succeeded is appended twice by a resume
        store = _store(toy_kind, cut)
        parsed = [store._parse(line) for line in cut.read_text().split("\n")[1:-1]]
        ok_keys = [store.key(r) for r in parsed if r is not None and not r["error"]]
        assert sorted(ok_keys) == sorted(set(ok_keys)) and len(set(ok_keys)) == 5, k


def test_damaged_values_are_recomputed_and_cluster_errors_retried(toy_kind, tmp_path):
    grid = {"xs": list(range(4))}
    out = tmp_path / "r.csv"
    run_sweep("toy", grid, out, workers=0, progress=False)
    expected = _store(toy_kind, out).rows()
    text = out.read_text()
    damaged = text.replace("True,", "Tru,", 1).replace(repr(2 / 7), repr(2 / 7)[:3], 1)  # "0.28…" to "0.2"
    out.write_text(damaged)
    assert len(_store(toy_kind, out).rows()) == 2  # the two damaged lines are not read
    run_sweep("toy", grid, out, workers=0, progress=False)
    assert _store(toy_kind, out).rows() == expected
    # a worker that died too often is the cluster's failure, not the task's result: retried on resume
    other = tmp_path / "k.csv"
    _store(toy_kind, other).append({"x": "0", "v": "", "ok": "", "error": "KilledWorker: attempted 4 times"})
    summary = run_sweep("toy", {"xs": [0]}, other, workers=0, progress=False)
    assert summary.computed == 1 and _store(toy_kind, other).rows()[("0",)]["error"] == ""


def test_a_file_that_is_not_ours_is_refused(toy_kind, tmp_path):
    unrelated = tmp_path / "data.csv"
    unrelated.write_text("name,value\nalice,3\n")
    with pytest.raises(ValueError, match="not a results file of this kind"):
        run_sweep("toy", {"xs": [0]}, unrelated, workers=0, progress=False)
    assert unrelated.read_text() == "name,value\nalice,3\n"
    target = tmp_path / "elsewhere.csv"
    target.write_text("")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link"):
        run_sweep("toy", {"xs": [0]}, link, workers=0, progress=False)
    (tmp_path / "ok.csv.lock").symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link"):
        run_sweep("toy", {"xs": [0]}, tmp_path / "ok.csv", workers=0, progress=False)
    assert target.read_text() == ""


def test_no_hangs_work_is_bounded_or_refused_up_front():
    """Was: certify at 10⁴ steps > 120 s, schedules --budget 10000 > 300 s, --gpu without GPU workers forever."""
    import time

    import spectral_la as sl
    from spectral_la.analysis.schedule_ranking import certified_ranking
    from spectral_la.analysis.sweeps import _check_resources

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="more than the 500000"):
        sl.certify("polar_express", 10_000)
    with pytest.raises(ValueError, match="budget"):
        certified_ranking(budget=10_000)
    assert time.perf_counter() - t0 < 5  # refused before any work (a bound, not a timing measurement)

    class Client:  # a cluster whose workers offer no GPU
        def scheduler_info(self):
            return {"workers": {"tcp://a": {"resources": {}}, "tcp://b": {"resources": {"GPU": 0}}}}

    with pytest.raises(ValueError, match="no worker of the cluster offers GPU=1"):
        _check_resources(Client(), {"GPU": 1})


def test_grids_are_validated_before_any_task_runs():
    """Was: an even design degree and shapes too large to allocate were accepted, to fail (or hang) per task."""
    for kind, grid, match in (
        ("design", {"degrees": [5, 4]}, "are even"),
        ("stability", {"shapes": ["8x65536x65536"]}, "entries, more than"),
        ("softening", {"shapes": ["65536x65536"]}, "entries, more than"),
    ):
        with pytest.raises(ValueError, match=match):
            expand(kind, grid)


def test_coupled_root_tolerance_is_validated():
    """Was: tol = −1, NaN or 0 accepted, then 100 iterations to converged=False."""
    import torch

    import spectral_la as sl

    for tol in (-1.0, float("nan"), 0.0):
        with pytest.raises(ValueError, match="tol"):
            sl.coupled_inverse_root(torch.eye(3, dtype=torch.float64), 2, tol=tol)


def test_the_store_keys_numpy_scalars_as_the_numbers_they_are(tmp_path):
    """Was: np.float64(0.1) written as 'np.float64(0.1)', so the key was not found again and written twice."""
    import numpy as np

    from spectral_la.analysis.result_store import ResultStore

    store = ResultStore(tmp_path / "r.csv", ("a", "b", "v"), ("a", "b"))
    assert store.append({"a": np.float64(0.1), "b": np.int64(3), "v": np.float32(0.5)})
    assert not store.append({"a": 0.1, "b": 3, "v": 9.0})  # the same key, as Python numbers
    (row,) = store.rows().values()
    assert row == {"a": "0.1", "b": "3", "v": "0.5"}

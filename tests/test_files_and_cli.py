"""Files that cannot lie and a command line that fails in one line (robustness issue, items 6–8)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spectral_la.analysis.result_store import ResultStore
from spectral_la.analysis.sweeps import stability_sweep
from spectral_la.atomic_files import atomic_path
from spectral_la.design import design_schedule
from spectral_la.lab.cli import main
from spectral_la.schedule_files import load_schedule, save_schedule

SMALL = dict(
    methods=("ns:jordan_ns5",),
    dtypes=("float32",),
    kappas=(10,),
    shapes=("8x8",),
    rank_deficiencies=(0.0,),
    progress=False,
)


# --- the result store and the stability cache ----------------------------------------------------


def test_cut_off_last_line_is_recomputed_not_parsed(tmp_path):
    cache = tmp_path / "s.csv"
    full = stability_sweep(**SMALL, seeds=(0, 1), cache=cache)
    text = cache.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    # A full disk or a kill cut the last row inside its rel_error: "6.3e-08" would read as 6.3.
    cut = text[: len(text) - len(last) - 1] + last[: last.index(",", len("ns:jordan_ns5,float32,")) + 6]
    cache.write_text(cut)
    assert not cache.read_text().endswith("\n")
    again = stability_sweep(**SMALL, seeds=(0, 1), cache=cache)
    assert again == full
    lines = cache.read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("method,") and cache.read_text().endswith("\n")


def test_malformed_rows_are_recomputed(tmp_path):
    cache = tmp_path / "s.csv"
    full = stability_sweep(**SMALL, cache=cache)
    header, row = cache.read_text().splitlines()
    cache.write_text(header + "\n" + row.replace("True", "maybe") + "\n")
    assert stability_sweep(**SMALL, cache=cache) == full


def _sweep_into(cache: str) -> None:
    stability_sweep(**{**SMALL, "seeds": (0, 1, 2, 3)}, cache=cache)


def test_two_writers_on_one_file_never_duplicate(tmp_path):
    cache = str(tmp_path / "shared.csv")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_sweep_into, args=(cache,)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lines = Path(cache).read_text().splitlines()
    assert lines.count(lines[0]) == 1  # one header
    assert len(lines) == 1 + 4 and len(set(lines)) == len(lines)


def test_store_skips_a_key_already_written():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        store = ResultStore(Path(d) / "r.csv", ("a", "b", "v"), ("a", "b"))
        assert store.append({"a": 1, "b": 2.0, "v": 0.5})
        assert not store.append({"a": 1, "b": 2.0, "v": 0.7})
        assert list(store.rows().values()) == [{"a": "1", "b": "2.0", "v": "0.5"}]


def test_sweep_keys_are_normalised_and_validated(tmp_path):
    cache = tmp_path / "s.csv"
    a = stability_sweep(**{**SMALL, "kappas": (10,)}, cache=cache)
    b = stability_sweep(**{**SMALL, "kappas": (10.0,)}, cache=cache)
    assert a == b and len(cache.read_text().splitlines()) == 2
    for bad, match in [
        ({"kappas": (0.5,)}, "kappa"),
        ({"shapes": ("8xa",)}, "shape"),
        ({"shapes": ("-5x3",)}, "shape"),
        ({"methods": ("ns:nonexistent",)}, "nonexistent"),
        ({"seeds": (-1,)}, "seed"),
        ({"kappas": ()}, "kappas"),
        ({"dtypes": ("float8",)}, "float8"),
    ]:
        with pytest.raises((ValueError, KeyError), match=match):
            stability_sweep(**{**SMALL, **bad}, cache=cache)


def test_atomic_files_get_the_usual_mode(tmp_path):
    from spectral_la.atomic_files import atomic_write_text

    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "r.md", "x")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise OSError("disk full")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["fig.png"]


# --- load_schedule ---------------------------------------------------------------------------------


def _saved(tmp_path) -> tuple[Path, dict]:
    path = save_schedule(design_schedule(5, 2, 1e-3).schedule, tmp_path / "s.json")
    return path, json.loads(path.read_text())


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"repeat_last": "false"}, "repeat_last"),
        ({"rows": [[True, 1.0, 2.0], [1.0, 2.0, 3.0]]}, "rows"),
        ({"target": "sine"}, "target"),
        ({"safety": 0.5}, "safety"),
        ({"safety": "abc"}, "safety"),
        ({"steps": 10**9}, "steps"),
        ({"interval": [0.5, 0.1]}, "interval"),
        ({"normalization": {"kind": "l3"}}, "kind"),
        ({"extra": 1}, "extra"),
    ],
)
def test_load_schedule_names_the_file_and_the_field(tmp_path, edit, field):
    path, data = _saved(tmp_path)
    path.write_text(json.dumps({**data, **edit}))
    with pytest.raises(ValueError, match=field) as info:
        load_schedule(path)
    assert str(path) in str(info.value)


def test_load_schedule_round_trip(tmp_path):
    path, _ = _saved(tmp_path)
    sched = load_schedule(path)
    assert sched.normalization.kind == "scale_safe" and sched.repeat_last is True


# --- the command line -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["design", "--steps", "100000"],
        ["design", "--degree", "4"],
        ["bench", "--sizes", "-5"],
        ["bench", "--device", "foo"],
        ["report", "--device", "foo"],
        ["nonsense"],
    ],
)
def test_cli_errors_are_one_line_with_status_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and err.startswith("spectral-la")


def test_cli_os_errors_are_one_line(tmp_path, capsys):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    assert main(["design", "--steps", "1", "--out", str(a_file / "sub.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(a_file) in err


def test_cli_sigint_exits_quietly_with_130(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time, sys; from spectral_la.lab.cli import main; "
            "import spectral_la.lab.cli as c; c._main = lambda argv: (print('ready', flush=True), time.sleep(60)); "
            "sys.exit(main([]))",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err


def test_schedules_command_ranks_every_registered_schedule(capsys):
    from spectral_la import schedules
    from spectral_la.lab.cli import main

    assert main(["schedules", "--budget", "12", "--sources"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {name} |" in out for name in schedules) and "## Sources" in out
    assert main(["schedules", "--ell", "2"]) == 2
    assert "--ell" in capsys.readouterr().err


def test_spectrum_files_are_checked_before_they_are_read(tmp_path):
    """Was: a complex matrix lost its imaginary part, a 2-D sigma was flattened, a lying header allocated TBs."""
    import io
    import zipfile

    from spectral_la.analysis.softening import spectrum_matrix

    cases = {
        "complex.npz": ({"matrix": np.ones((4, 6)) * (1 + 1j)}, "must be real"),
        "sigma2d.npz": ({"sigma": np.ones((3, 2))}, "1-D real array"),
        "objects.npz": ({"sigma": np.array([1.0, "x"], dtype=object)}, "Python objects"),
    }
    for name, (arrays, match) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(ValueError, match=match):
            spectrum_matrix(str(tmp_path / name), (8, 8))
    # a header that declares 10¹² float64 entries, with no data behind it
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as z:
        z.writestr("matrix.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
    with pytest.raises(ValueError, match="declares shape"):
        spectrum_matrix(str(tmp_path / "liar.npz"), (8, 8))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not an .npz archive"):
        spectrum_matrix(str(tmp_path / "text.npz"), (8, 8))


def test_response_rejects_what_it_cannot_evaluate():
    from spectral_la.analysis.response import response

    with pytest.raises(ValueError, match="non-negative"):
        response("ns:polar_express", [-1.0], mode="mpmath")  # was f(−1)
    with pytest.raises(ValueError, match="1-D"):
        response("ns:polar_express", [[0.5, 0.2]], mode="matrix")


#: Options that name the same thing; a command may use one spelling of each group, and only the first.
SAME_THING = {
    "storage dtype": ("--storage-dtype", "--storage-dtypes", "--dtype", "--dtypes", "--measured"),
    "compute dtype": ("--compute-dtype", "--compute-dtypes", "--precision"),
    "orthogonaliser": ("--orthogonalize", "--schedule", "--spec", "--method"),
    "input family": ("--spectrum", "--family", "--families"),
    "softening": ("--softening", "--s", "--soften"),
}


def test_every_subcommand_spells_each_option_one_way():
    """Walk every subcommand's options: one spelling per thing across the whole command line."""
    import argparse

    from spectral_la.lab.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    seen = {}
    assert set(sub.choices) >= {"report", "design", "response", "softening", "sweep", "capture", "study"}
    for command, cmd_parser in sub.choices.items():
        for action in cmd_parser._actions:
            for option in action.option_strings:
                for thing, spellings in SAME_THING.items():
                    if option in spellings:
                        allowed = spellings[:2]  # the singular and the plural of the first spelling
                        assert option in allowed, f"spectral-la {command} {option}: {thing} is spelled {allowed[0]}"
                        seen.setdefault(thing, set()).add(option)
            assert (
                len(action.option_strings) <= 1
                or action.option_strings[0].startswith("-")
                and all(not o.startswith("--") for o in action.option_strings[:-1])
            ), f"spectral-la {command}: {action.option_strings} are two spellings of one option"
    assert seen["storage dtype"] and seen["compute dtype"] and seen["input family"] == {"--spectrum"}

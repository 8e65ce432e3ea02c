"""Every public exact reference rejects bad input with an error naming the argument."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch

import spectral_la as sl
from spectral_la import fractional_power, inverse_root, polar, qdwh

CALLS = {
    "polar_svd": lambda x: polar(x),
    "polar_qdwh": lambda x: polar(x, method="qdwh"),
    "polar_zolo": lambda x: polar(x, method="zolo"),
    "qdwh": lambda x: qdwh(x),
    "fractional_power": lambda x: fractional_power(x, 0.5),
}


def _all_calls():
    for name, fn in CALLS.items():
        yield pytest.param(fn, "X", id=name)
    yield pytest.param(lambda a: inverse_root(a, 2), "A", id="inverse_root")


ALL_CALLS = list(_all_calls())


@pytest.mark.parametrize(("fn", "arg"), ALL_CALLS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite(fn, arg, bad):
    x = torch.eye(3, dtype=torch.float64)
    x[1, 1] = bad
    with pytest.raises(ValueError, match=f"{arg} has non-finite"):
        fn(x)
    m = mpmath.eye(3)
    m[0, 0] = mpmath.mpf(bad)
    with pytest.raises(ValueError, match=f"{arg} has non-finite"):
        fn(m)


@pytest.mark.parametrize(("fn", "arg"), ALL_CALLS)
def test_one_dimensional(fn, arg):
    with pytest.raises(ValueError, match=f"{arg} must have at least 2 dimensions"):
        fn(torch.ones(3))


@pytest.mark.parametrize(("fn", "arg"), ALL_CALLS)
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 3, 3)])
def test_empty_dimensions(fn, arg, shape):
    if arg == "A" and shape[-1] != shape[-2]:
        shape = (0, 0)
    with pytest.raises(ValueError, match=f"{arg} has an empty dimension"):
        fn(torch.ones(shape))


@pytest.mark.parametrize(("fn", "arg"), ALL_CALLS)
def test_complex_and_integer(fn, arg):
    with pytest.raises(TypeError, match=f"{arg} must be a real floating-point tensor"):
        fn(torch.eye(3, dtype=torch.complex128))
    with pytest.raises(TypeError, match=f"{arg} must be a real floating-point tensor"):
        fn(torch.eye(3, dtype=torch.int64))
    with pytest.raises(TypeError, match=f"{arg} must be real"):
        fn(mpmath.matrix([[1, 1j], [0, 1]]))


@pytest.mark.parametrize(("fn", "arg"), ALL_CALLS)
def test_unsupported_container(fn, arg):
    with pytest.raises(TypeError, match=f"{arg} must be a real floating-point array"):
        fn(np.eye(3, dtype=np.int64))
    with pytest.raises(TypeError, match=f"{arg} must be a real floating-point array"):
        fn(np.eye(3, dtype=np.complex128))
    with pytest.raises(TypeError, match=f"{arg} must be a torch.Tensor"):
        fn([[1.0, 0.0], [0.0, 1.0]])


def test_errors_name_the_problem():
    """Was: "'int' object is not iterable", an AttributeError, "non-finite entries" for an all-zero spectrum."""

    with pytest.raises(TypeError, match="rows must be a sequence of coefficient rows"):
        sl.Schedule(name="x", rows=5, steps=1, repeat_last=True, interval=(1e-3, 1))
    with pytest.raises(TypeError, match="target must be"):
        sl.design_schedule(5, 3, 1e-3, target_map=None)


def test_empty_or_zero_spectra_are_named(tmp_path):
    import numpy as np

    from spectral_la.analysis.softening import spectrum_matrix

    for name, arrays in (
        ("z.npz", {"sigma": np.zeros(4)}),
        ("e.npz", {"sigma": np.zeros(0)}),
        ("m.npz", {"matrix": np.zeros((3, 5))}),
    ):
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(ValueError, match="is undefined"):
            spectrum_matrix(str(tmp_path / name), (8, 8))


def test_spec_and_schedule_files_are_read_safely(tmp_path):
    """Only regular files: a pipe or a device would block or never end; encodings named; directories named."""
    import os

    from spectral_la.schedule_files import read_json
    from spectral_la.spec import parse_spec

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        parse_spec(str(fifo))
    if os.path.exists("/dev/zero"):
        with pytest.raises(ValueError, match="not a regular file"):
            read_json("/dev/zero")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        parse_spec(str(tmp_path / "dir.json"))
    (tmp_path / "latin.json").write_bytes(b"\xe9{}")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_json(tmp_path / "latin.json")
    (tmp_path / "u16.json").write_bytes('{"kind": "polar"}'.encode("utf-16"))
    assert read_json(tmp_path / "u16.json") == {"kind": "polar"}


def test_zolo_pd_tiny_ell_and_design_huge_safety_are_refused_by_name():
    """Were: ZeroDivisionError (ℓ² underflows) and '(34, Numerical result out of range)'."""
    import torch

    import spectral_la as sl
    from spectral_la.lab.cli import main

    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"ell must lie in \[1e-150, 1\]"):
        sl.zolo_pd(x, ell=1e-300)
    assert sl.zolo_pd(x, ell=1e-150).converged  # the floor itself still converges
    assert main(["design", "--safety", "1e308", "--out", "unused.json"]) != 0

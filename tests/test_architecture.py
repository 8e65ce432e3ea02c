"""The shape of the house (ARCHITECTURE.md): layers import downward, the core's dependencies,
the public API, and one input contract for every scalar map."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import torch

import spectral_la as sl

ROOT = Path(__file__).resolve().parents[1]
#: The layers: each a folder at the repository root, installed as ``spectral_la`` (the core) or
#: ``spectral_la.<folder>`` (through the symlinks ``spectral_la/<folder>``).
LAYERS = {"spectral_la": 0, "analysis": 1, "figures": 2, "benchmarks": 2, "lab": 3}


def _layer(name: str) -> str | None:
    """The layer of an imported module name (``spectral_la.analysis.x`` → ``analysis``), None outside ours."""
    parts = name.split(".")
    if parts[0] != "spectral_la":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "spectral_la"


def test_imports_run_downward_only():
    upward = []
    for package, level in LAYERS.items():
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    layer = _layer(name)
                    if layer is not None and layer != package and LAYERS[layer] >= level:
                        upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert upward == []


def test_one_import_name_installed():
    """The layers' folders install under ``spectral_la`` (symlinks), nothing generic at the top level."""
    for layer in LAYERS.keys() - {"spectral_la"}:
        link = ROOT / "spectral_la" / layer
        assert link.is_symlink() and link.resolve() == (ROOT / layer).resolve(), layer
    code = (
        "import importlib.util as u; print([m for m in ('analysis', 'lab', 'figures', 'benchmarks') if u.find_spec(m)])"
    )
    # outside the checkout (whose root is on sys.path when Python runs from it), none of the names exists
    out = subprocess.run([sys.executable, "-I", "-c", code], check=True, capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == "[]"


def test_core_imports_without_the_extras():
    code = (
        "import sys\n"
        "for m in ('flint', 'scipy', 'matplotlib', 'jax'): sys.modules[m] = None\n"
        "import mpmath, torch, spectral_la as sl\n"
        "assert sl.polar(mpmath.matrix([[1, 2], [3, 4]]))[0, 1] > 0\n"
        "sl.newton_schulz(torch.randn(3, 4))\n"
        "try:\n    sl.certify('jordan_ns5')\nexcept ImportError as e:\n    assert 'cert' in str(e)\n"
        "else:\n    raise SystemExit('certify ran without python-flint')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_public_api_is_exactly_all():
    public = {name for name in dir(sl) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(sl, name)).__name__ == "module"}
    assert public - modules == set(sl.__all__)
    assert {"design_schedule", "certify", "msign", "normalize"} <= set(sl.__all__)


def test_no_cross_module_private_imports():
    private = []
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                ours = isinstance(node, ast.ImportFrom) and node.module and _layer(node.module) is not None
                if ours and node.level == 0:  # (a benchmark may call a peer's private function: that is the peer)
                    private += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert private == []


SIGMAS = [
    torch.tensor([0.1, 0.5, 0.6], dtype=torch.float64),
    np.array([0.1, 0.5, 0.6]),
    [mpmath.mpf("0.1"), mpmath.mpf("0.5"), mpmath.mpf("0.6")],
    [0.1, 0.5, 0.6],
]
MAPS = {
    "scalar_map": lambda s: sl.scalar_map("polar_express", s),
    "muon_p_scalar_map": lambda s: sl.muon_p_scalar_map(0.5, s, check_range=False),
    "soften_scalar_map": lambda s: sl.soften_scalar_map("polar_express", s, 0.3),
    "soften_target_map": lambda s: sl.soften_target_map(s, 0.3),
}


@pytest.mark.parametrize("name", list(MAPS))
def test_every_scalar_map_takes_every_kind_of_sigma(name):
    # Was: muon_p_scalar_map(0.5, mpf('0.5')) raised, soften_scalar_map(name, [mpf], 0.3) raised.
    fn = MAPS[name]
    outs = [fn(s) for s in SIGMAS]
    assert isinstance(outs[0], torch.Tensor) and isinstance(outs[1], np.ndarray) and isinstance(outs[2], list)
    ref = [float(v) for v in outs[2]]
    for out in outs:
        assert [float(v) for v in (out.tolist() if hasattr(out, "tolist") else out)] == pytest.approx(ref, rel=1e-12)
    single = fn(mpmath.mpf("0.5"))
    assert isinstance(single, mpmath.mpf) and float(single) == pytest.approx(ref[1], rel=1e-12)


def test_scalar_maps_validate_steps_the_same_way():
    # Was: muon_p_scalar_map(0.5, [0.5], steps=-1) silently returned [0.5].
    for fn in (lambda: sl.muon_p_scalar_map(0.5, [0.5], steps=-1), lambda: sl.scalar_map("jordan_ns5", [0.5], -1)):
        with pytest.raises(ValueError, match="steps"):
            fn()
    with pytest.raises(ValueError, match="empty"):
        sl.scalar_map("jordan_ns5", [])
    with pytest.raises(TypeError, match="sigma"):
        sl.scalar_map("jordan_ns5", ["0.5"])


def test_the_analysis_methods_do_not_branch_on_the_kind_of_number():
    # Scalar maps, targets and exact maps of analysis.methods go through the backend (sigma_batch,
    # spectral_la.normalize), so one expression serves torch, NumPy and mpmath.
    source = (ROOT / "analysis" / "methods.py").read_text()
    assert "isinstance(" not in source.replace("isinstance(spec, Method)", "")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] != "spectral_la":
        parts.insert(0, "spectral_la")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph(package: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports, at the top or inside a function."""
    mods = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    head = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(head + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            edges[m] |= {t for t in targets if t in mods and t != m}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("package", list(LAYERS))
def test_no_import_cycle_inside_a_package(package):
    """Was hidden by imports inside functions: real_states → schedule_response → schedule_ranking →
    real_states, and stability ⇄ sweeps."""
    assert _cycles(_import_graph(package)) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: Modules that may ask which kind of number they hold: the backend itself, the edges that only
#: exist for one kind (the optimizer and its dtypes: torch; the mpmath kernels), the argument
#: checks and the user-facing helpers, and the exact maps whose torch path has its own derivative.
KIND_TESTS_ALLOWED = {
    "spectral_la/backend.py",
    "spectral_la/backend_torch.py",
    "spectral_la/backend_mpmath.py",
    "spectral_la/mp_kernels.py",
    "spectral_la/validation.py",
    "spectral_la/testing.py",
    "spectral_la/optim/",  # the optimizers: torch by definition
    "spectral_la/dtypes.py",
    "spectral_la/fractional_power.py",  # torch: autograd.Function with the Daleckii–Krein derivative
    "spectral_la/inverse_root.py",  # idem
    "spectral_la/polar.py",  # idem (the QDWH route's derivative)
    "analysis/low_precision.py",  # dtype experiments: torch tensors by definition (fp8 emulation, compute dtypes)
}
_KINDS = {"Tensor", "ndarray", "matrix", "mpf", "MpArray"}


def test_no_algorithm_asks_which_kind_of_number_it_holds():
    offenders = []
    for package in ("spectral_la", "analysis"):
        for path in (ROOT / package).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            if rel in KIND_TESTS_ALLOWED or rel.startswith("spectral_la/optim/"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                    kinds = node.args[1]
                    names = {getattr(n, "attr", getattr(n, "id", None)) for n in ast.walk(kinds)}
                    if names & _KINDS:
                        offenders.append(f"{rel}:{node.lineno}")
                if isinstance(node, ast.Compare) and getattr(node.left, "attr", None) == "kind":
                    consts = {getattr(c, "value", None) for c in node.comparators}
                    if consts & {"torch", "mpmath"}:
                        offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_the_wheel_holds_one_top_level_package(tmp_path):
    """The built wheel holds ``spectral_la/`` (the layers inside it, as files) and its metadata, nothing else."""
    import shutil
    import zipfile

    src = tmp_path / "src"
    for name in ("spectral_la", *(layer for layer in LAYERS if layer != "spectral_la")):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "out"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(src),
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(tmp_path),
    ]
    subprocess.run(cmd, check=True, capture_output=True, cwd=src)
    (wheel,) = tmp_path.glob("spectral_la-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"spectral_la", wheel.name.split("-py")[0] + ".dist-info"}
    for layer in LAYERS.keys() - {"spectral_la"}:
        assert f"spectral_la/{layer}/__init__.py" in names, layer
    assert "spectral_la/__init__.pyi" in names


def test_the_first_product_imports_nothing_heavy():
    """No first-call tax: a Newton–Schulz call (its scalar-map check included) on a fresh process imports
    sympy (torch.broadcast_shapes's first call did, through torch.fx: ~0.5 s), and loads no BLAS library
    for a product too small to use it."""
    import subprocess
    import sys

    code = (
        "import sys, torch, spectral_la as sl\n"
        "x = torch.randn(64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))\n"
        "sl.newton_schulz(x); sl.newton_schulz(x[None].expand(2, 64, 64))\n"
        "from spectral_la.symmetric_products import _mkl_syrk\n"
        "print('sympy' in sys.modules, _mkl_syrk.cache_info().currsize)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "0"], out

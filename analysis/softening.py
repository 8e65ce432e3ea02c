"""Soft-Muon: the claimed closed form against the real finite-step blend.

For X with singular values σᵢ and ρᵢ = σᵢ/‖X‖_F, soften(X, s) has singular
values (1 − s)·f(ρᵢ/c) + s·ρᵢ (f the schedule's map, c its normalisation
scale), while the Soft-Muon proposal (microsoft/dion PR #92) claims (1 − s) + s·ρᵢ (the blend with
the exact polar factor). :func:`softening_deviation` measures the gap on real
matrices, per soften spec (``soften:<s>:<schedule>``), size and spectrum family, in three metrics:

* ``max_rel``: maxᵢ |measured_i − claimed_i| / claimed_i (worst singular value);
* ``fro_rel``: ‖soften(X) − [(1 − s)UVᵀ + sX/‖X‖_F]‖_F / ‖(1 − s)UVᵀ + sX/‖X‖_F‖_F;
* ``mean_rel``: the mean over i of the per-σ relative gap;

and ``f_range``: [min f, max f] over the matrix's own ρᵢ/c (the "keeps f in
~[0.85, 1.15]" part of the claim). Inputs are the families of
:data:`spectral_la.analysis.spectra.FAMILIES`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import spectral_la as sl
from spectral_la.analysis.spectra import FAMILIES, family_matrix, torch_matrix_with_spectrum
from spectral_la.dtypes import parse_dtype, precision_label, store
from spectral_la.spec import SoftenSpec, Spec, parse_spec
from spectral_la.validation import check_finite

__all__ = [
    "DEFAULT_SPECS",
    "closed_form_gap",
    "measure_softening",
    "soften_specs",
    "softening_deviation",
    "spectrum_matrix",
]


#: The Soft-Muon specs the analysis draws by default (s = 0.5 with the two most used schedules).
DEFAULT_SPECS = ("soften:0.5:polar_express", "soften:0.5:jordan_ns5")


def soften_specs(values: Any, what: str = "specs") -> list[SoftenSpec]:
    """The :class:`~spectral_la.spec.SoftenSpec` of each value (a spec string, JSON object or spec).

    Softening is one spec, ``soften:<s>:<schedule>[:<steps>][:normalize=…]``: the strength and
    the inner Newton–Schulz travel together. Any other kind is refused with that spelling.
    """
    if isinstance(values, (str, dict, Spec)):
        values = [values]
    out = []
    for v in values:
        spec = parse_spec(v)
        if not isinstance(spec, SoftenSpec):
            inner = str(spec).removeprefix("ns:") if spec.kind == "ns" else "polar_express"
            raise ValueError(
                f"{what}: {str(v)!r} is a {spec.kind} spec; softening takes "
                f"soften:<s>:<schedule>[:<steps>][:normalize=…], e.g. soften:0.5:{inner}"
            )
        out.append(spec)
    if not out:
        raise ValueError(f"{what}: give at least one soften spec, e.g. {DEFAULT_SPECS[0]}")
    return out


def softening_deviation(
    specs: Any = DEFAULT_SPECS,
    sizes=((256, 256), (256, 1024)),
    families=tuple(FAMILIES),
    *,
    storage_dtype=torch.float32,
    compute_dtype=None,
    device="cpu",
    seed: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Tidy rows of the closed-form vs finite-step gap (module docstring), per spec × family × size."""
    parsed = soften_specs(specs)
    rows = []
    jobs = [(fam, size) for fam in families for size in sizes]
    for fam, (m, n) in tqdm(jobs, desc="softening deviation", disable=not progress):
        x = family_matrix(fam, m, n, seed)
        rows += measure_softening(
            parsed, x, storage_dtype=storage_dtype, compute_dtype=compute_dtype, device=device, family=fam
        )
    order = [str(p) for p in parsed]
    rows.sort(key=lambda r: order.index(r["spec"]))  # per spec, then family and size (a stable sort)
    return rows


def measure_softening(
    specs: Any,
    x: torch.Tensor,
    *,
    storage_dtype=torch.float32,
    compute_dtype=None,
    device="cpu",
    family: str = "custom",
) -> list[dict]:
    """Rows of the closed-form vs finite-step gap on one matrix (module docstring's metrics), one per spec.

    ``specs``: one soften spec or several (``"soften:0.5:polar_express"``); ``x``: a real 2-D tensor
    (any float dtype: the reference SVD and the claimed map run in float64); ``storage_dtype`` is
    the dtype X is rounded to before the blend, ``compute_dtype`` the one the blend runs in (None:
    the backend's default). Each row names its spec, schedule, s, family, shape and precision.
    """
    parsed = soften_specs(specs)
    storage_dtype = parse_dtype(storage_dtype, "storage_dtype")
    compute_dtype = parse_dtype(compute_dtype, "compute_dtype", allow_none=True)
    if not torch.is_tensor(x) or not x.is_floating_point() or x.ndim != 2:
        raise TypeError(f"x must be a real floating 2-D tensor, got {type(x).__name__} {getattr(x, 'dtype', '')}")
    check_finite(bool(torch.isfinite(x).all()), "x")
    x64 = x.detach().double().cpu()  # the reference (SVD, claimed map) in float64, whatever X is stored in
    if not bool((x64 != 0).any()):
        raise ValueError("x is zero, where ρ = σ/‖X‖_F (the closed form's variable) is undefined")
    sig = torch.linalg.svdvals(x64)
    rho = sig / torch.linalg.matrix_norm(x64)
    xs = store(x64, storage_dtype, "x", "scale X or pass storage_dtype='fp64'").to(device)
    m, n = x64.shape
    rows = []
    for spec in parsed:
        inner = spec.inner
        f = inner.scalar_map(rho / inner.normalization.scale)
        y = spec(xs, compute_dtype=compute_dtype).double().cpu()
        rows.append(
            {
                "spec": str(spec),
                "schedule": inner.schedule_name,
                "family": family,
                "shape": f"{m}x{n}",
                "precision": precision_label(storage_dtype, compute_dtype),
                "s": spec.s,
                "f_min": float(f.min()),
                "f_max": float(f.max()),
                **closed_form_gap(x64, y, spec.s),
            }
        )
    return rows


def closed_form_gap(x64: torch.Tensor, y: torch.Tensor, s: float) -> dict[str, float]:
    """How far Y is from Soft-Muon's closed form on X (both float64, m × n; module docstring's metrics).

    With X = U diag(σ) Vᵀ and ρᵢ = σᵢ/‖X‖_F, the claimed singular values are (1 − s) + s·ρᵢ and the
    claimed matrix (1 − s)·UVᵀ + s·X/‖X‖_F: ``max_rel`` and ``mean_rel`` compare Y's values on X's
    singular vectors (uᵢᵀ Y vᵢ) with the claim, ``fro_rel`` the matrices.
    """
    u, sig, vh = torch.linalg.svd(x64, full_matrices=False)
    fro = torch.linalg.matrix_norm(x64)
    y = y.double().cpu()
    measured = torch.diagonal(u.T @ y @ vh.T)
    claimed = sl.soften_target_map(sig / fro, s)
    claimed_matrix = (1 - s) * (u @ vh) + s * x64 / fro
    gap = (measured - claimed).abs() / claimed
    return {
        "max_rel": float(gap.max()),
        "mean_rel": float(gap.mean()),
        "fro_rel": float(torch.linalg.matrix_norm(y - claimed_matrix) / torch.linalg.matrix_norm(claimed_matrix)),
    }


#: Largest array a spectrum file may hold (bytes, from its header, before anything is read).
MAX_NPZ_BYTES = 1 << 30


def load_npz_checked(path, keys, max_bytes: int = MAX_NPZ_BYTES) -> dict:
    """The arrays ``keys`` of an ``.npz`` file, each size-checked from its header before it is read.

    A member's header states its shape and dtype; one whose shape × itemsize exceeds ``max_bytes``
    (a zip bomb, a lying header) is refused with an error naming the file and the field, and
    pickled object arrays are never loaded.
    """
    import zipfile
    import zlib

    path = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ValueError(f"spectrum file {path!r} does not exist") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        raise ValueError(f"spectrum file {path!r} is not an .npz archive") from None
    out = {}
    with archive:
        for key in keys:
            if f"{key}.npy" in archive.namelist():
                try:
                    out[key] = _read_member(archive, f"{key}.npy", path, key, max_bytes)
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
                    # a damaged archive fails inside the zip layer in any of these ways
                    raise ValueError(f"spectrum file {path!r}: field {key!r} is damaged ({exc})") from None
    return out


def _read_member(archive, name: str, path: str, key: str, max_bytes: int) -> np.ndarray:
    """One array of an open archive, its header checked before its data is read."""
    with archive.open(name) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(fh)
        except ValueError as exc:
            raise ValueError(f"spectrum file {path!r}: field {key!r}: no valid array header ({exc})") from None
    if dtype.hasobject:
        raise ValueError(f"spectrum file {path!r}: field {key!r} holds Python objects; expected numbers")
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > max_bytes:
        raise ValueError(
            f"spectrum file {path!r}: field {key!r} declares shape {shape} of {dtype} ({size} bytes), "
            f"more than the {max_bytes} a spectrum may hold"
        )
    with archive.open(name) as fh:
        try:
            return np.lib.format.read_array(fh, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"spectrum file {path!r}: field {key!r} is damaged ({exc})") from None


def capture_members(path: str) -> list[str]:
    """The full matrices a capture file holds, as ``<parameter>/<kind>/<step>`` (empty for other files)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except FileNotFoundError:
        raise ValueError(f"spectrum file {path!r} does not exist") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        raise ValueError(f"spectrum file {path!r} is not an .npz archive") from None
    return [n[len("matrix/") : -len(".npy")] for n in names if n.startswith("matrix/") and n.endswith(".npy")]


def _captured_matrix(path: str, member: str, members: list[str]) -> torch.Tensor:
    listing = ", ".join(members[:6]) + (f", … ({len(members)} in all)" if len(members) > 6 else "")
    if not members:
        raise ValueError(f"spectrum file {path!r} holds no captured matrices (capture with full=True)")
    if member not in members:
        what = "a capture file" if not member else f"no matrix {member!r}"
        raise ValueError(
            f"spectrum file {path!r} is {what}: pick one as {path}#<parameter>/<kind>/<step>, from {listing}"
        )
    raw = load_npz_checked(path, (f"matrix/{member}",))[f"matrix/{member}"]
    x = torch.from_numpy(np.asarray(raw, dtype=np.float64))
    if x.ndim != 2 or not bool(torch.isfinite(x).all()) or not bool((x != 0).any()):
        raise ValueError(f"spectrum file {path!r}: {member} must be a finite, non-zero 2-D array")
    return x


def spectrum_matrix(spectrum: str, shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """A float64 matrix for a spectrum: a family name, a ``.npz`` file holding ``matrix`` (2-D) or
    ``sigma``, or a capture file (``spectral-la capture``, :class:`spectral_la.optim.Capture` with full
    matrices) with the matrix picked as ``FILE.npz#<parameter>/<kind>/<step>``.

    ``sigma`` (a user's singular values, length ≤ min(m, n); padded with zeros) gets Haar-like
    singular vectors; ``matrix`` is used as it is (``shape`` is then ignored).
    """
    if spectrum in FAMILIES:
        return family_matrix(spectrum, *shape, seed)
    path, _, member = str(spectrum).partition("#")
    if not path.endswith(".npz"):
        raise ValueError(f"spectrum must be one of {FAMILIES} or a .npz file, got {spectrum!r}")
    captured = capture_members(path)
    if captured or member:
        return _captured_matrix(path, member, captured)
    data = load_npz_checked(spectrum, ("matrix", "sigma"))
    if "matrix" in data:
        raw = data["matrix"]
        if raw.dtype.kind not in "fiu":
            raise ValueError(f"spectrum file {spectrum!r}: 'matrix' must be real, got dtype {raw.dtype}")
        x = torch.from_numpy(np.asarray(raw, dtype=np.float64))
        if x.ndim != 2 or not bool(torch.isfinite(x).all()):
            raise ValueError(f"spectrum file {spectrum!r}: 'matrix' must be a finite 2-D array")
        if not bool((x != 0).any()):
            raise ValueError(f"spectrum file {spectrum!r}: 'matrix' is zero, where ρ = σ/‖X‖_F is undefined")
        return x
    if "sigma" in data:
        raw = data["sigma"]
        if raw.dtype.kind not in "fiu" or raw.ndim != 1:
            raise ValueError(
                f"spectrum file {spectrum!r}: 'sigma' must be a 1-D real array, got dtype {raw.dtype}, "
                f"shape {raw.shape}"
            )
        sigma = np.asarray(raw, dtype=np.float64)
        if not (sigma > 0).any():
            raise ValueError(
                f"spectrum file {spectrum!r}: 'sigma' is empty or all zero, where ρ = σ/‖X‖_F is undefined"
            )
        m, n = shape
        if len(sigma) > min(m, n) or not np.isfinite(sigma).all() or (sigma < 0).any():
            raise ValueError(
                f"spectrum file {spectrum!r}: 'sigma' must hold ≤ min(shape) = {min(m, n)} finite values ≥ 0"
            )
        padded = torch.zeros(min(m, n), dtype=torch.float64)
        padded[: len(sigma)] = torch.from_numpy(np.sort(sigma)[::-1].copy())
        return torch_matrix_with_spectrum(m, n, padded, seed=seed)
    raise ValueError(f"spectrum file {spectrum!r} holds neither 'matrix' nor 'sigma'")

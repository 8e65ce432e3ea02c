"""Capture: what a training run's optimizer sees, recorded at chosen steps.

Gradient, momentum and update of named 2-D parameters: singular values always (float64), full
matrices optionally, saved with the settings that reproduce them in one ``.npz`` file. Every
optimizer of :mod:`spectral_la.optim` takes one (``capture=``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spectral_la.atomic_files import atomic_path
from spectral_la.validation import check_int

__all__ = ["Capture"]


class Capture:
    """Record gradient / momentum / update of named parameters at chosen steps (module docstring).

    Parameters
    ----------
    named_parameters : iterable of (name, tensor)
        Usually ``model.named_parameters()``; only 2-D parameters are recorded.
    steps : iterable of int
        Optimizer steps (1-based) to record at.
    kinds : subset of ("grad", "momentum", "update")
    full : bool or iterable of int
        Also keep the full matrices (float32), not only their singular values: at every
        captured step (True) or at the given steps only.
    """

    KINDS = ("grad", "momentum", "update")

    def __init__(self, named_parameters: Iterable, steps: Iterable[int], kinds=KINDS, *, full=False):
        self.names = {id(p): name for name, p in named_parameters}
        self.steps = {check_int(s, "steps", 1, 10**9) for s in steps}
        bad = [k for k in kinds if k not in self.KINDS]
        if bad:
            raise ValueError(f"kinds must be among {self.KINDS}, got {bad}")
        self.kinds = tuple(kinds)
        self.full = full if isinstance(full, bool) else {check_int(s, "full", 1, 10**9) for s in full}
        self.arrays: dict[str, np.ndarray] = {}
        self.meta: dict[str, Any] = {}

    def wants(self, step: int) -> bool:
        return step in self.steps

    def record(self, step: int, param: torch.Tensor, kind: str, matrix: torch.Tensor) -> None:
        if kind not in self.kinds or id(param) not in self.names:
            return
        name = self.names[id(param)]
        m = matrix.detach().double().cpu()
        self.arrays[f"sv/{name}/{kind}/{step}"] = torch.linalg.svdvals(m).numpy()
        if self.full is True or (not isinstance(self.full, bool) and step in self.full):
            self.arrays[f"matrix/{name}/{kind}/{step}"] = m.float().numpy()

    def save(self, path: str | Path, **meta: Any) -> Path:
        """Write every record and the metadata (``meta`` plus the optimizer settings) to ``path`` (.npz)."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            meta_text = json.dumps({**self.meta, **meta}, default=str)
            arrays: dict[str, Any] = {"__meta__": np.array(meta_text), **self.arrays}
            np.savez_compressed(fh, **arrays)
        return path

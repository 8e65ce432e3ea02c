"""First-call cost of newton_schulz against its second call, in fresh processes (#38 item 4).

Run: ``.venv/bin/python -m spectral_la.benchmarks.first_call``. Each case starts a new Python
process, warms torch's own kernels with a plain product chain (so the ratio is ours, not torch's
first dispatch), then times the first and second ``newton_schulz`` call on the same input.
"""

from __future__ import annotations

import subprocess
import sys

CASE = """
import time, torch, mpmath, numpy as np
from spectral_la import newton_schulz
x = torch.randn(64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
_ = (x @ x, torch.addmm(x, x, x), torch.linalg.matrix_norm(x), torch.isfinite(x).all())
if {mp}:
    mpmath.mp.dps = 50
    x = mpmath.matrix(np.random.default_rng(0).standard_normal((64, 64)).tolist())
t = []
for _ in range(2):
    t0 = time.perf_counter(); newton_schulz(x); t.append(time.perf_counter() - t0)
print(t[0], t[1])
"""


def main() -> None:
    for label, mp in (("64x64 fp64", False), ("64x64 at 50 digits", True)):
        out = subprocess.run([sys.executable, "-c", CASE.format(mp=mp)], capture_output=True, text=True, check=True)
        first, second = map(float, out.stdout.split())
        print(f"{label}: first {first * 1e3:.2f} ms, second {second * 1e3:.2f} ms, ratio {first / second:.2f}")


if __name__ == "__main__":
    main()

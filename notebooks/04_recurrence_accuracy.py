# %% [markdown]
# # Pinning the accuracy of matmul-only recurrences
# Muon^p's published bivariate recurrences and the coupled inverse root, against the exact
# references, and the golden tables that keep a refactor from losing digits.

# %%
import json
from pathlib import Path

import torch

import spectral_la as sl

x = torch.randn(32, 96, dtype=torch.float64)
x0 = x / (torch.linalg.matrix_norm(x) + 1e-7)
for p in (1 / 3, 1 / 5, 3 / 5):
    err = (sl.muon_p(x, p) - sl.fractional_power(x0, p)).abs().max()
    print(f"p = {p:.3f}: bivariate max error {err:.3f}")
print(
    "coupled route, p = 0.5:", float((sl.muon_p(x, 0.5, method="coupled") - sl.fractional_power(x0, 0.5)).abs().max())
)

# %%
a = x @ x.T
res = sl.coupled_inverse_root(a, 4)
print(res.iterations, res.converged, float((res.root - sl.inverse_root(a, 4)).abs().max()))

# %% [markdown]
# The golden tables in tests/golden were written by an independent mpmath script:

# %%
golden_path = Path("tests/golden/recurrences.json")
if golden_path.exists():
    golden = json.loads(golden_path.read_text())
    row = next(r for r in golden["muon_p"] if r["p"] == "1/3" and r["steps"] == 6)
    print("golden error at sigma-hat = 0.1:", row["error"][2])

# %% [markdown]
# Pin your own recurrence the same way with `spectral_la.testing` (see the README), and look at
# the published recurrences' error against σ̂^p:

# %%
from spectral_la.figures.response_plot import plot_response

fig, _ = plot_response(["muon_p:1/3", "muon_p:1/5", "muon_p:3/5"], sigma_range=(1e-3, 1.0), certified=False)
Path("figures/out").mkdir(parents=True, exist_ok=True)
fig.savefig("figures/out/notebook_recurrences.png")  # shown inline in Jupyter, saved when run as a script

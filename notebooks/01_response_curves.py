# %% [markdown]
# # Response curves of Newton–Schulz schedules
# How does each schedule map singular values? We compare the scalar map f(σ) (computed by
# the iteration itself on 1×1 matrices) with the measured response of a real matrix, and
# look at a schedule's certified worst error. Open with `jupytext --to notebook` or run as a script.

# %%
import torch

import spectral_la as sl
from spectral_la.analysis.response import response

sigma = torch.logspace(-3, 0, 7, dtype=torch.float64)
for name in ("jordan_ns5", "polar_express", "you_ns6"):
    print(name, [round(v, 3) for v in sl.scalar_map(name, sigma).tolist()])

# %% [markdown]
# The measured response u_iᵀ NS(X) v_i on X = U diag(σ) Vᵀ agrees with the prediction
# f(σ̂_i) to rounding; "target" is what the exact msign (U_r V_rᵀ, the iterations' limit) would give.

# %%
rows = response("ns:polar_express", torch.logspace(0, -3, 16), mode="matrix", dtype=torch.float32)
worst = max(abs(r["measured"] - r["predicted"]) for r in rows)
print(f"max |measured - predicted| in float32: {worst:.2e}")
assert worst < 1e-3

# %% [markdown]
# A certified bound (ball arithmetic) on the worst error over the design interval:

# %%
from spectral_la.certify import certify

bound = certify("polar_express")
print(f"max |1 - f| on [1e-3, 1] <= {bound.upper:.6f} (attained >= {bound.estimate:.6f})")

# %% [markdown]
# The picture: f(σ) with its target and |f − target| on log axes, certified bounds shaded,
# and the measured bf16 response of a 64×64 matrix as dots (`spectral-la response` draws the same).

# %%
from pathlib import Path

from spectral_la.figures.response_plot import plot_response

fig, _ = plot_response(["polar_express", "jordan_ns5", "you_ns6"], storage_dtype="bf16", compute_dtype="bf16")
Path("figures/out").mkdir(parents=True, exist_ok=True)
fig.savefig("figures/out/notebook_response.png")  # shown inline in Jupyter, saved when run as a script

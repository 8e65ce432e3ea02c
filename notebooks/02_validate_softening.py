# %% [markdown]
# # Validating the Soft-Muon closed form
# The Soft-Muon proposal (microsoft/dion PR #92) claims that softening maps σ to (1 − s) + sσ/‖X‖_F. The real
# finite-step blend gives (1 − s)·f(σ/(c‖X‖_F)) + sσ/‖X‖_F. How far apart are they?

# %%
import torch

import spectral_la as sl
from spectral_la.analysis.softening import softening_deviation

rho = torch.tensor([0.001, 0.01, 0.1, 0.5], dtype=torch.float64)
print("claimed :", sl.soften_target_map(rho, 0.5).tolist())
print("actual  :", sl.soften_scalar_map("polar_express", rho, 0.5).tolist())

# %%
rows = softening_deviation("soften:0.5:polar_express", sizes=((64, 256),), progress=False)
for r in rows:
    print(
        f"{r['family']:9s} f in [{r['f_min']:.3f}, {r['f_max']:.3f}]  worst σ {r['max_rel']:.1%}  "
        f"mean {r['mean_rel']:.1%}  Frobenius {r['fro_rel']:.1%}"
    )

# %% [markdown]
# s = 0 must be bit-identical to plain Newton–Schulz:

# %%
x = torch.randn(32, 64, generator=torch.Generator().manual_seed(0))
assert torch.equal(sl.soften(x, 0.0), sl.newton_schulz(x))

# %% [markdown]
# The picture (`spectral-la softening` draws the same for any spectrum or your own .npz):

# %%
from pathlib import Path

from spectral_la.analysis.softening import spectrum_matrix
from spectral_la.figures.softening import plot_softening

fig, _ = plot_softening(("soften:0.5:polar_express", "soften:0.5:jordan_ns5"), spectrum_matrix("low_rank", (64, 256)))
Path("figures/out").mkdir(parents=True, exist_ok=True)
fig.savefig("figures/out/notebook_softening.png")  # shown inline in Jupyter, saved when run as a script

# %% [markdown]
# # Softening across the four optimizers of the Soft-Muon proposal
# Muon, NorMuon, Dion2 and NorDion2 (`spectral_la.optim`) all take `softening=s`. The closed form
# (1 − s) + sσᵢ/‖X‖_F describes what the orthogonaliser returns for the matrix X it sees; what each
# optimizer applies to its weights is another matter. This notebook runs each on a toy quadratic (one
# seed: a smoke test that they train, not a verdict on which is better), then asks where the closed form
# holds.

# %%
import torch

from spectral_la.optim import OPTIMIZERS

gen = torch.Generator().manual_seed(0)
target = torch.randn(32, 64, generator=gen)
for name, cls in OPTIMIZERS.items():
    w = torch.nn.Parameter(torch.zeros(32, 64))
    opt = cls([w], lr=0.05, softening="linear:0:0.5:50", compute_dtype="fp32")  # s(t): more softening later
    for _ in range(50):
        loss = 0.5 * (w - target).square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"{name:9s} final loss {float(loss.detach()):8.2f}  (from {0.5 * float(target.square().sum()):.2f})")

# %% [markdown]
# Where the closed form holds: at the orthogonaliser's output (`ns_output`) for all four (the selected
# submatrix with its own norm for Dion2/NorDion2), and for the applied update only for Muon. Where it
# cannot hold, the row says so (`closed_form_applies` False) and gives only `departure_fro`.

# %%
from spectral_la.analysis.optimizer_softening import optimizer_relations, optimizer_softening, per_optimizer

rows = optimizer_softening(s_values=(0.5,), sizes=((16, 48), (48, 16)), specs=("ns:polar_express",), progress=False)
for r in per_optimizer(rows):
    print(
        f"{r['optimizer']:9s} {r['inputs']:9s} claim at NS output {r['claim_mean_rel_median']:.1%}  "
        f"applied: closed form applies={r['applied_closed_form_applies']}, "
        f"departure {r['applied_departure_fro_median']:.1%}"
    )

# %% [markdown]
# Two pairs coincide in exact arithmetic (Dion2 with f = 1 and Muon without Nesterov; NorDion2 with f = 1 and
# NorMuon); with f < 1 they part:

# %%
for r in optimizer_relations(shape=(16, 48), steps=3):
    print(f"{r['pair']:36s} exact={r['coincide_in_exact_arithmetic']!s:5s} median rel. diff {r['rel_diff_median']:.2e}")

# %% [markdown]
# NorMuon's premise, non-uniform row norms of Muon's update: the polar factor of a wide matrix has
# orthonormal rows, so the spread shows up mostly for tall matrices.

# %%
for r in rows:
    if r["optimizer"] == "muon" and r["where"] == "applied":
        print(f"{r['family']:9s} {r['shape']:6s} row-norm CV {r['row_cv']:.3f}, max/min {r['row_max_min']:.2f}")

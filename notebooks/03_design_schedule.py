# %% [markdown]
# # Designing a schedule (Polar Express construction)
# Greedy minimax design of degree-5 polynomials for [ℓ, 1], its certified error, and
# registering it for use in `newton_schulz`.

# %%
from pathlib import Path

import torch

import spectral_la as sl
from spectral_la.certify import certify
from spectral_la.design import design_schedule

res = design_schedule(5, 4, 1e-2, safety=1.01, name="my_schedule_d5_t4")
for row in res.schedule.rows:
    print([round(c, 6) for c in row])
print("worst error of the exact design:", float(res.worst_error))

# %%
bound = certify(res.schedule)
print(f"certified max |1 - f| on [1e-2, 1] <= {bound.upper:.5f}; max f on [1, 1.01] <= {bound.overshoot:.4f}")

# %%
if "my_schedule_d5_t4" not in sl.schedules:
    sl.schedules.register(res.schedule)
y = sl.newton_schulz(torch.randn(16, 64, dtype=torch.float64), "my_schedule_d5_t4")
print("singular values of the result:", torch.linalg.svdvals(y)[[0, -1]].tolist())

# %% [markdown]
# Its response next to Polar Express's, certified bands shaded (`spectral-la response` from the
# saved JSON draws the same):

# %%
from spectral_la.figures.response_plot import plot_response

fig, _ = plot_response(["my_schedule_d5_t4", "polar_express"], sigma_range=(1e-3, 1.05))
Path("figures/out").mkdir(parents=True, exist_ok=True)
fig.savefig("figures/out/notebook_design.png")  # shown inline in Jupyter, saved when run as a script

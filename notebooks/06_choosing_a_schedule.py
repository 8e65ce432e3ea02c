# %% [markdown]
# # Choosing a schedule for your optimizer
# Every Newton–Schulz coefficient set in public optimizer code is registered with its source
# (`spectral_la.schedules`) and reproduces that source bit for bit. This notebook puts them side by
# side the way a person choosing one needs: how accurate each is on one interval at equal cost
# (certified, not sampled), where each one really works, what happens just above σ̂ = 1 (where bf16
# rounding puts singular values), and what the AOL-rescaled variants converge to.

# %%
import torch

import spectral_la as sl
from spectral_la.analysis.schedule_ranking import aol_comparison, certified_ranking
from spectral_la.analysis.schedule_response import effective_intervals, schedule_bands
from spectral_la.analysis.tables import markdown_table

# %% [markdown]
# ## One interval, equal cost
# Certified worst |1 − f| on [1e-3, 1] at each schedule's own step count, and at a budget of 12
# matrix products (4 quintic steps, 6 cubic ones).

# %%
print(markdown_table(certified_ranking(interval=(1e-3, 1.0), budget=12)))

# %% [markdown]
# ## Where each one works, and what it does just above 1
# `which` says whether the interval is the one the source states or the measured effective one.
# `min_f_on_[u,1.01u]` below 0 means a direction turned round; `max_f_on_[u,1.01u]` far above 1
# means no safety margin (Emerging-Optimizers' `cans`, the unscaled Polar Express table).

# %%
print(markdown_table(schedule_bands(points=401)))
print(markdown_table(effective_intervals(["polar_express", "eo_cans", "dion_ns5", "eo_cubic5", "eo_deepseekv4"])))

# %% [markdown]
# ## The peers' own code, bit for bit
# `torch_muon` is `torch.optim.Muon`'s Newton–Schulz (same bits in bf16); the modded-nanogpt / dion
# Polar Express rows are the Polar Express construction with its 1.02 safety *inside* the recurrence
# and a 0.02 cushion, which `design_schedule` now reproduces to the table's 16 digits.

# %%
from torch.optim._muon import _zeropower_via_newtonschulz

x = torch.randn(64, 256, generator=torch.Generator().manual_seed(0))
theirs = _zeropower_via_newtonschulz(x, (3.4445, -4.7750, 2.0315), 5, 1e-7)
print(
    "bit-identical to torch.optim.Muon:",
    torch.equal(sl.newton_schulz(x, "torch_muon", compute_dtype=torch.bfloat16), theirs.float()),
)
modded = sl.design_schedule(5, 5, 1e-3, cushion=0.02, safety=1.02, safety_in_recurrence=True).schedule
table = sl.schedules["polar_express_modded"].rows
print(
    "largest relative difference to modded-nanogpt's rows:",
    max(abs(a - b) / abs(b) for r, s in zip(modded.rows, table, strict=True) for a, b in zip(r, s, strict=True)),
)

# %% [markdown]
# ## AOL rescaling
# X₀ = D X (D from the Gram's absolute row sums) guarantees σ₁ ≤ 1 and lifts the small singular
# values, so 4 steps do; a Polar Express design for the AOL-scaled interval beats the peers' tuned
# rows on the certified measure. But the iteration converges to polar(DM), not polar(M).

# %%
from spectral_la.analysis.real_states import load_matrices

cert, matrices = aol_comparison(ells=(5e-3, 1e-2, 3e-2), matrices=load_matrices())
print(markdown_table(cert))
print(markdown_table(matrices))

# %%
from pathlib import Path

from spectral_la.figures.response_plot import make

Path("figures/out").mkdir(parents=True, exist_ok=True)
print(make("figures/out"))  # the small-multiples response figure of every σ-map schedule

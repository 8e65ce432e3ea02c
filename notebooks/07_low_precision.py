# %% [markdown]
# # Low precision: what bf16, fp16 and fp8 do to a schedule, step by step
# One experiment, `analysis.low_precision.PrecisionConfig`, read by this notebook, by
# `spectral-la precision` and by the report's "Low precision" section. Change a field
# (`dataclasses.replace`) and every view below follows.

# %%
import dataclasses
from pathlib import Path

import numpy as np

from spectral_la.analysis.low_precision import PrecisionConfig, outlier_study, predicted_error, step_trace, trace_rows
from spectral_la.analysis.tables import markdown_table

cfg = dataclasses.replace(PrecisionConfig(), shape=(64, 256), study_shape=(64, 256), study_seeds=1)
print(cfg)

# %% [markdown]
# Step traces: per step the largest entry of X, of A = XXᵀ and of the polynomial term, in the
# compute dtype and in float64 on the same stored input.

# %%
rows = trace_rows(cfg)
print(
    markdown_table(
        [{k: r[k] for k in ("compute_dtype", "step", "max_abs_x", "ref_max_abs_x", "max_sigma_error")} for r in rows]
    )
)

# %% [markdown]
# The first-order model beside the measured error per singular value (bf16):

# %%
x = cfg.input()
_, sigma, errors = step_trace(cfg.specs[0], x, compute="bf16")
model = predicted_error(cfg.specs[0], sigma, "bf16", cfg.shape)
for lo, hi in [(1e-8, 1e-4), (1e-4, 1e-2), (1e-2, 0.1), (0.1, 1.01)]:
    band = (sigma >= lo) & (sigma < hi)
    if band.any():
        print(f"σ̂ in [{lo:g}, {hi:g}): measured {np.median(errors[-1][band]):.2e}, model {np.median(model[band]):.2e}")

# %% [markdown]
# The Step 3.5 Flash claim on a few inputs (the report runs it at full size, with the captured momenta):

# %%
study = outlier_study(cfg.specs[0], shape=cfg.study_shape, seeds=cfg.study_seeds)
print(
    markdown_table(
        [
            {k: r[k] for k in ("input", "compute_dtype", "accumulation", "outlier_ratio_x", "final_max_sigma_error")}
            for r in study
        ]
    )
)

# %%
from spectral_la.figures.precision_traces import make

Path("figures/out").mkdir(parents=True, exist_ok=True)
print(make("figures/out", cfg))

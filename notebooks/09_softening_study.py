# %% [markdown]
# # Does softening help? A study of your own
# `spectral-la study` trains the stdlib byte LM with Muon, NorMuon, Dion2 and NorDion2 at several
# softening values s, in a token-rich and a high-dimensional regime, picks each setting's learning rate on
# one seed and reruns it with paired seeds. Here is a tiny version you can change and run on a laptop;
# the full CPU study is `spectral-la study --out softening_study.csv` (add `--scheduler tcp://HOST:8786`
# for a Dask cluster, `--device cuda` on a GPU).

# %%
import tempfile
from pathlib import Path

from spectral_la.analysis.study_stats import parse_rows, read_study, study_summary
from spectral_la.lab.study import StudyConfig, run_study

config = StudyConfig(
    optimizers=("muon", "normuon"),
    softening=("0", "0.25", "ramp:0:0.5"),  # constants and a ramp from 0 to 0.5 over the run
    regimes={"more_tokens": 2.0, "fewer_tokens": 0.5},  # tokens per trained parameter (the full study: 100 and 8)
    lrs={"muon": (0.02,), "normuon": (0.01,)},  # one value each here: no choice to make
    seeds=(0, 1, 2),
    width=16,
    heads=2,
    context=32,
    batch=8,
    evals=3,
    held_out_windows=16,
)
out = Path(tempfile.mkdtemp()) / "study.csv"
phase1, phase2 = run_study(config, out, workers=0, progress=False)  # workers=2: a local Dask cluster
print(phase1, phase2, sep="\n")

# %% [markdown]
# Every run is a row of a kill-safe CSV: run the same call again and nothing is recomputed. The statistics
# pair the seeds (the same initialisation and data order for every s) and give a verdict only from an
# interval:

# %%
for row in study_summary(parse_rows(read_study(out))):
    print(f"{row['optimizer']:8s} {row['regime']:12s} s={row['softening']:11s} {row['verdict']}")

# %% [markdown]
# The figure the report draws from such a file:

# %%
from spectral_la.figures.softening_study import make

print(make(out.parent, path=out))

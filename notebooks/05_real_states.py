# %% [markdown]
# # Real optimizer states
# Momenta captured from a real training run (a byte-level transformer on the Python standard
# library, `spectral-la capture`): how much of their spectrum falls below a schedule's design
# interval, what softening and Muon^p really do on them, and how the spectra change.

# %%
from pathlib import Path

from spectral_la.analysis.real_states import (
    load_capture,
    measured_rows,
    muon_p_rows,
    real_state_rows,
    softening_verdict,
)
from spectral_la.analysis.tables import markdown_table

meta, spectra = load_capture()
print({k: meta[k] for k in ("steps", "first_loss", "last_loss", "valid_loss", "captured_steps")})
rows = real_state_rows()
print(markdown_table(rows))
print(softening_verdict(rows))
print(markdown_table(muon_p_rows()))

# %% [markdown]
# NS on the real matrices follows its scalar map to the rounding of the compute dtype:

# %%
measured = measured_rows(schedules=("polar_express",))
print(max(r["max_response_error"] for r in measured if r["compute"] == "float32"))

# %%
from spectral_la.figures.real_states import make

Path("figures/out").mkdir(parents=True, exist_ok=True)
print(make("figures/out"))  # shown inline in Jupyter, saved when run as a script

"""Speed and memory measurements of spectral_la (``spectral-la bench`` or ``python -m spectral_la.benchmarks``)."""

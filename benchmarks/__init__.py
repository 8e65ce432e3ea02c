"""Speed and memory measurements of spectral_la (``spectral-la bench`` or ``python -m benchmarks``)."""

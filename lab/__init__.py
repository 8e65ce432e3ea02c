"""The lab layer: the command line and the report, on top of spectral_la ← analysis ← figures.

Nothing below imports this package (ARCHITECTURE.md).
"""

"""Measurement layer of spectral_la: accuracy against references, sweeps, reports."""

from analysis.reference_accuracy import qdwh_convergence, reference_accuracy

__all__ = ["qdwh_convergence", "reference_accuracy"]

"""Measurement layer of spectral_la: accuracy against references, sweeps, reports."""

from spectral_la.analysis.reference_accuracy import qdwh_convergence, reference_accuracy
from spectral_la.analysis.schedule_response import gram_rounding, measured_response, schedule_bands

__all__ = ["gram_rounding", "measured_response", "qdwh_convergence", "reference_accuracy", "schedule_bands"]

"""Screening: does a report point at a listed illegal agency or trafficker, and does its ad
read like trafficking? Used by the streaming matcher and by `waspada screen`."""
from services.matcher.screening.engine import DEFAULT_THRESHOLD, Screening, ScreeningEngine

__all__ = ["DEFAULT_THRESHOLD", "Screening", "ScreeningEngine"]

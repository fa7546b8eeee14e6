"""The sample classes of the memorization analysis, in their one canonical order.

Every table, figure and loop over classes uses these tuples, so the order (and the spelling) is the
same everywhere: fractions, legends, the per-class analyses.
"""

from __future__ import annotations

CLASSES = ("memorized", "spurious", "generalized")
# The per-class analyses (basins, curvature, energy) also look at training points, first.
TRAINING = "training"
ANALYSIS_CLASSES = (TRAINING, *CLASSES)

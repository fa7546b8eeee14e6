"""memgen subcommands of the per-class extras: basins (D1) and curvature/energy (D2).

Shared file: each owner keeps its subcommands in its own module; this one only collects them.
"""

from __future__ import annotations

from memgen.cli.extras_basins import register_basins
from memgen.cli.extras_curvature import register_curvature_energy


def register(subparsers) -> None:
    """Add this module's subcommands to the memgen parser."""
    register_basins(subparsers)
    register_curvature_energy(subparsers)

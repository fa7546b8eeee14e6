"""memgen subcommands of the analysis stages: neighbour search and classification."""

from __future__ import annotations

import importlib


def register(subparsers) -> None:
    """Add the neighbour-search and classification subcommands to the memgen parser."""
    for name in ("memgen.cli.neighbors_cmd", "memgen.cli.classify_cmd"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue  # stage not installed in this checkout
        module.register(subparsers)

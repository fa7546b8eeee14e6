"""Argument helpers shared by every memgen subcommand: how config sections reach a command.

A stage command receives each config section it needs as one JSON object (``--train-config '{...}'``
or ``--train-config @file.yaml``), the section's dataclass fills in the defaults, and the command's own
flags are only paths, ``--k`` and ``--experiment``. Figure commands take the ``plots`` section the
same way (``--plots-config``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def json_arg(text: str, what: str) -> dict[str, Any]:
    """A JSON object given inline or as @path (JSON or YAML file)."""
    try:
        if text.startswith("@"):
            path = Path(text[1:])
            if not path.exists():
                raise FileNotFoundError(f"{what}: file not found: {path}")
            import yaml

            value = yaml.safe_load(path.read_text())
        else:
            value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{what} is not valid JSON ({err}); pass a JSON object or @file.yaml"
        ) from err
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object (mapping), got {type(value).__name__}")
    return value


def add_section_argument(
    parser: argparse.ArgumentParser, name: str, what: str, required: bool = True
) -> None:
    """``--<name>-config JSON|@file``: one config section (``what`` names it in --help)."""
    parser.add_argument(
        f"--{name}-config",
        required=required,
        default=None if required else "{}",
        help=f"{what} config section as JSON or @file.yaml (omitted keys: the paper defaults)",
    )


def section_arg(args: argparse.Namespace, name: str, cls):
    """The dataclass of section ``name`` from ``args.<name>_config`` (unknown keys are an error)."""
    text = getattr(args, f"{name.replace('-', '_')}_config")
    return cls.from_dict(json_arg(text or "{}", f"--{name}-config"))


def add_experiment_k(parser: argparse.ArgumentParser, k_help: str = "training-set size K") -> None:
    """The two identifiers of every per-K command, spelt the same everywhere."""
    parser.add_argument("--experiment", required=True, help="experiment name (recorded in outputs)")
    parser.add_argument("--k", type=int, required=True, help=k_help)


def add_plots_argument(parser: argparse.ArgumentParser) -> None:
    """``--plots-config JSON|@file``: the ``plots`` section (style, dpi, k_log) of a figure command."""
    add_section_argument(parser, "plots", "plots (figure style: style, dpi, k_log)", required=False)


def apply_plots(args: argparse.Namespace):
    """Build the ``plots`` section of ``args`` and apply it: a non-interactive backend (figure
    commands only write files), its style and dpi. Returns it (``k_log`` for the K axes)."""
    import matplotlib

    from memgen.plots import PlotsConfig, use_plots

    matplotlib.use("Agg")
    return use_plots(section_arg(args, "plots", PlotsConfig))

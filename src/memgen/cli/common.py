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
    """``--plots-config JSON|@file``: the ``plots`` section of a figure command."""
    add_section_argument(parser, "plots", "plots (figure dpi, k_log, style)", required=False)


class _Plots(argparse.Namespace):
    """The ``plots`` section as a figure command sees it (attributes dpi, k_log, style)."""


def apply_plots(args: argparse.Namespace) -> _Plots:
    """Read ``--plots-config``, apply its matplotlib style, return it (``dpi`` for save_figure)."""
    from memgen.io import use_style
    from memgen.sections import check_keys

    given = json_arg(getattr(args, "plots_config", None) or "{}", "--plots-config")
    # The schema defaults of config.plots (dpi 150, log-scale K axes, matplotlib's default style).
    plots = {"dpi": 150, "k_log": True, "style": "default"}
    check_keys("plots", given, plots)
    plots.update(given)
    use_style(plots["style"])
    return _Plots(**plots)

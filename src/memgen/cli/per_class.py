"""The per-class analysis commands (basins, curvature, energy) of one (E, K) and their figures.

Every one of them reads the same inputs (model, classes table, pool, samples, the analysis section
that picks the points) and writes one table of its :class:`memgen.per_class.TableSpec`; a
:class:`PerClassStage` says what differs (the stage's config section, how its table is computed,
its sort keys, what it adds to the log line and the provenance), and :func:`run_stage` does the
rest. :func:`run_figures` is the same for the figure commands that read the per-K tables;
:func:`stage_command` and :func:`figure_command` make the subcommands' ``func``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memgen.cli.common import add_experiment_k, add_section_argument, apply_plots, section_arg

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import torch
    from matplotlib.figure import Figure

    from memgen.per_class import TableSpec
    from memgen.selection import AnalysisConfig

    # A figure command's drawing: (table, args, plots section) -> (figure, output stem) pairs.
    FigureSet = Callable[[pd.DataFrame, argparse.Namespace, Any], Iterable[tuple[Figure, str]]]


def add_per_class_inputs(p: argparse.ArgumentParser) -> None:
    """Inputs and identifiers of a per-class analysis of one (E, K): basins, curvature, energy."""
    p.add_argument("--model-dir", required=True, help="trained model directory (memgen train output)")
    p.add_argument("--classes", required=True, help="classes.parquet of this (E, K) (sample, d_train, d_synth, class)")
    p.add_argument("--pool", required=True, help="train_pool.npy of the experiment (rows [:K] = training subset)")
    p.add_argument("--samples", required=True, help="samples.npy of this (E, K) (N, H, W, C) in [-1, 1]")
    add_experiment_k(p)
    add_section_argument(p, "analysis", "analysis (points per class: n_train_points, max_per_class, "
                         "min_class_frac, ranking)", required=False)  # fmt: skip


@dataclass(frozen=True)
class PerClassInputs:
    """What a stage's table is computed from: one (E, K), its model and the points' sources."""

    experiment: str
    k: int
    model: torch.nn.Module
    classes: pd.DataFrame
    pool: np.ndarray  # the whole training pool (rows [:k] = the training subset)
    samples: np.ndarray
    analysis: AnalysisConfig
    device: torch.device


@dataclass(frozen=True)
class PerClassStage:
    """What one per-class analysis command adds to the shared run.

    ``section``: its config section (``--<section>-config``, the provenance key and the first word of
    the log line); ``config``: that section's dataclass; ``table(inputs, cfg)``: the table;
    ``summary(df, cfg, seconds)``: the log line's text after ``<section> <E> K=<K>`` and the
    provenance entries beyond the common ones.
    """

    section: str
    config: type
    spec: TableSpec
    sort_by: tuple[str, ...]
    table: Callable[[PerClassInputs, Any], pd.DataFrame]
    summary: Callable[[pd.DataFrame, Any, float], tuple[str, dict[str, Any]]]


def computed_points(df: pd.DataFrame) -> pd.DataFrame:
    """One row per analysed (class, point) of a per-class table (skipped classes left out)."""
    return df[~df["skipped"]].drop_duplicates(["class", "point"])


def run_stage(args: argparse.Namespace, stage: PerClassStage) -> int:
    """Sections, device, inputs (checked before the slow model load), the timed table, its
    provenance; writes ``args.out`` with the stage's schema and sort keys."""
    from memgen.device import resolve_device
    from memgen.io import write_parquet
    from memgen.models import load_eps_model
    from memgen.per_class import load_inputs
    from memgen.selection import AnalysisConfig

    acfg = section_arg(args, "analysis", AnalysisConfig)
    cfg = section_arg(args, stage.section, stage.config)
    device = resolve_device(cfg.device, f"images.{args.experiment}.{stage.section}.device")
    classes, pool, samples = load_inputs(args.classes, args.pool, args.samples, args.k)
    model = load_eps_model(args.model_dir, device)
    inputs = PerClassInputs(args.experiment, args.k, model, classes, pool, samples, acfg, device)
    start = time.perf_counter()
    df = stage.table(inputs, cfg)
    secs = time.perf_counter() - start
    text, extra = stage.summary(df, cfg, secs)
    # Logged under the stage's own command module (memgen.cli.<section>), as each command logs.
    logger = logging.getLogger(f"memgen.cli.{stage.section}")
    logger.info("%s %s K=%d%s", stage.section, args.experiment, args.k, text)
    prov = {"experiment": args.experiment, "K": args.k, "analysis": acfg.__dict__,
            stage.section: cfg.to_dict(), "model_dir": str(args.model_dir), "seconds": secs,
            **extra}  # fmt: skip
    write_parquet(df, args.out, provenance=prov, sort_by=list(stage.sort_by),
                  schema=stage.spec.schema)  # fmt: skip
    return 0


def run_figures(
    args: argparse.Namespace,
    spec: TableSpec,
    figures: FigureSet,
) -> int:
    """Apply the plots section, read the per-K tables ``args.inputs`` as one table of ``spec`` and
    save each (figure, output stem) that ``figures(df, args, plots)`` yields (one at a time)."""
    from memgen.io import save_figure
    from memgen.per_class import read_tables

    plots = apply_plots(args)
    df = read_tables(args.inputs, spec)
    for fig, out in figures(df, args, plots):
        save_figure(fig, out, plots.dpi)
    return 0


def add_stage_command(subparsers, name: str, section_help: str, stage: Callable[[], PerClassStage],
                      **parser_kw) -> argparse.ArgumentParser:  # fmt: skip
    """Subcommand ``name`` of a per-class stage: its inputs, ``--<name>-config``, ``--out``."""
    p = subparsers.add_parser(name, **parser_kw)
    add_per_class_inputs(p)
    add_section_argument(p, name, section_help, required=False)
    p.add_argument("--out", required=True, help=f"output: {name}.parquet")
    p.set_defaults(func=stage_command(stage))
    return p


def add_figure_inputs(f: argparse.ArgumentParser, name: str, title: str = "figure title") -> None:
    """The per-K tables and the experiment name of the figure command of stage ``name``."""
    f.add_argument("--inputs", nargs="+", required=True, help=f"{name}.parquet files (one per K)")
    f.add_argument("--experiment", required=True, help=f"experiment name ({title})")


# A stage is given as a function that builds it: building imports the stage's module (torch), which
# only the command that runs may pay for, not the parser of every job.


def stage_command(stage: Callable[[], PerClassStage]) -> Callable[[argparse.Namespace], int]:
    """The ``func`` of a per-class analysis command."""
    return lambda args: run_stage(args, stage())


def figure_command(
    stage: Callable[[], PerClassStage],
    figures: FigureSet,
) -> Callable[[argparse.Namespace], int]:
    """The ``func`` of the figure command of a per-class stage (``figures`` as for run_figures)."""
    return lambda args: run_figures(args, stage().spec, figures)

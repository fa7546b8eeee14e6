"""memgen subcommands of the basin analysis: ``basins`` (one (E, K)) and ``basins-figure`` (all K).

What this stage adds to the shared per-class run (memgen.cli.per_class): the Algorithm 1 call with
its recovery distance, the model evaluations in the log line, the volume and critical-time figures.
"""

from __future__ import annotations

import argparse

from memgen.cli import per_class
from memgen.cli.common import add_plots_argument


def _table(inp: per_class.PerClassInputs, cfg):
    import torch

    from memgen.basins import basins_table, make_distance

    distance = make_distance(cfg.metric, inp.device)
    with torch.no_grad():
        return basins_table(inp.model, inp.pool[: inp.k], inp.samples, inp.classes, inp.k, inp.experiment,
                            inp.analysis, cfg, distance, device=inp.device)  # fmt: skip


def _summary(df, cfg, secs: float):
    points = per_class.computed_points(df)
    evals = int(points["model_evals"].sum())
    return f": {len(df)} rows, {secs:.1f} s, {evals} model evals", {"points": len(points)}


def _stage() -> per_class.PerClassStage:
    from memgen.basins import BASINS, BasinConfig

    sort_by = ("class", "point", "trial")
    return per_class.PerClassStage("basins", BasinConfig, BASINS, sort_by, _table, _summary)


def _figures(df, args: argparse.Namespace, plots):
    from memgen.figures.basins import critical_time_figure, log_volume_figure

    yield log_volume_figure(df, args.experiment, plots.k_log), args.out_volume
    yield critical_time_figure(df, args.experiment, plots.k_log), args.out_time


def register(subparsers) -> None:
    """Add ``basins`` and ``basins-figure``."""
    per_class.add_stage_command(
        subparsers, "basins", "basins (metric, delta, trials, stride, ddim_steps, stop_prob, radius, "
        "max_points, batch_size, seed, device)", _stage,
        help="critical times and basin log-volumes of one (experiment, K) (Algorithm 1)",
        description="Algorithm 1 per image for the training points and the top-ranked samples of "
        "each class; writes one row per (point, trial) plus one row per skipped class (with its "
        "reason).",
    )  # fmt: skip

    f = subparsers.add_parser(
        "basins-figure",
        help="Fig 4B / 16-17 (mean log-volume vs K) and Figs 18-19 (mean critical time vs K) of "
        "one experiment",
        description="Reads basins.parquet of every K of one experiment; writes two figures "
        "(.png + .pdf).",
    )
    per_class.add_figure_inputs(f, "basins", "figure titles")
    f.add_argument("--out-volume", required=True, help="output stem or .png path of the log-volume figure (Fig 4B)")
    f.add_argument("--out-time", required=True, help="output stem or .png path of the critical-time figure")
    add_plots_argument(f)
    f.set_defaults(func=per_class.figure_command(_stage, _figures))

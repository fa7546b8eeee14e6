"""memgen subcommands of the basin analysis: ``basins`` (one (E, K)) and ``basins-figure`` (all K).

Thin wrappers: parse arguments, load inputs, call memgen.basins / memgen.figures.basins, write
atomically.
"""

from __future__ import annotations

import argparse
import logging
import time

from memgen.cli.common import add_plots_argument, add_section_argument, apply_plots, section_arg
from memgen.cli.per_class import add_per_class_inputs

log = logging.getLogger(__name__)


def _basins(args: argparse.Namespace) -> int:
    import torch

    from memgen.basins import BASINS, BasinConfig, basins_table, make_distance
    from memgen.device import resolve_device
    from memgen.io import write_parquet
    from memgen.models import load_eps_model
    from memgen.per_class import load_inputs
    from memgen.selection import AnalysisConfig

    acfg = section_arg(args, "analysis", AnalysisConfig)
    bcfg = section_arg(args, "basins", BasinConfig)
    device = resolve_device(bcfg.device, f"images.{args.experiment}.basins.device")
    classes, pool, samples = load_inputs(args.classes, args.pool, args.samples, args.k)
    model = load_eps_model(args.model_dir, device)
    distance = make_distance(bcfg.metric, device)
    start = time.perf_counter()
    with torch.no_grad():
        df = basins_table(model, pool[: args.k], samples, classes, args.k, args.experiment, acfg,
                          bcfg, distance, device=device)  # fmt: skip
    secs = time.perf_counter() - start
    done = df[~df["skipped"]]
    n_pts = int(done.drop_duplicates(["class", "point"]).shape[0])
    evals = int(done.drop_duplicates(["class", "point"])["model_evals"].sum())
    log.info("basins %s K=%d: %d rows, %.1f s, %d model evals", args.experiment, args.k, len(df),
             secs, evals)  # fmt: skip
    prov = {"experiment": args.experiment, "K": args.k, "analysis": acfg.__dict__,
            "basins": bcfg.to_dict(), "model_dir": str(args.model_dir), "seconds": secs,
            "points": n_pts}  # fmt: skip
    write_parquet(df, args.out, provenance=prov, sort_by=["class", "point", "trial"],
                  schema=BASINS.schema)  # fmt: skip
    return 0


def _figure(args: argparse.Namespace) -> int:
    from memgen.basins import BASINS
    from memgen.figures.basins import critical_time_figure, log_volume_figure
    from memgen.io import save_figure
    from memgen.per_class import read_tables

    plots = apply_plots(args)
    df = read_tables(args.inputs, BASINS)
    save_figure(log_volume_figure(df, args.experiment, plots.k_log), args.out_volume, plots.dpi)
    save_figure(critical_time_figure(df, args.experiment, plots.k_log), args.out_time, plots.dpi)
    return 0


def register(subparsers) -> None:
    """Add ``basins`` and ``basins-figure``."""
    p = subparsers.add_parser(
        "basins",
        help="critical times and basin log-volumes of one (experiment, K) (Algorithm 1)",
        description="Algorithm 1 per image for the training points and the top-ranked samples of "
        "each class; writes one row per (point, trial) plus one row per skipped class (with its "
        "reason).",
    )
    add_per_class_inputs(p)
    add_section_argument(p, "basins", "basins (metric, delta, trials, stride, ddim_steps, "
                         "stop_prob, radius, max_points, batch_size, seed, device)",
                         required=False)  # fmt: skip
    p.add_argument("--out", required=True, help="output: basins.parquet")
    p.set_defaults(func=_basins)

    f = subparsers.add_parser(
        "basins-figure",
        help="Fig 4B / 16-17 (mean log-volume vs K) and Figs 18-19 (mean critical time vs K) of "
        "one experiment",
        description="Reads basins.parquet of every K of one experiment; writes two figures "
        "(.png + .pdf).",
    )
    f.add_argument("--inputs", nargs="+", required=True, help="basins.parquet files (one per K)")
    f.add_argument("--experiment", required=True, help="experiment name (figure titles)")
    f.add_argument("--out-volume", required=True, help="output stem or .png path of the log-volume figure (Fig 4B)")
    f.add_argument("--out-time", required=True, help="output stem or .png path of the critical-time figure")
    add_plots_argument(f)
    f.set_defaults(func=_figure)

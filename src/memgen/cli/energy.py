"""memgen subcommands of the relative-energy analysis: ``energy`` (one (E, K)) and
``energy-figure`` (all K of one experiment: Figs 6, 25 and 27-30).

Thin wrappers: parse, load (inputs checked before the model load so a missing file fails fast),
compute, write.
"""

from __future__ import annotations

import argparse
import logging
import time

from memgen.cli.common import add_plots_argument, add_section_argument, apply_plots, section_arg
from memgen.cli.per_class import add_per_class_inputs

log = logging.getLogger(__name__)

ENERGY_HELP = ("energy (n_alpha, t, n_refs, ref_seed, legacy_sigma, max_points, batch_size, "
               "device; figure: plot_abs)")  # fmt: skip


def _energy(args: argparse.Namespace) -> int:
    from memgen.device import resolve_device
    from memgen.energy import ENERGY, EnergyConfig, energy_table
    from memgen.io import write_parquet
    from memgen.models import load_eps_model
    from memgen.per_class import load_inputs
    from memgen.selection import AnalysisConfig

    acfg = section_arg(args, "analysis", AnalysisConfig)
    cfg = section_arg(args, "energy", EnergyConfig)
    device = resolve_device(cfg.device, f"images.{args.experiment}.energy.device")
    classes, pool, samples = load_inputs(args.classes, args.pool, args.samples, args.k)
    model = load_eps_model(args.model_dir, device)
    start = time.perf_counter()
    df = energy_table(model, pool, samples, classes, args.k, args.experiment, acfg, cfg,
                      device=device)  # fmt: skip
    secs = time.perf_counter() - start
    log.info("energy %s K=%d: %d rows, %.1f s", args.experiment, args.k, len(df), secs)
    prov = {"experiment": args.experiment, "K": args.k, "analysis": acfg.__dict__,
            "energy": cfg.to_dict(), "model_dir": str(args.model_dir), "seconds": secs}  # fmt: skip
    write_parquet(df, args.out, provenance=prov, sort_by=["class", "ref", "point"],
                  schema=ENERGY.schema)  # fmt: skip
    return 0


def _figure(args: argparse.Namespace) -> int:
    from memgen.energy import ENERGY, EnergyConfig
    from memgen.figures.energy import energy_gap_figure, energy_path_figure, energy_refs_figure
    from memgen.io import save_figure
    from memgen.per_class import read_tables

    plots = apply_plots(args)
    cfg = section_arg(args, "energy", EnergyConfig)
    df = read_tables(args.inputs, ENERGY)
    E, absolute = args.experiment, cfg.plot_abs
    save_figure(energy_gap_figure(df, E, absolute, plots.k_log), args.out, plots.dpi)
    if args.out_path is not None:
        save_figure(energy_path_figure(df, E), args.out_path, plots.dpi)
    if args.out_refs is not None:
        save_figure(energy_refs_figure(df, E, absolute, plots.k_log), args.out_refs, plots.dpi)
    return 0


def register(subparsers) -> None:
    """Add ``energy`` and ``energy-figure``."""
    e = subparsers.add_parser(
        "energy",
        help="relative energies U = u(x) - u(x_ref) along the spherical path of one "
        "(experiment, K)",
        description="Trapezoid line integral of grad u over x(a) = cos a x + sin a x_ref; one row "
        "per (class, ref, point) with U and the Delta u(alpha) curve, plus one row per skipped "
        "class with its reason.",
    )
    add_per_class_inputs(e)
    add_section_argument(e, "energy", ENERGY_HELP, required=False)
    e.add_argument("--out", required=True, help="output: energy.parquet")
    e.set_defaults(func=_energy)

    f = subparsers.add_parser(
        "energy-figure",
        help="Fig 6-style relative energy gap vs K, Fig 25-style curves, Figs 27-30 per reference",
        description="gap_c(K) = mean U(class c) - mean U(training points) with a std band "
        "(energy.plot_abs: |gap|), and the mean Delta u(alpha) curve per class at each K.",
    )
    f.add_argument("--inputs", nargs="+", required=True, help="energy.parquet files (one per K)")
    f.add_argument("--experiment", required=True, help="experiment name (figure title)")
    add_section_argument(f, "energy", ENERGY_HELP, required=False)
    add_plots_argument(f)
    f.add_argument("--out", required=True, help="output stem or .png path of the gap figure (Fig 6)")
    f.add_argument("--out-path", default=None, help="output stem or .png path of the Delta u(alpha) figure (Fig 25)")
    f.add_argument("--out-refs", default=None,
                   help="output stem or .png path of the per-reference gap panels (Figs 27-30)")  # fmt: skip
    f.set_defaults(func=_figure)

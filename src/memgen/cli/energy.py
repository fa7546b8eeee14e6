"""memgen subcommands of the relative-energy analysis: ``energy`` (one (E, K)) and
``energy-figure`` (all K of one experiment: Figs 6, 25 and 27-30).

Energy's own parts of the per-class run of memgen.cli.per_class: the line integrals over the whole
pool (the references come from it), and up to three figures from one read of the tables.
"""

from __future__ import annotations

import argparse

from memgen.cli import per_class
from memgen.cli.common import add_plots_argument, add_section_argument, section_arg

ENERGY_HELP = ("energy (n_alpha, t, n_refs, ref_seed, legacy_sigma, max_points, batch_size, "
               "device; figure: plot_abs)")  # fmt: skip


def _table(inp: per_class.PerClassInputs, cfg):
    from memgen.energy import energy_table

    # The whole pool: the references are drawn from it too.
    return energy_table(inp.model, inp.pool, inp.samples, inp.classes, inp.k, inp.experiment, inp.analysis,
                        cfg, device=inp.device)  # fmt: skip


def _summary(df, cfg, secs: float):
    return f": {len(df)} rows, {secs:.1f} s", {}


def _stage() -> per_class.PerClassStage:
    from memgen.energy import ENERGY, EnergyConfig

    sort_by = ("class", "ref", "point")
    return per_class.PerClassStage("energy", EnergyConfig, ENERGY, sort_by, _table, _summary)


def _figures(df, args: argparse.Namespace, plots):
    from memgen.energy import EnergyConfig
    from memgen.figures.energy import energy_gap_figure, energy_path_figure, energy_refs_figure

    E, absolute = args.experiment, section_arg(args, "energy", EnergyConfig).plot_abs
    yield energy_gap_figure(df, E, absolute, plots.k_log), args.out
    if args.out_path is not None:
        yield energy_path_figure(df, E), args.out_path
    if args.out_refs is not None:
        yield energy_refs_figure(df, E, absolute, plots.k_log), args.out_refs


def register(subparsers) -> None:
    """Add ``energy`` and ``energy-figure``."""
    per_class.add_stage_command(
        subparsers, "energy", ENERGY_HELP, _stage,
        help="relative energies U = u(x) - u(x_ref) along the spherical path of one (experiment, K)",
        description="Trapezoid line integral of grad u over x(a) = cos a x + sin a x_ref; one row "
        "per (class, ref, point) with U and the Delta u(alpha) curve, plus one row per skipped "
        "class with its reason.",
    )  # fmt: skip

    f = subparsers.add_parser(
        "energy-figure",
        help="Fig 6-style relative energy gap vs K, Fig 25-style curves, Figs 27-30 per reference",
        description="gap_c(K) = mean U(class c) - mean U(training points) with a std band "
        "(energy.plot_abs: |gap|), and the mean Delta u(alpha) curve per class at each K.",
    )
    per_class.add_figure_inputs(f, "energy")
    add_section_argument(f, "energy", ENERGY_HELP, required=False)
    add_plots_argument(f)
    f.add_argument("--out", required=True, help="output stem or .png path of the gap figure (Fig 6)")
    f.add_argument("--out-path", default=None, help="output stem or .png path of the Delta u(alpha) figure (Fig 25)")
    f.add_argument("--out-refs", default=None,
                   help="output stem or .png path of the per-reference gap panels (Figs 27-30)")  # fmt: skip
    f.set_defaults(func=per_class.figure_command(_stage, _figures))

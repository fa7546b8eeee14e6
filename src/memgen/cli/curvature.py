"""memgen subcommands of the curvature analysis: ``curvature`` (one (E, K)) and
``curvature-figure`` (all K of one experiment, Fig 5A).

The spectra call (gradients on: the Jacobian methods differentiate the network), the method and
point count in the log line and the figure keys of the curvature section; the rest is the shared
per-class run (memgen.cli.per_class).
"""

from __future__ import annotations

import argparse

from memgen.cli import per_class
from memgen.cli.common import add_plots_argument, add_section_argument, section_arg

CURVATURE_HELP = ("curvature (method score_matrix|jacobian|lanczos, t, m_factor, m_max, center, "
                  "top_k, max_points, batch_size, seed, device; figure: drop_top, figure_ks)")  # fmt: skip


def _table(inp: per_class.PerClassInputs, cfg):
    from memgen.curvature import curvature_table

    return curvature_table(inp.model, inp.pool[: inp.k], inp.samples, inp.classes, inp.k, inp.experiment,
                           inp.analysis, cfg, device=inp.device)  # fmt: skip


def _summary(df, cfg, secs: float):
    n_pts = len(per_class.computed_points(df))
    return f" ({cfg.method}): {n_pts} points, {secs:.1f} s", {"points": n_pts}


def _stage() -> per_class.PerClassStage:
    from memgen.curvature import CURVATURE, CurvatureConfig

    sort_by = ("class", "point", "rank")
    return per_class.PerClassStage("curvature", CurvatureConfig, CURVATURE, sort_by, _table, _summary)


def _figures(df, args: argparse.Namespace, plots):
    from memgen.curvature import CurvatureConfig
    from memgen.figures.curvature import curvature_figure

    cfg = section_arg(args, "curvature", CurvatureConfig)
    yield curvature_figure(df, args.experiment, drop_top=cfg.drop_top, fixed_ks=cfg.figure_ks), args.out


def register(subparsers) -> None:
    """Add ``curvature`` and ``curvature-figure``."""
    per_class.add_stage_command(
        subparsers, "curvature", CURVATURE_HELP, _stage,
        help="score-Jacobian singular value spectra of one (experiment, K) (Alg 2/3)",
        description="Spectra at the training points and the top-ranked samples of each class; one "
        "row per (class, point, rank) plus one row per skipped class with its reason.",
    )  # fmt: skip

    f = subparsers.add_parser(
        "curvature-figure",
        help="Fig 5A-style spectra of one experiment (all K)",
        description="Mean spectrum per class and K (curvature.drop_top leading singular values not "
        "drawn), the training-point spectra coloured by K (purple = small K, red = large K), and "
        "the classes overlaid at fixed K (curvature.figure_ks: a list of K, or auto = the K values "
        "where memorized, spurious and generalized all have spectra, at most 3).",
    )
    per_class.add_figure_inputs(f, "curvature")
    add_section_argument(f, "curvature", CURVATURE_HELP, required=False)
    add_plots_argument(f)
    f.add_argument("--out", required=True, help="output stem or .png path (writes .png and .pdf)")
    f.set_defaults(func=per_class.figure_command(_stage, _figures))

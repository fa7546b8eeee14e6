"""memgen subcommands of the curvature analysis: ``curvature`` (one (E, K)) and
``curvature-figure`` (all K of one experiment, Fig 5A).

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

CURVATURE_HELP = ("curvature (method score_matrix|jacobian|lanczos, t, m_factor, m_max, center, "
                  "top_k, max_points, batch_size, seed, device; figure: drop_top, figure_ks)")  # fmt: skip


def _curvature(args: argparse.Namespace) -> int:
    from memgen.curvature import CURVATURE, CurvatureConfig, curvature_table
    from memgen.device import resolve_device
    from memgen.io import write_parquet
    from memgen.models import load_eps_model
    from memgen.per_class import load_inputs
    from memgen.selection import AnalysisConfig

    acfg = section_arg(args, "analysis", AnalysisConfig)
    cfg = section_arg(args, "curvature", CurvatureConfig)
    device = resolve_device(cfg.device, f"images.{args.experiment}.curvature.device")
    classes, pool, samples = load_inputs(args.classes, args.pool, args.samples, args.k)
    model = load_eps_model(args.model_dir, device)
    start = time.perf_counter()
    df = curvature_table(model, pool[: args.k], samples, classes, args.k, args.experiment, acfg,
                         cfg, device=device)  # fmt: skip
    secs = time.perf_counter() - start
    n_pts = int(df.loc[~df["skipped"]].drop_duplicates(["class", "point"]).shape[0])
    log.info("curvature %s K=%d (%s): %d points, %.1f s", args.experiment, args.k, cfg.method,
             n_pts, secs)  # fmt: skip
    prov = {"experiment": args.experiment, "K": args.k, "analysis": acfg.__dict__,
            "curvature": cfg.to_dict(), "model_dir": str(args.model_dir), "seconds": secs,
            "points": n_pts}  # fmt: skip
    write_parquet(df, args.out, provenance=prov, sort_by=["class", "point", "rank"],
                  schema=CURVATURE.schema)  # fmt: skip
    return 0


def _figure(args: argparse.Namespace) -> int:
    from memgen.curvature import CURVATURE, CurvatureConfig
    from memgen.figures.curvature import curvature_figure
    from memgen.io import save_figure
    from memgen.per_class import read_tables

    plots = apply_plots(args)
    cfg = section_arg(args, "curvature", CurvatureConfig)
    df = read_tables(args.inputs, CURVATURE)
    fig = curvature_figure(df, args.experiment, drop_top=cfg.drop_top, fixed_ks=cfg.figure_ks)
    save_figure(fig, args.out, plots.dpi)
    return 0


def register(subparsers) -> None:
    """Add ``curvature`` and ``curvature-figure``."""
    p = subparsers.add_parser(
        "curvature",
        help="score-Jacobian singular value spectra of one (experiment, K) (Alg 2/3)",
        description="Spectra at the training points and the top-ranked samples of each class; one "
        "row per (class, point, rank) plus one row per skipped class with its reason.",
    )
    add_per_class_inputs(p)
    add_section_argument(p, "curvature", CURVATURE_HELP, required=False)
    p.add_argument("--out", required=True, help="output: curvature.parquet")
    p.set_defaults(func=_curvature)

    f = subparsers.add_parser(
        "curvature-figure",
        help="Fig 5A-style spectra of one experiment (all K)",
        description="Mean spectrum per class and K (curvature.drop_top leading singular values not "
        "drawn), the training-point spectra coloured by K (purple = small K, red = large K), and "
        "the classes overlaid at fixed K (curvature.figure_ks: a list of K, or auto = the K values "
        "where memorized, spurious and generalized all have spectra, at most 3).",
    )
    f.add_argument("--inputs", nargs="+", required=True, help="curvature.parquet files (one per K)")
    f.add_argument("--experiment", required=True, help="experiment name (figure title)")
    add_section_argument(f, "curvature", CURVATURE_HELP, required=False)
    add_plots_argument(f)
    f.add_argument("--out", required=True, help="output stem or .png path (writes .png and .pdf)")
    f.set_defaults(func=_figure)

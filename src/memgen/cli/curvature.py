"""memgen subcommands of the curvature (SPEC §7) and relative-energy (SPEC §8) analyses.

``curvature``, ``energy`` (one (E, K) each) and ``curvature-figure``, ``energy-figure`` (all K of one E).
Thin wrappers: parse, load (inputs checked before the model load so a missing file fails fast), compute, write.
"""

from __future__ import annotations

import argparse
import logging
import time

from memgen.cli.basins import _device, _inputs
from memgen.cli.train import _json_arg

log = logging.getLogger(__name__)


def _model(args, device):
    from memgen.models import load_eps_model

    return load_eps_model(args.model_dir, device)


def _curvature(args: argparse.Namespace) -> int:
    from memgen.curvature import curvature_config, curvature_table
    from memgen.io import write_parquet
    from memgen.selection import AnalysisConfig

    acfg = AnalysisConfig.from_dict(_json_arg(args.analysis_config, "--analysis-config"))
    cfg = curvature_config(_json_arg(args.curvature_config, "--curvature-config"))
    device = _device(args.device or cfg["device"])
    classes, pool, samples = _inputs(args)
    model = _model(args, device)
    start = time.perf_counter()
    df = curvature_table(model, pool[: args.k], samples, classes, args.k, args.experiment, acfg, cfg, device=device)
    secs = time.perf_counter() - start
    n_pts = int(df.loc[~df["skipped"]].drop_duplicates(["class", "point"]).shape[0])
    log.info("curvature %s K=%d (%s): %d points, %.1f s", args.experiment, args.k, cfg["method"], n_pts, secs)
    prov = {"experiment": args.experiment, "K": args.k, "analysis": acfg.__dict__, "curvature": cfg,
            "model_dir": str(args.model_dir), "seconds": secs, "points": n_pts}
    write_parquet(df, args.out, provenance=prov, sort_by=["class", "point", "rank"])
    return 0


def _energy(args: argparse.Namespace) -> int:
    from memgen.energy import energy_config, energy_table
    from memgen.io import write_parquet
    from memgen.selection import AnalysisConfig

    acfg = AnalysisConfig.from_dict(_json_arg(args.analysis_config, "--analysis-config"))
    cfg = energy_config(_json_arg(args.energy_config, "--energy-config"))
    device = _device(args.device or cfg["device"])
    classes, pool, samples = _inputs(args)
    model = _model(args, device)
    start = time.perf_counter()
    df = energy_table(model, pool, samples, classes, args.k, args.experiment, acfg, cfg, device=device)
    secs = time.perf_counter() - start
    log.info("energy %s K=%d: %d rows, %.1f s", args.experiment, args.k, len(df), secs)
    prov = {"experiment": args.experiment, "K": args.k, "analysis": acfg.__dict__, "energy": cfg,
            "model_dir": str(args.model_dir), "seconds": secs}
    write_parquet(df, args.out, provenance=prov, sort_by=["class", "ref", "point"])
    return 0


def _curvature_figure(args: argparse.Namespace) -> int:
    from memgen.figures.curvature_energy import curvature_figure

    fixed = None if args.fixed_ks in (None, ["auto"]) else [int(k) for k in args.fixed_ks]
    curvature_figure(args.inputs, args.experiment, args.out, drop_top=args.drop_top, fixed_ks=fixed)
    return 0


def _energy_figure(args: argparse.Namespace) -> int:
    from memgen.figures.curvature_energy import energy_figure

    energy_figure(args.inputs, args.experiment, args.out, out_path=args.out_path, out_refs=args.out_refs,
                  plot_abs=args.abs, k_log=not args.linear_k)
    return 0


def _common(p) -> None:
    p.add_argument("--model-dir", required=True, help="trained model directory of this K (memgen train output)")
    p.add_argument("--classes", required=True, help="classes.parquet of this (E, K) (sample, d_train, d_synth, class)")
    p.add_argument("--pool", required=True, help="train_pool.npy of the experiment (rows [:K] = training subset)")
    p.add_argument("--samples", required=True, help="samples.npy of this (E, K), (N, H, W, C) in [-1, 1]")
    p.add_argument("--k", type=int, required=True, help="training-set size K")
    p.add_argument("--experiment", required=True, help="experiment name (stored in every row)")
    p.add_argument("--analysis-config", default="{}",
                   help="analysis section as JSON or @file.yaml (n_train_points, max_per_class, min_class_frac, ranking)")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda; default: the section's device, auto = cuda if present)")


def register(subparsers) -> None:
    """Add ``curvature``, ``energy``, ``curvature-figure`` and ``energy-figure``."""
    p = subparsers.add_parser(
        "curvature", help="score-Jacobian singular value spectra of one (experiment, K) (SPEC §7, Alg 2/3)",
        description="Spectra at the training points and the top-ranked samples of each class; one row per "
        "(class, point, rank) plus one row per skipped class with its reason.")
    _common(p)
    p.add_argument("--curvature-config", default="{}",
                   help="curvature section as JSON or @file.yaml (method score_matrix|jacobian|lanczos, t, m_factor, "
                   "center, top_k, max_points, batch_size, seed)")
    p.add_argument("--out", required=True, help="output: curvature.parquet")
    p.set_defaults(func=_curvature)

    e = subparsers.add_parser(
        "energy", help="relative energies U = u(x) - u(x_ref) along the spherical path of one (experiment, K) (SPEC §8)",
        description="Trapezoid line integral of grad u over x(a) = cos a x + sin a x_ref; one row per (class, ref, "
        "point) with U and the Delta u(alpha) curve, plus one row per skipped class with its reason.")
    _common(e)
    e.add_argument("--energy-config", default="{}",
                   help="energy section as JSON or @file.yaml (n_alpha, t, n_refs, ref_seed, legacy_sigma, max_points, "
                   "batch_size)")
    e.add_argument("--out", required=True, help="output: energy.parquet")
    e.set_defaults(func=_energy)

    cf = subparsers.add_parser("curvature-figure", help="Fig 5A-style spectra of one experiment (all K)",
                               description="Mean spectrum per class and K (top singular values dropped), the "
                               "training-point spectra coloured by K (purple = small K, red = large K), and the "
                               "classes overlaid at fixed K.")
    cf.add_argument("--inputs", nargs="+", required=True, help="curvature.parquet files (one per K)")
    cf.add_argument("--experiment", required=True, help="experiment name (figure title)")
    cf.add_argument("--drop-top", type=int, default=5, help="number of leading singular values not plotted (paper: 5)")
    cf.add_argument("--fixed-ks", nargs="+", default=None,
                    help="K values of the panels comparing the classes at one K, or auto (default): the K values "
                    "where memorized, spurious and generalized all have spectra (at most 3)")
    cf.add_argument("--out", required=True, help="output stem or .png path (writes .png and .pdf)")
    cf.set_defaults(func=_curvature_figure)

    ef = subparsers.add_parser("energy-figure", help="Fig 6-style relative energy gap vs K and Fig 25-style curves",
                               description="gap_c(K) = mean U(class c) - mean U(training points) with a std band, "
                               "and the mean Delta u(alpha) curve per class at each K.")
    ef.add_argument("--inputs", nargs="+", required=True, help="energy.parquet files (one per K)")
    ef.add_argument("--experiment", required=True, help="experiment name (figure title)")
    ef.add_argument("--out", required=True, help="output stem or .png path of the gap figure (Fig 6)")
    ef.add_argument("--out-path", default=None, help="output stem or .png path of the Delta u(alpha) figure (Fig 25)")
    ef.add_argument("--out-refs", default=None,
                    help="output stem or .png path of the per-reference gap panels (Figs 27-30)")
    ef.add_argument("--abs", action="store_true", help="plot |gap| instead of the signed gap")
    ef.add_argument("--linear-k", action="store_true", help="linear K axis (default: log scale)")
    ef.set_defaults(func=_energy_figure)

"""memgen subcommands of the basin analysis (SPEC §6): ``basins`` and ``basins-figure``.

Thin wrappers: parse arguments, load inputs, call memgen.basins / memgen.figures.basins, write atomically.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from memgen.cli.train import _json_arg

log = logging.getLogger(__name__)


def _load_images(path: Path, what: str, fix: str):
    import numpy as np

    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path} ({fix})")
    arr = np.load(path, mmap_mode="r")
    if arr.ndim != 4:
        raise ValueError(f"{path}: expected an (N, H, W, C) array, got shape {arr.shape}")
    if arr.dtype == np.uint8:  # user files may be uint8 [0, 255]
        return np.asarray(arr, dtype=np.float32) / 127.5 - 1.0
    return np.asarray(arr, dtype=np.float32)


def _inputs(args):
    """classes, pool and samples of one (E, K), checked against each other before the (slow) model load,
    so a missing or mismatched file fails fast and names itself (basins, curvature, energy)."""
    from memgen.io import read_parquet

    if not Path(args.classes).exists():
        raise FileNotFoundError(f"classes table not found: {args.classes} (run the classify stage first)")
    classes = read_parquet(args.classes)
    pool = _load_images(Path(args.pool), "training pool", "run the split stage first")
    samples = _load_images(Path(args.samples), "samples", "run the sample stage first")
    if args.k > pool.shape[0]:
        raise ValueError(f"K={args.k} exceeds the pool size {pool.shape[0]} of {args.pool}")
    if len(classes) and classes["sample"].max() >= samples.shape[0]:
        raise ValueError(f"{args.classes} refers to sample {classes['sample'].max()} but {args.samples} has "
                         f"{samples.shape[0]}; were they made from the same synthetic set?")
    return classes, pool, samples


def _device(name: str) -> str:
    import torch

    if name in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _basins(args: argparse.Namespace) -> int:
    import torch

    from memgen.basins import BasinConfig, basins_table, make_distance
    from memgen.io import write_parquet
    from memgen.models import load_eps_model
    from memgen.selection import AnalysisConfig

    acfg = AnalysisConfig.from_dict(_json_arg(args.analysis_config, "--analysis-config"))
    bcfg = BasinConfig.from_dict(_json_arg(args.basins_config, "--basins-config"))
    device = _device(args.device or bcfg.device)
    classes, pool, samples = _inputs(args)
    model = load_eps_model(args.model_dir, device)
    distance = make_distance(bcfg.metric, device)
    start = time.perf_counter()
    with torch.no_grad():
        df = basins_table(model, pool[: args.k], samples, classes, args.k, args.experiment, acfg, bcfg,
                          distance, device=device)
    secs = time.perf_counter() - start
    n_pts = df.loc[~df["skipped"], "point"].nunique() if (~df["skipped"]).any() else 0
    log.info("basins %s K=%d: %d rows, %.1f s, %d model evals", args.experiment, args.k, len(df), secs,
             int(df.drop_duplicates(["class", "point"])["model_evals"].fillna(0).sum()))
    prov = {"experiment": args.experiment, "K": args.k, "analysis": acfg.__dict__, "basins": bcfg.__dict__,
            "model_dir": str(args.model_dir), "seconds": secs, "points": int(n_pts)}
    write_parquet(df, args.out, provenance=prov, sort_by=["class", "point", "trial"])
    return 0


def _figure(args: argparse.Namespace) -> int:
    from memgen.figures.basins import basins_figures

    basins_figures(args.inputs, args.experiment, args.out_volume, args.out_time, k_log=not args.linear_k)
    return 0


def register(subparsers) -> None:
    """Add ``basins`` and ``basins-figure``."""
    p = subparsers.add_parser(
        "basins",
        help="critical times and basin log-volumes of one (experiment, K) (SPEC §6, Algorithm 1)",
        description="Algorithm 1 per image for the training points and the top-ranked samples of each class; "
        "writes one row per (point, trial) plus one row per skipped class (with its reason).",
    )
    p.add_argument("--model-dir", required=True, help="trained model directory (memgen train output)")
    p.add_argument("--classes", required=True, help="classes.parquet of this (E, K) (sample, d_train, d_synth, class)")
    p.add_argument("--pool", required=True, help="train_pool.npy of the experiment (rows [:K] = training subset)")
    p.add_argument("--samples", required=True, help="samples.npy of this (E, K) (N, H, W, C) in [-1, 1]")
    p.add_argument("--k", type=int, required=True, help="training-set size K")
    p.add_argument("--experiment", required=True, help="experiment name (stored in every row)")
    p.add_argument("--analysis-config", default="{}",
                   help="analysis section as JSON or @file.yaml (n_train_points, max_per_class, min_class_frac, ranking)")
    p.add_argument("--basins-config", default="{}",
                   help="basins section as JSON or @file.yaml (metric, delta, trials, stride, ddim_steps, stop_prob, "
                   "radius, max_points, batch_size, seed)")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda; default: basins.device, auto = cuda if present)")
    p.add_argument("--out", required=True, help="output: basins.parquet")
    p.set_defaults(func=_basins)

    f = subparsers.add_parser(
        "basins-figure",
        help="Fig 4B / 16-17 (mean log-volume vs K) and Figs 18-19 (mean critical time vs K) of one experiment",
        description="Reads basins.parquet of every K of one experiment; writes two figures (.png + .pdf).",
    )
    f.add_argument("--inputs", nargs="+", required=True, help="basins.parquet files (one per K)")
    f.add_argument("--experiment", required=True, help="experiment name (figure titles)")
    f.add_argument("--out-volume", required=True, help="output stem or .png path of the log-volume figure (Fig 4B)")
    f.add_argument("--out-time", required=True, help="output stem or .png path of the critical-time figure")
    f.add_argument("--linear-k", action="store_true", help="linear K axis (default: log scale)")
    f.set_defaults(func=_figure)

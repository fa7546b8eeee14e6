"""``memgen sample``: the synthetic set of one (experiment, K) from its trained model."""

from __future__ import annotations

import argparse

from memgen.cli.common import add_experiment_k, add_section_argument, section_arg


def _sample(args: argparse.Namespace) -> int:
    from memgen.sample import SampleConfig, sample_model

    cfg = section_arg(args, "sample", SampleConfig)
    sample_model(
        args.model_dir, args.k, args.experiment, cfg, args.out, args.manifest, args.scratch,
        grid_png=args.grid, progress=not args.no_progress,
    )  # fmt: skip
    return 0


def register(subparsers) -> None:
    """Add ``sample`` to the memgen parser."""
    p = subparsers.add_parser(
        "sample",
        help="generate the synthetic set of one (experiment, K) (sharded, resumable)",
        description="Sample ratio*K images (clamped to [min, max]) from a trained model with DDPM "
        "ancestral or DDIM; shards are seeded from (seed, K, shard), saved under SCRATCH and "
        "skipped on rerun; writes samples.npy (N,H,W,C float32 in [-1,1]) and a parquet manifest.",
    )
    add_experiment_k(p, "K of the model (sets the number of samples)")
    add_section_argument(p, "sample", "sample (ratio, min, max, sampler, steps, seed, ...)", False)
    p.add_argument(
        "--model-dir", required=True, help="trained model directory (memgen train output)"
    )
    p.add_argument("--out", required=True, help="output: samples .npy")
    p.add_argument(
        "--manifest", required=True, help="output: manifest parquet (sample, shard, seed, ...)"
    )
    p.add_argument("--scratch", required=True, help="directory for finished shards (resume)")
    p.add_argument("--grid", default=None, help="optional output: PNG grid of the first samples")
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bar")
    p.set_defaults(func=_sample)

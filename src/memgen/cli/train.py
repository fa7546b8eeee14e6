"""memgen subcommands of the image models: ``train``, ``sample`` and ``plan``.

Thin wrappers: parse arguments, build the config dataclasses, call one library function.
Config sections arrive as JSON (the Snakemake rules pass the validated sections verbatim).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from memgen.cli.common import json_arg

_json_arg = json_arg


def load_subset(pool: Path, k: int):
    """Rows [:K] of the experiment's pool (float32 NHWC in [-1, 1]) as a (K, C, H, W) tensor."""
    import numpy as np
    import torch

    from memgen.data import to_nchw

    if not pool.exists():
        raise FileNotFoundError(f"training pool not found: {pool} (run the split stage first)")
    arr = np.load(pool, mmap_mode="r")
    if arr.ndim != 4:
        raise ValueError(f"{pool}: expected an (N, H, W, C) array, got shape {arr.shape}")
    if k > arr.shape[0]:
        raise ValueError(f"K={k} exceeds the pool size {arr.shape[0]} of {pool}; lower K")
    sub = np.array(arr[:k], dtype=np.float32)  # a writable copy (torch warns on read-only memmaps)
    if sub.min() < -1.0001 or sub.max() > 1.0001:
        raise ValueError(
            f"{pool}: values outside [-1, 1] ({sub.min()}..{sub.max()}); expected scaled images"
        )
    return torch.as_tensor(np.ascontiguousarray(to_nchw(sub)))


def _train(args: argparse.Namespace) -> int:
    from memgen.train import TrainConfig, train_model

    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    model_cfg = _json_arg(args.model_config, "--model-config")
    cfg = TrainConfig.from_dict(_json_arg(args.train_config, "--train-config"))
    data = load_subset(Path(args.pool), args.k)
    provenance = {"experiment": args.experiment, "pool": str(args.pool)}
    train_model(
        data, model_cfg, cfg, args.model_dir, args.log, args.scratch, provenance=provenance,
        progress=not args.no_progress,
        reuse_from=(args.reuse_model, args.reuse_log) if args.reuse_model else None,
        snapshots=_snapshot_writer(args, cfg, provenance),
    )  # fmt: skip
    return 0


def _snapshot_writer(args: argparse.Namespace, cfg, provenance: dict):
    """The EMA-snapshot hook of --snapshot-steps (None without it): the steps, checked."""
    if not args.snapshot_steps:
        return None
    import json

    from memgen.snapshots import CACHE_DIR, SnapshotConfig, SnapshotWriter

    try:
        steps = json.loads(args.snapshot_steps)
    except json.JSONDecodeError as err:
        raise ValueError(f"--snapshot-steps must be a JSON list of steps ({err})") from err
    if not isinstance(steps, list):
        raise ValueError(f"--snapshot-steps must be a JSON list of steps, got {args.snapshot_steps!r}")
    steps = SnapshotConfig(steps=steps).resolve_steps(cfg.iterations, "--snapshot-steps")
    return SnapshotWriter(steps, Path(args.scratch) / CACHE_DIR, provenance)


def _sample(args: argparse.Namespace) -> int:
    from memgen.sample import SampleConfig, sample_model

    cfg = SampleConfig.from_dict(_json_arg(args.sample_config, "--sample-config"))
    sample_model(
        args.model_dir, args.k, args.experiment, cfg, args.out, args.manifest, args.scratch,
        grid_png=args.grid, progress=not args.no_progress,
    )  # fmt: skip
    return 0


def _plan(args: argparse.Namespace) -> int:
    from memgen.plan import plan_from_files

    table = plan_from_files(
        [Path(p) for p in args.config], steps_per_s=args.steps_per_s,
        results_md=Path(args.results_md) if args.results_md else None,
        experiments=args.experiment or None,
    )  # fmt: skip
    print(table.to_string(index=False))
    if args.out:
        from memgen.io import write_parquet

        write_parquet(table, args.out, provenance={"configs": args.config})
    return 0


def register(subparsers) -> None:
    """Add ``train``, ``sample`` and ``plan`` to the memgen parser."""
    p = subparsers.add_parser(
        "train",
        help="train the eps-model of one (experiment, K) (resumable)",
        description="Train an epsilon-prediction DDPM on the first K images of the pool; resumes "
        "from SCRATCH/ckpt.pt, writes the EMA model with save_pretrained and a parquet log. "
        "A complete model directory of the same config is not retrained.",
    )
    p.add_argument(
        "--pool", required=True, help="train_pool.npy of the experiment (N,H,W,C float32 in [-1,1])"
    )
    p.add_argument(
        "--k", type=int, required=True, help="training-set size K (rows [:K] of the pool)"
    )
    p.add_argument("--experiment", required=True, help="experiment name (recorded in the log)")
    p.add_argument(
        "--model-config",
        required=True,
        help="model section as JSON or @file (kind unet|mlp, preset, nf, ch_mult, ...)",
    )
    p.add_argument(
        "--train-config",
        required=True,
        help="train section as JSON or @file (iterations, batch_size, lr, ema_decay, ...)",
    )
    p.add_argument(
        "--model-dir", required=True, help="output: diffusers model directory of the EMA weights"
    )
    p.add_argument(
        "--log", required=True, help="output: training log parquet (step, loss, lr, steps_per_s)"
    )
    p.add_argument(
        "--scratch",
        required=True,
        help="resumable checkpoint directory (kept when the job is killed; not a Snakemake output)",
    )
    p.add_argument(
        "--reuse-model",
        default="",
        help="model dir of another experiment to copy instead of training, if it is finished and "
        "identical (same model/train config, K and training images); empty: train",
    )
    p.add_argument("--reuse-log", default="", help="training log parquet of --reuse-model")
    p.add_argument(
        "--snapshot-steps",
        default="",
        help="JSON list of steps, e.g. '[250, 1000]': keep an EMA snapshot at each under "
        "SCRATCH/snapshots/ (the final weights are the same with or without); empty: none",
    )
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bar")
    p.set_defaults(func=_train)

    p = subparsers.add_parser(
        "sample",
        help="generate the synthetic set of one (experiment, K) (sharded, resumable)",
        description="Sample ratio*K images (clamped to [min, max]) from a trained model with DDPM "
        "ancestral or DDIM; shards are seeded from (seed, K, shard), saved under SCRATCH and "
        "skipped on rerun; writes samples.npy (N,H,W,C float32 in [-1,1]) and a parquet manifest.",
    )
    p.add_argument(
        "--model-dir", required=True, help="trained model directory (memgen train output)"
    )
    p.add_argument(
        "--k", type=int, required=True, help="K of the model (sets the number of samples)"
    )
    p.add_argument("--experiment", required=True, help="experiment name (recorded in the manifest)")
    p.add_argument(
        "--sample-config",
        required=True,
        help="sample section as JSON or @file (ratio, min, max, sampler, steps, seed, ...)",
    )
    p.add_argument("--out", required=True, help="output: samples .npy")
    p.add_argument(
        "--manifest", required=True, help="output: manifest parquet (sample, shard, seed, ...)"
    )
    p.add_argument("--scratch", required=True, help="directory for finished shards (resume)")
    p.add_argument("--grid", default=None, help="optional output: PNG grid of the first samples")
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bar")
    p.set_defaults(func=_sample)

    p = subparsers.add_parser(
        "plan",
        help="paper-scale resource estimate (GPU-hours per experiment)",
        description="Estimate GPU-hours for training and sampling every K of each image experiment "
        "from the config files and a throughput (measured steps/s from benchmarks/RESULTS.md, "
        "--steps-per-s, or the paper's V100 reference times).",
    )
    p.add_argument(
        "--config",
        nargs="+",
        default=["config.yaml"],
        help="config.yaml and overlays, merged left to right (default: config.yaml)",
    )
    p.add_argument("--experiment", action="append", help="only this image experiment (repeatable)")
    p.add_argument(
        "--steps-per-s",
        type=float,
        default=None,
        help="override the training throughput (iterations per second per GPU)",
    )
    p.add_argument(
        "--results-md",
        default=None,
        help="benchmarks/RESULTS.md to read measured GPU steps/s from (table rows 'plan: PRESET = X steps/s')",
    )
    p.add_argument("--out", default=None, help="optional output parquet of the estimate")
    p.set_defaults(func=_plan)

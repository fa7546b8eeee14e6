"""``memgen train``: the eps-model of one (experiment, K).

Thin wrapper: parse arguments, build the config dataclasses, call one library function. The model and
train sections arrive as JSON (the Snakemake rules pass the validated sections verbatim).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from memgen.cli.common import add_experiment_k, add_section_argument, json_arg, section_arg

_json_arg = json_arg  # the name the analysis commands import


def load_subset(pool: Path, k: int):
    """Rows [:K] of the experiment's pool (float32 NHWC in [-1, 1]) as a (K, C, H, W) tensor."""
    import numpy as np
    import torch

    from memgen.data import load_image_array, to_nchw

    arr = load_image_array(
        pool, what="training pool", hint="run the split stage first", images=True, limit=k
    )
    sub = np.array(arr, dtype=np.float32)  # a writable copy (torch warns on read-only memmaps)
    return torch.as_tensor(np.ascontiguousarray(to_nchw(sub)))


def _train(args: argparse.Namespace) -> int:
    from memgen.train import ModelConfig, TrainConfig, train_model

    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    # build_model and the training fingerprint take the model section as a plain mapping
    model_cfg = section_arg(args, "model", ModelConfig).to_dict()
    cfg = section_arg(args, "train", TrainConfig)
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


def register(subparsers) -> None:
    """Add ``train`` to the memgen parser."""
    p = subparsers.add_parser(
        "train",
        help="train the eps-model of one (experiment, K) (resumable)",
        description="Train an epsilon-prediction DDPM on the first K images of the pool; resumes "
        "from SCRATCH/ckpt.pt, writes the EMA model with save_pretrained and a parquet log. "
        "A complete model directory of the same config is not retrained.",
    )
    add_experiment_k(p, "training-set size K (rows [:K] of the pool)")
    add_section_argument(p, "model", "model (kind unet|mlp, preset, nf, ch_mult, ...)", False)
    add_section_argument(p, "train", "train (iterations, batch_size, lr, ema_decay, ...)", False)
    p.add_argument(
        "--pool", required=True, help="train_pool.npy of the experiment (N,H,W,C float32 in [-1,1])"
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

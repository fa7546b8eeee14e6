"""memgen subcommands of the data package: `split` (nested subsets + pool) and `split-check`."""

from __future__ import annotations

import argparse


def _common(p: argparse.ArgumentParser) -> None:
    # No `choices`: listing the readers would import memgen.data (numpy, tqdm) for every `--help`;
    # an unknown name is refused by the reader lookup before anything is read.
    p.add_argument(
        "--dataset",
        required=True,
        help="which reader to use (config images.E.dataset: digits, mnist, fmnist, cifar10, "
        "lsun_church, folder)",
    )
    p.add_argument(
        "--data-root", required=True, help="folder holding the data sets (config data_root)"
    )
    p.add_argument(
        "--path", default="", help="location under data-root (config images.E.path); '' = default"
    )
    p.add_argument(
        "--resize",
        type=int,
        default=None,
        help="folder data set only: ADM-centre-crop every image to RESIZE x RESIZE",
    )


def register(subparsers) -> None:
    """Add `split` and `split-check` to the memgen parser."""
    p = subparsers.add_parser(
        "split",
        help="nested training subsets of an image data set + the training pool (.npy)",
        description="Read the data set, draw the seeded permutation (subset K = first K positions), "
        "write the split table (index, position, content hash per image) and the pool: float32 "
        "(max K, H, W, C) in [-1, 1] in permutation order, so subset K = rows [:K].",
    )
    _common(p)
    p.add_argument(
        "--split-seed", type=int, required=True, help="permutation seed (config split_seed)"
    )
    p.add_argument("--experiment", required=True, help="experiment name written into the table")
    p.add_argument(
        "--max-k", type=int, required=True, help="largest K; the pool keeps that many rows"
    )
    p.add_argument("--out-split", required=True, help="output split table (.parquet)")
    p.add_argument("--out-pool", required=True, help="output training pool (.npy)")
    p.set_defaults(func=_split)

    c = subparsers.add_parser(
        "split-check",
        help="re-hash a data set and fail if it differs from a stored split",
        description="Recompute the per-image content hashes and compare with SPLIT; exits 2 naming "
        "the changed images when the data changed since the split was made.",
    )
    _common(c)
    c.add_argument("--split", required=True, help="the stored split table (.parquet)")
    c.add_argument("--out", default=None, help="optional JSON record of a successful check")
    c.set_defaults(func=_check)


def _split(args) -> int:
    from ..data.pool import run_split

    run_split(
        args.dataset,
        args.data_root,
        args.path or None,
        args.split_seed,
        args.experiment,
        args.max_k,
        args.out_split,
        args.out_pool,
        resize=args.resize,
    )
    return 0


def _check(args) -> int:
    import logging

    from ..data.pool import check_split
    from ..io import write_json

    digest = check_split(
        args.dataset, args.data_root, args.path or None, args.split, resize=args.resize
    )
    logging.getLogger("memgen.data").info("data unchanged since %s (hash %s)", args.split, digest)
    if args.out:
        write_json({"split": args.split, "dataset": args.dataset, "dataset_hash": digest}, args.out)
    return 0

"""`memgen neighbors`: exact k-NN of generated samples among training images or among themselves."""

from __future__ import annotations

import argparse
import os

from memgen.metrics import METRICS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "neighbors",
        help="exact k nearest neighbours (L2 or LPIPS) of queries among a reference set",
        description="Exact k-NN (SPEC §5.2) on plain .npy arrays: images (N, H, W, C) uint8 [0, 255] "
        "or float [-1, 1], or float vectors (N, D). Output: parquet with query, rank (1 = nearest), "
        "ref_index, distance (LPIPS value, or Euclidean L2).",
    )
    p.add_argument("--reference", required=True, help="reference .npy (e.g. the training pool)")
    p.add_argument(
        "--queries",
        help="query .npy (e.g. samples); default: the reference itself (implies nothing: "
        "pass --exclude-self to skip each query's own row)",
    )
    p.add_argument(
        "--metric",
        default="l2",
        choices=METRICS,
        help="l2 = Euclidean on flattened [-1, 1] pixels; lpips-* = LPIPS v0.1 with that backbone",
    )
    p.add_argument("--k", type=int, default=5, help="neighbours per query (default 5)")
    p.add_argument(
        "--exclude-self",
        action="store_true",
        help="queries and reference are one set: query i never matches reference i (also for duplicates)",
    )
    p.add_argument(
        "--reference-limit",
        type=int,
        default=None,
        help="use only the first N reference rows (the training subset of size K of a permuted pool)",
    )
    p.add_argument(
        "--experiment", default=None, help="experiment name, written as a column and provenance"
    )
    p.add_argument(
        "--K",
        type=int,
        default=None,
        help="training-set size K, written as a column and provenance",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="compute device (auto: cuda if visible)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="images per LPIPS embedding batch")
    p.add_argument(
        "--impl-version", type=int, default=1, help="stage implementation version (provenance)"
    )
    p.add_argument(
        "--random-backbone",
        action="store_true",
        help="TESTS ONLY: random LPIPS backbone (no ImageNet weights needed); distances are meaningless",
    )
    p.add_argument("--out", required=True, help="output .parquet")
    p.set_defaults(func=run)

    q = subparsers.add_parser(
        "pool-null",
        help="leave-one-out nearest-neighbour distances of the real pool (the thresholds' null)",
        description="For nested real subsets (the first n pool images, n = N, N/2, N/4, ...), the "
        "distance of each image to its nearest OTHER image of the subset, with the same exact search "
        "and metric as `memgen neighbors`. Output: parquet with n, query, ref_index, distance. The "
        "closest pairs of the full pool are logged (near-duplicates inside the data set).",
    )
    q.add_argument("--pool", required=True, help="real images .npy (the training pool)")
    q.add_argument("--metric", default="l2", choices=METRICS, help="distance (as for neighbors)")
    q.add_argument(
        "--min-size", type=int, default=8, help="smallest subset of the ladder (default 8)"
    )
    q.add_argument("--experiment", default=None, help="experiment name (column and provenance)")
    q.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="compute device"
    )
    q.add_argument("--batch-size", type=int, default=256, help="images per LPIPS embedding batch")
    q.add_argument("--impl-version", type=int, default=1, help="stage version (provenance)")
    q.add_argument(
        "--random-backbone",
        action="store_true",
        help="TESTS ONLY: random LPIPS backbone (no ImageNet weights needed); distances are meaningless",
    )
    q.add_argument("--out", required=True, help="output .parquet")
    q.set_defaults(func=run_pool_null)


def run(args: argparse.Namespace) -> int:
    from memgen.io import write_parquet
    from memgen.neighbors import open_array, search

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    ref = open_array(args.reference, "reference")
    same = args.queries is None or (
        os.path.exists(args.queries) and os.path.samefile(args.queries, args.reference)
    )
    qry = None if same else open_array(args.queries, "queries")
    if args.exclude_self and not same:
        raise ValueError(
            "--exclude-self needs --queries to be the reference file itself (or omitted)"
        )
    df, facts = search(
        ref,
        qry,
        args.metric,
        args.k,
        exclude_self=args.exclude_self,
        reference_limit=args.reference_limit,
        device=args.device,
        batch_size=args.batch_size,
        pretrained_backbone=not args.random_backbone,
    )
    df["metric"] = args.metric
    if args.experiment is not None:
        df["experiment"] = args.experiment
    if args.K is not None:
        df["K"] = args.K
    prov = dict(
        facts,
        reference=str(args.reference),
        queries=str(args.queries or args.reference),
        reference_limit=args.reference_limit,
        experiment=args.experiment,
        K=args.K,
        impl_version=args.impl_version,
        random_backbone=args.random_backbone,
    )
    write_parquet(df, args.out, provenance=prov)
    print(f"wrote {args.out}: {facts['n_queries']} queries x {args.k} neighbours ({args.metric})")
    return 0


def run_pool_null(args: argparse.Namespace) -> int:
    import logging

    from memgen.io import write_parquet
    from memgen.neighbors import open_array
    from memgen.null import closest_pairs, ladder_sizes, pool_null_table

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.min_size < 2:
        raise ValueError(f"--min-size must be >= 2, got {args.min_size}")
    pool = open_array(args.pool, "pool")
    sizes = ladder_sizes(pool.shape[0], args.min_size)
    df = pool_null_table(
        pool,
        args.metric,
        sizes,
        device=args.device,
        batch_size=args.batch_size,
        pretrained_backbone=not args.random_backbone,
    )
    df["metric"] = args.metric
    if args.experiment is not None:
        df["experiment"] = args.experiment
    pairs = closest_pairs(df)
    logging.getLogger("memgen.null").info(
        "closest pairs of distinct pool images (pool rows a, b):\n%s", pairs.to_string(index=False)
    )
    prov = dict(
        pool=str(args.pool),
        metric=args.metric,
        sizes=sizes,
        experiment=args.experiment,
        impl_version=args.impl_version,
        random_backbone=args.random_backbone,
    )
    write_parquet(df, args.out, provenance=prov, sort_by=["n", "query"])
    print(f"wrote {args.out}: leave-one-out neighbours of subsets {sizes} ({args.metric})")
    return 0

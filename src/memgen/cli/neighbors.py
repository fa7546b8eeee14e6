"""`memgen neighbors`: exact k-NN of generated samples among training images or among themselves;
`memgen pool-null`: the same search inside the real pool (the thresholds' null)."""

from __future__ import annotations

import argparse
import os

from memgen.cli.common import add_experiment_k, add_section_argument, section_arg

_RANDOM_BACKBONE_HELP = (
    "TESTS ONLY: random LPIPS backbone (no ImageNet weights needed); distances are meaningless"
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "neighbors",
        help="exact nearest neighbours (L2 or LPIPS) of queries among a reference set",
        description="Exact k-NN (docs/method.md §5.2) on plain .npy arrays: images (N, H, W, C) uint8 [0, 255] "
        "or float [-1, 1], or float vectors (N, D). The neighbors section gives the metric, the "
        "number of neighbours (k), the LPIPS batch size and the device. Output: parquet with query, "
        "rank (1 = nearest), ref_index, distance (LPIPS value, or Euclidean L2), metric, experiment, K.",
    )
    add_experiment_k(p, "training-set size K of the model (written as a column and provenance)")
    add_section_argument(p, "neighbors", "neighbors (metric, k, batch_size, device)", False)
    p.add_argument("--reference", required=True, help="reference .npy (e.g. the training pool)")
    p.add_argument(
        "--queries",
        help="query .npy (e.g. samples); default: the reference itself (implies nothing: "
        "pass --exclude-self to skip each query's own row)",
    )
    p.add_argument(
        "--n-neighbors",
        type=int,
        default=None,
        help="neighbours per query when fewer than the section's k exist (at most K training "
        "images, |S| - 1 other samples); default: the section's k",
    )
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
    p.add_argument("--random-backbone", action="store_true", help=_RANDOM_BACKBONE_HELP)
    p.add_argument("--out", required=True, help="output .parquet")
    p.set_defaults(func=run)

    q = subparsers.add_parser(
        "pool-null",
        help="leave-one-out nearest-neighbour distances of the real pool (the thresholds' null)",
        description="For nested real subsets (the first n pool images, n = N, N/2, N/4, ...), the "
        "distance of each image to its nearest OTHER image of the subset, with the same exact search "
        "and metric (neighbors section) as `memgen neighbors`. Output: parquet with n, query, "
        "ref_index, distance. The closest pairs of the full pool are logged (near-duplicates inside "
        "the data set).",
    )
    q.add_argument("--experiment", required=True, help="experiment name (column and provenance)")
    add_section_argument(q, "neighbors", "neighbors (metric, batch_size, device)", False)
    q.add_argument("--pool", required=True, help="real images .npy (the training pool)")
    q.add_argument(
        "--min-size",
        type=int,
        default=None,
        help="smallest subset of the ladder (default: memgen.null.MIN_LADDER, 8)",
    )
    q.add_argument("--random-backbone", action="store_true", help=_RANDOM_BACKBONE_HELP)
    q.add_argument("--out", required=True, help="output .parquet")
    q.set_defaults(func=run_pool_null)


def run(args: argparse.Namespace) -> int:
    from memgen.io import write_parquet
    from memgen.neighbors import NeighborsConfig, open_array, search

    cfg = section_arg(args, "neighbors", NeighborsConfig)
    n_neighbors = cfg.k if args.n_neighbors is None else args.n_neighbors
    if not 1 <= n_neighbors <= cfg.k:
        raise ValueError(
            f"--n-neighbors must lie in [1, neighbors.k = {cfg.k}], got {n_neighbors}"
        )
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
        cfg.metric,
        n_neighbors,
        exclude_self=args.exclude_self,
        reference_limit=args.reference_limit,
        device=cfg.device,
        batch_size=cfg.batch_size,
        pretrained_backbone=not args.random_backbone,
    )
    df["metric"] = cfg.metric
    df["experiment"] = args.experiment
    df["K"] = args.k
    prov = dict(
        facts,
        reference=str(args.reference),
        queries=str(args.queries or args.reference),
        reference_limit=args.reference_limit,
        experiment=args.experiment,
        K=args.k,
        impl_version=cfg.impl_version,
        random_backbone=args.random_backbone,
    )
    write_parquet(df, args.out, provenance=prov)
    print(f"wrote {args.out}: {facts['n_queries']} queries x {n_neighbors} neighbours ({cfg.metric})")
    return 0


def run_pool_null(args: argparse.Namespace) -> int:
    import logging

    from memgen.io import write_parquet
    from memgen.neighbors import NeighborsConfig, open_array
    from memgen.null import MIN_LADDER, closest_pairs, ladder_sizes, pool_null_table

    cfg = section_arg(args, "neighbors", NeighborsConfig)
    min_size = MIN_LADDER if args.min_size is None else args.min_size
    if min_size < 2:
        raise ValueError(f"--min-size must be >= 2, got {min_size}")
    pool = open_array(args.pool, "pool")
    sizes = ladder_sizes(pool.shape[0], min_size)
    df = pool_null_table(
        pool,
        cfg.metric,
        sizes,
        device=cfg.device,
        batch_size=cfg.batch_size,
        pretrained_backbone=not args.random_backbone,
    )
    df["metric"] = cfg.metric
    df["experiment"] = args.experiment
    pairs = closest_pairs(df)
    logging.getLogger("memgen.null").info(
        "closest pairs of distinct pool images (pool rows a, b):\n%s", pairs.to_string(index=False)
    )
    prov = dict(
        pool=str(args.pool),
        metric=cfg.metric,
        sizes=sizes,
        experiment=args.experiment,
        impl_version=cfg.impl_version,
        random_backbone=args.random_backbone,
    )
    write_parquet(df, args.out, provenance=prov, sort_by=["n", "query"])
    print(f"wrote {args.out}: leave-one-out neighbours of subsets {sizes} ({cfg.metric})")
    return 0

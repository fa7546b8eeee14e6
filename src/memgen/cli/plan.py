"""``memgen plan``: paper-scale resource estimate from the config files (no computation)."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    """Add ``plan`` to the memgen parser."""
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

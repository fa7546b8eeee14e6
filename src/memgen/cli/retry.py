"""memgen subcommand of the workflow's retried rules: ``retry-guard``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _retry_guard(args: argparse.Namespace) -> int:
    from memgen.retry import main

    return main(args.attempt, args.log, args.inputs)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "retry-guard",
        help="stop a retry that would repeat a configuration or data error (used by the workflow)",
        description=(
            "Exit 0 when attempt ATTEMPT of a job may run; exit 2, naming the error, when the "
            "previous attempt's LOG ends with a configuration or data error (memgen's exit status "
            "2), which a retry would only repeat. Time-outs and out-of-memory kills are retried."
        ),
    )
    p.add_argument("--attempt", type=int, required=True, help="this attempt (1 = the first)")
    p.add_argument("--log", type=Path, required=True, help="the job's log file")
    p.add_argument(
        "--inputs", type=Path, nargs="*", default=[], help="the job's input files (a log older "
        "than one of them is from an earlier run, not from the previous attempt)"
    )
    p.set_defaults(func=_retry_guard)

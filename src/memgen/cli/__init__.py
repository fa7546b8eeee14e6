"""The ``memgen`` command line: one subcommand per pipeline stage.

Each stage family lives in its own module under ``memgen.cli`` and exposes
``register(subparsers)``; this file only collects them. Subcommands parse arguments,
call one library function and write outputs atomically (no math here). Config reaches a
command only as its sections (``--<name>-config``, see ``memgen.cli.common``), never through
the environment; the environment sets only the thread count.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn

# Modules that contribute subcommands, in --help order.
STAGE_MODULES = [
    "memgen.cli.circle",
    "memgen.cli.data",
    "memgen.cli.train",
    "memgen.cli.sample",
    "memgen.cli.plan",
    "memgen.cli.neighbors",
    "memgen.cli.classify",
    "memgen.cli.basins",
    "memgen.cli.curvature",
    "memgen.cli.energy",
    "memgen.cli.snapshots",
    "memgen.cli.audit",
    "memgen.cli.tables",
    "memgen.cli.docs",
]


def default_threads() -> int:
    """Torch/BLAS threads of this process.

    ``MEMGEN_THREADS`` wins; under SLURM, the allocation (``SLURM_CPUS_PER_TASK``); under Snakemake,
    the rule's ``threads`` (Snakemake exports it to every shell job as ``OMP_NUM_THREADS``);
    standalone, every core this process may run on.
    """
    for var in ("MEMGEN_THREADS", "SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                msg = f"memgen: error: {var}={value!r} is not a whole number of threads"
                raise SystemExit(msg) from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity API (macOS)
        return max(1, os.cpu_count() or 1)


def _set_threads() -> None:
    # Set through the environment so that torch is only imported by the commands that need it.
    n = str(default_threads())
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = n
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(n))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memgen",
        description="Memorization-to-generalization analysis of diffusion models (pipeline stages).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in STAGE_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _set_threads()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        # Expected user-facing failures: one clear line, no traceback, non-zero exit.
        print(f"memgen {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


def console() -> NoReturn:
    """The ``memgen`` executable: :func:`main`, then an exit that skips the interpreter's teardown.

    Tearing down an interpreter that has loaded torch (freeing every module and object one by one)
    costs most of a second, which every pipeline job paid for nothing: all outputs are written
    atomically and closed by then. Streams and log handlers are flushed first. Uncaught exceptions
    still propagate as usual (traceback, ordinary exit). ``MEMGEN_FULL_EXIT=1`` restores the
    ordinary exit (e.g. to run atexit hooks of a profiler).
    """
    if os.environ.get("MEMGEN_FULL_EXIT", "").strip() not in ("", "0"):
        sys.exit(main())
    try:
        code = main()
    except SystemExit as err:  # argparse errors, --help
        code = err.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing left to flush
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()

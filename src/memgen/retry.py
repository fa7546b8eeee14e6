"""Retry only what can succeed on retry: ``python -m memgen.retry --attempt N --log LOG -- COMMAND``.

A stage command exits with status 2 after printing ``memgen <command>: error: <message>`` (also
argparse's format for a bad option) on a configuration or data error: the same inputs fail the same
way on every attempt. A time-out or an out-of-memory kill (SLURM ends the job from outside), a
crash with a traceback or a lost node does not, and may succeed with more time or memory.

The workflow's retried rules run their command through this wrapper. It runs COMMAND and, when
COMMAND exits with status 2, records the error line next to the job's log (``LOG.user-error``;
Snakemake deletes the log itself before every attempt). A later attempt of the same job that
finds the record does not run COMMAND again: it writes the recorded error and exits with status 2
at once. A record older than one of the job's ``--inputs`` is from an earlier run, not from this
job's previous attempt (a member of a SLURM group job that never ran because an upstream member
failed), and is ignored.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

# What memgen.cli.main (and argparse) print before exiting with status 2.
USER_ERROR = re.compile(r"^memgen [\w-]+: error: .*$", re.M)
USER_ERROR_STATUS = 2


def record_path(log: Path) -> Path:
    """Where the error of a job whose log is ``log`` is kept for its next attempt."""
    return log.with_name(log.name + ".user-error")


def user_error(log_text: str) -> str | None:
    """The last configuration or data error line of a stage command's log, or None."""
    found = USER_ERROR.findall(log_text)
    return found[-1] if found else None


def recorded_error(attempt: int, log: Path, inputs: list[Path] = ()) -> str | None:
    """The error that stops attempt ``attempt`` of the job logging to ``log`` (None: run it)."""
    record = record_path(log)
    if attempt <= 1 or not record.is_file():
        return None
    written = record.stat().st_mtime
    if any(f.exists() and f.stat().st_mtime > written for f in inputs):
        return None  # an earlier run's record: the inputs were written since
    return record.read_text(errors="replace").strip() or "memgen: error (exit status 2)"


def run(attempt: int, log: Path, command: list[str], inputs: list[Path] = ()) -> int:
    """Run ``command`` unless its previous attempt ended with a user error; returns the status."""
    error = recorded_error(attempt, log, inputs)
    if error is not None:
        print(
            f"memgen: attempt {attempt} not run: the previous attempt ended with a configuration "
            f"or data error, which a retry repeats (fix it, then run snakemake again):\n{error}",
            file=sys.stderr,
        )
        return USER_ERROR_STATUS
    record = record_path(log)
    record.unlink(missing_ok=True)
    sys.stderr.flush()
    status = subprocess.run(command).returncode
    if status == USER_ERROR_STATUS:
        text = log.read_text(errors="replace") if log.is_file() else ""
        record.write_text((user_error(text) or " ".join(command[:2]) + ": exit status 2") + "\n")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m memgen.retry",
        description="Run a stage command; on a retry after a configuration or data error "
        "(exit status 2), stop at once instead of running it again.",
    )
    parser.add_argument("--attempt", type=int, required=True, help="this attempt (1 = the first)")
    parser.add_argument("--log", type=Path, required=True, help="the job's log file")
    parser.add_argument(
        "--inputs", type=Path, nargs="*", default=[],
        help="the job's input files (a record older than one of them is from an earlier run)",
    )  # fmt: skip
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    return run(args.attempt, args.log, command, args.inputs)


if __name__ == "__main__":
    sys.exit(main())

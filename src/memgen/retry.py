"""Retry only what can succeed on retry.

A stage command exits with status 2 and the one line ``memgen <command>: error: <message>`` (also
argparse's format for a bad option) on a configuration or data error: the same inputs fail the same
way on every attempt. A time-out or an out-of-memory kill leaves no such line (SLURM ends the job
from outside), nor does a crash with a traceback. The workflow's retried rules run
``memgen retry-guard`` before their command: on a retry after a user error it stops at once, so the
error is reported once and not repeated with ever larger resource requests.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# What memgen.cli.main (and argparse) print before exiting with status 2.
USER_ERROR = re.compile(r"^memgen [\w-]+: error: .*$", re.M)


def user_error(log_text: str) -> str | None:
    """The configuration or data error line a stage command's log ends its run with, or None."""
    found = USER_ERROR.findall(log_text)
    return found[-1] if found else None


def guard(attempt: int, log: Path, inputs: list[Path] = ()) -> str | None:
    """Why attempt ``attempt`` must not run again (None: let it run).

    ``log`` is the rule's log file, which still holds the previous attempt's output when a retry
    starts (the command's own redirection truncates it afterwards). A log older than one of the
    job's ``inputs`` is not that attempt's: a job of a SLURM group job whose upstream member failed
    never ran, and its log is from an earlier run (its inputs were written since).
    """
    if attempt <= 1 or not log.is_file():
        return None
    written = log.stat().st_mtime
    if any(f.exists() and f.stat().st_mtime > written for f in inputs):
        return None
    error = user_error(log.read_text(errors="replace"))
    if error is None:
        return None
    return (
        f"memgen retry-guard: attempt {attempt} not run: attempt {attempt - 1} ended with a "
        f"configuration or data error, which a retry repeats (fix it, then run snakemake again):\n"
        f"  {error}\n  (log: {log})"
    )


def main(attempt: int, log: Path, inputs: list[Path] = ()) -> int:
    reason = guard(attempt, log, inputs)
    if reason is None:
        return 0
    print(reason, file=sys.stderr)
    return 2

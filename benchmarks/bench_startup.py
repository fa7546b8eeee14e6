"""Start-up and exit cost of a short `memgen` job: the interpreter's teardown vs the fast exit.

Every pipeline job is one `memgen` process; most analysis jobs run for a few seconds, so what a
process pays before and after its work is a visible share of the demo. Measured side by side, one
fresh interpreter per run, interleaved: (a) `import torch` then `memgen --help` through the installed
entry point's function with the fast exit, (b) the same with ``MEMGEN_FULL_EXIT=1`` (the interpreter's
ordinary teardown), (c) the dispatcher alone (`memgen --help` without torch), (d) `python -c pass`.
Prints wall seconds (median of --repeats) and the saving per job.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

TORCH_HELP = "import torch, sys; sys.argv = ['memgen', '--help']; from memgen.cli import console; console()"
HELP = "import sys; sys.argv = ['memgen', '--help']; from memgen.cli import console; console()"
CASES = {
    "import torch + memgen --help, fast exit": (TORCH_HELP, {}),
    "import torch + memgen --help, full exit": (TORCH_HELP, {"MEMGEN_FULL_EXIT": "1"}),
    "memgen --help (no torch), fast exit": (HELP, {}),
    "python -c pass": ("pass", {}),
}


def wall(code: str, env_extra: dict[str, str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MEMGEN_FULL_EXIT"} | env_extra
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):  # interleaved, so that load changes hit every case alike
        for name, (code, env) in CASES.items():
            times[name].append(wall(code, env))
    med = {name: statistics.median(v) for name, v in times.items()}
    for name, value in med.items():
        print(f"{name:45s} {value:6.3f} s  (median of {args.repeats})")
    fast, full = (med[n] for n in list(CASES)[:2])
    print(f"teardown saved per torch-importing job: {full - fast:.3f} s ({full / fast:.2f}x)")


if __name__ == "__main__":
    main()

"""Thread defaults of `memgen` commands: MEMGEN_THREADS, else the SLURM allocation, else the
Snakemake rule's threads, else every usable core."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memgen.cli import default_threads

REPO = Path(__file__).resolve().parents[1]
VARS = ("MEMGEN_THREADS", "SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS")
PROBE = "from memgen.cli import _set_threads; _set_threads(); import torch; print(torch.get_num_threads())"


@pytest.fixture
def clean_env(monkeypatch):
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_standalone_default_is_every_usable_core(clean_env):
    assert default_threads() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"MEMGEN_THREADS": "3"}, 3),
        ({"MEMGEN_THREADS": "3", "SLURM_CPUS_PER_TASK": "8", "OMP_NUM_THREADS": "2"}, 3),
        ({"SLURM_CPUS_PER_TASK": "8", "OMP_NUM_THREADS": "2"}, 8),
        ({"OMP_NUM_THREADS": "2"}, 2),
        ({"MEMGEN_THREADS": "0"}, 1),
    ],
)
def test_override_order(clean_env, env, expected):
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert default_threads() == expected


def test_bad_value_is_a_one_line_error(clean_env):
    clean_env.setenv("MEMGEN_THREADS", "many")
    with pytest.raises(SystemExit, match="MEMGEN_THREADS='many' is not a whole number"):
        default_threads()


def test_standalone_process_uses_the_usable_cores():
    env = {k: v for k, v in os.environ.items() if k not in VARS}
    env["PYTHONPATH"] = str(REPO / "src")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert int(out) == len(os.sched_getaffinity(0))


def test_snakemake_job_gets_the_rules_threads(tmp_path):
    """Snakemake exports a rule's threads to its shell as OMP_NUM_THREADS; memgen follows it
    (1 thread although more cores are usable: two such jobs share 2 cores, as the demo wants)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 usable cores to tell the rule's threads from the core count")
    (tmp_path / "Snakefile").write_text(
        "rule probe:\n"
        "    output: 'threads.txt'\n"
        "    threads: 1\n"
        f"    shell: {sys.executable!r} + ' -c ' + {repr(repr(PROBE))} + ' > {{output}}'\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in VARS}
    env["PYTHONPATH"] = str(REPO / "src")
    snakemake = str(Path(sys.executable).parent / "snakemake")
    subprocess.run([snakemake, "--cores", "2", "-q"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)  # fmt: skip
    assert int((tmp_path / "threads.txt").read_text()) == 1

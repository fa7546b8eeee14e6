"""`memgen plan` from an installed package: it needs no workflow files (the config section
defaults come from the package's own section dataclasses), so it runs from a copy of the package
outside the repository, in any directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _installed_copy(tmp_path: Path) -> dict[str, str]:
    """The package alone (as `pip install --target` lays it out), and an environment using it."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "src" / "memgen", site / "memgen", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    return env


def _plan(tmp_path: Path, env: dict[str, str], *configs: Path, experiment: str = "digits"):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "memgen.cli", "plan", "--config", *map(str, configs),
           "--experiment", experiment]  # fmt: skip
    return subprocess.run(cmd, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)


def test_plan_runs_from_a_copy_of_the_package_outside_the_repo(tmp_path):
    env = _installed_copy(tmp_path)
    where = subprocess.run([sys.executable, "-c", "import memgen; print(memgen.__file__)"],
                           env=env, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(str(tmp_path / "site")), where
    proc = _plan(tmp_path, env, REPO / "config.yaml", REPO / "workflow" / "configs" / "demo.yaml")
    assert proc.returncode == 0, proc.stderr
    row = next(line.split() for line in proc.stdout.splitlines() if line.split()[:1] == ["digits"])
    # digits demo: 8 K values, the MLP at its measured CPU throughput; samples = min(4K, 1000)
    assert row[1:4] == ["8", "mlp", "115.0"], row
    ks = [2, 8, 32, 100, 175, 250, 350, 1000]
    assert f" {sum(min(4 * k, 1000) for k in ks)} " in " ".join(row) + " ", row


def test_plan_names_a_misspelt_section_key(tmp_path):
    overlay = tmp_path / "typo.yaml"
    overlay.write_text(yaml.safe_dump({"images": {"digits": {"train": {"iteratons": 10}}}}))
    proc = _plan(tmp_path, _installed_copy(tmp_path), REPO / "config.yaml", overlay)
    assert proc.returncode == 2
    assert "iteratons" in proc.stderr and "unknown images.<E>.train config keys" in proc.stderr, proc.stderr

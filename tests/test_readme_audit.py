"""The README's "Audit your own model" examples run as written (on the tiny models the tests build)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Audit your own model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def _run(script: str, cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.setdefault("MEMGEN_THREADS", "1")
    env["PYTHONPATH"] = str(REPO / "src")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1800)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_readme_audit_example_runs(tmp_path):
    blocks = _blocks()
    assert len(blocks) == 2
    _run(blocks[0], tmp_path)
    exact = json.loads((tmp_path / "audit_exact" / "summary.json").read_text())
    assert exact["fractions"]["memorized"] == 1.0 and exact["K"] == 4
    mine = json.loads((tmp_path / "audit_my_unet" / "summary.json").read_text())
    assert mine["n_samples"] == 64 and (tmp_path / "audit_my_unet" / "fig3_hist_my_unet.png").is_file()


@pytest.mark.slow
def test_readme_sd_curvature_example_runs(tmp_path):
    _run(_blocks()[1], tmp_path)
    assert (tmp_path / "fig5b_tiny.png").is_file() and (tmp_path / "sd_tiny" / "spectra.parquet").is_file()

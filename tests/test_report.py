"""`snakemake --report` on a finished tiny run: every figure is inside, with a caption.

Uses the session-wide `tiny_run` fixture of tests/conftest.py (one complete tiny run shared with
the workflow tests); building the report itself takes a few seconds.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from conftest import snakemake


def report_results(html: str) -> dict[str, dict]:
    """The `var results = {...}` table Snakemake embeds in report.html (path -> metadata)."""
    # the bundled JavaScript has its own `var results = new Array(...)`: take the JSON one
    start = html.index("var results = {") + len("var results = ")
    table, _ = json.JSONDecoder().raw_decode(html[start:])
    return table


@pytest.fixture(scope="module")
def report_zip(tiny_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.zip"
    snakemake(tiny_run, "--report", str(out))
    return out


def test_report_contains_every_figure_with_caption(tiny_run, report_zip):
    figures_dir = tiny_run / "results" / "tiny" / "figures"
    files = sorted(p for p in figures_dir.iterdir() if p.is_file())
    # every figure is drawn as <stem>.png (shown in the report) + <stem>.pdf (vector copy for print;
    # in the report too if its rule wraps it in report())
    stems = sorted({p.stem for p in files})
    assert stems, f"the tiny run made no figures in {figures_dir}"
    top = report_zip.stem  # Snakemake puts everything under a folder named like the zip
    with zipfile.ZipFile(report_zip) as zf:
        members = set(zf.namelist())
        results = report_results(zf.read(f"{top}/report.html").decode())
        missing = []
        for stem in stems:
            png = figures_dir / f"{stem}.png"
            meta = results.get(png.relative_to(tiny_run).as_posix())  # keyed by workdir path
            if meta is None:
                missing.append(png.name)
                continue
            member = f"{top}/{meta['data_uri']}"
            assert member in members, f"{png.name}: {member} not in the zip"
            # the very file the pipeline wrote, not a stale or re-rendered copy
            assert zf.read(member) == png.read_bytes(), png.name
            caption = re.sub(r"<[^>]+>", "", meta["caption"]).strip()
            assert len(caption) > 20, f"{png.name}: empty or stub caption {meta['caption']!r}"
            assert meta["job_properties"]["rule"], png.name
        # whatever else the report holds from the figures dir is byte-identical too
        for path, meta in results.items():
            if path.startswith(figures_dir.relative_to(tiny_run).as_posix()):
                assert zf.read(f"{top}/{meta['data_uri']}") == (tiny_run / path).read_bytes()
    assert not missing, f"figures not in the report (wrap them in report(...)): {missing}"


def test_report_has_method_description(report_zip):
    with zipfile.ZipFile(report_zip) as zf:
        html = zf.read(f"{report_zip.stem}/report.html").decode()
    start = html.index("var workflow_desc = ")
    desc, _ = json.JSONDecoder().raw_decode(html[start + len("var workflow_desc = ") :])
    # workflow/report/workflow.rst, rendered with this run's config
    assert "Memorization to generalization" in desc
    assert "tiny" in desc and "digits" in desc

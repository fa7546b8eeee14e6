"""Config strings never reach a shell unquoted.

Every job's shell command of the tiny DAG (a dry run prints them all) is run through bash with a
stand-in `memgen` that only records what it received. Config values full of shell metacharacters
must arrive verbatim as one argument (or one environment value) and must never run anything.
String keys whose schema restricts them (enums, patterns) must be refused before anything runs.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import DEMO, TINY, snakemake

HOSTILE = {
    "data_root": "x' || touch marker_data_root; echo '",
    "path": "default $(touch marker_path) `touch marker_tick`; touch marker_semi",
    "style": "default $(touch marker_style) ; touch marker_style2",
    "device": "cpu'; touch marker_device; '",
}

FAKE_MEMGEN = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["FAKE_MEMGEN_LOG"], "a") as fh:
    fh.write(json.dumps({"argv": sys.argv[1:],
                         "style": os.environ.get("MEMGEN_FIGURE_STYLE")}) + "\\n")
"""


def _overlay(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _style(call: dict) -> str | None:
    """plots.style as a figure command received it: in --plots-config, else the environment."""
    argv = call["argv"]
    if "--plots-config" in argv:
        return json.loads(argv[argv.index("--plots-config") + 1]).get("style")
    return call["style"]


def _no_markers(root: Path, recursive: bool = True) -> list[str]:
    found = root.rglob("marker*") if recursive else root.glob("marker*")
    # `touch marker_x` makes suffix-less files; a virtualenv in the tree holds matplotlib/markers.py
    return [str(p) for p in found if "." not in p.name]


def test_hostile_strings_reach_commands_verbatim_and_run_nothing(tmp_path):
    overlay = _overlay(
        tmp_path,
        {
            "data_root": HOSTILE["data_root"],
            "plots": {"style": HOSTILE["style"]},
            "images": {
                "digits": {
                    "path": HOSTILE["path"],
                    # free-form strings of the analysis sections travel inside JSON params
                    "curvature": {"device": HOSTILE["device"]},
                    "energy": {"device": HOSTILE["device"]},
                }
            },
        },
    )
    proc = snakemake(tmp_path, "-n", "-p", configfiles=(DEMO, TINY, overlay))
    commands = re.findall(r"^Shell command: (memgen .*|MEMGEN_.*)$", proc.stdout, re.M)
    jobs = [r for r in re.findall(r"^(?:local)?rule (\w+):$", proc.stdout, re.M) if r != "all"]
    assert len(commands) == len(jobs) > 30, "every job of the DAG prints its shell command"
    rules = set(jobs)
    assert {"split", "split_check", "classify_figure", "circle_figure", "basins_figure"} <= rules

    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    fake = fake_bin / "memgen"
    fake.write_text(FAKE_MEMGEN)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / "calls.jsonl"
    env = dict(os.environ, PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    env["FAKE_MEMGEN_LOG"] = str(record)
    for cmd in commands:
        log = re.search(r"> (\S+) 2>&1$", cmd)
        if log:
            (tmp_path / log.group(1)).parent.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True)
        assert run.returncode == 0, (cmd, run.stderr)

    assert _no_markers(tmp_path) == [] and _no_markers(Path.cwd(), recursive=False) == []
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == len(commands), "every command must have reached memgen exactly once"
    by_cmd: dict[str, list[dict]] = {}
    for call in calls:
        by_cmd.setdefault(call["argv"][0], []).append(call)
    for call in by_cmd["split"] + by_cmd["split-check"]:
        assert f"--data-root={HOSTILE['data_root']}" in call["argv"]
        assert f"--path={HOSTILE['path']}" in call["argv"]
    figure_cmds = ("circle-figure", "basins-figure", "curvature-figure", "energy-figure")
    for name in figure_cmds:
        assert [_style(c) for c in by_cmd[name]] == [HOSTILE["style"]], name
    [classify_fig] = by_cmd["classify-figure"]
    assert f"--style={HOSTILE['style']}" in classify_fig["argv"]
    for name, flag in (("curvature", "--curvature-config"), ("energy", "--energy-config")):
        for call in by_cmd[name]:
            cfg = json.loads(call["argv"][call["argv"].index(flag) + 1])
            assert cfg["device"] == HOSTILE["device"]


def test_empty_path_is_passed_as_an_empty_argument(tmp_path):
    overlay = _overlay(tmp_path, {"images": {"digits": {"path": ""}}})
    proc = snakemake(tmp_path, "-n", "-p", "--until", "split", configfiles=(DEMO, TINY, overlay))
    [cmd] = re.findall(r"^Shell command: (memgen split .*)$", proc.stdout, re.M)
    assert " --path= " in cmd


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"run_name": "x; touch marker"}, "run_name"),
        ({"device": "cpu; touch marker"}, "device"),
        ({"images": {"digits": {"neighbors": {"metric": "l2 $(touch marker)"}}}}, "neighbors.metric"),
        ({"circle": {"train": {"device": "cpu`touch marker`"}}}, "circle.train.device"),
        ({"images": {"digits": {"model": {"reuse": "x; touch marker"}}}}, "digits.model.reuse"),
    ],
    ids=["run_name", "device", "metric", "circle-device", "model-reuse"],
)
def test_restricted_string_keys_refuse_metacharacters_before_running(tmp_path, bad, key):
    overlay = _overlay(tmp_path, bad)
    proc = snakemake(tmp_path, "-n", configfiles=(DEMO, TINY, overlay), check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr
    assert _no_markers(tmp_path) == []


def test_unknown_figure_style_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    from memgen.cli import main

    monkeypatch.setenv("MEMGEN_FIGURE_STYLE", HOSTILE["style"])
    monkeypatch.chdir(tmp_path)
    rc = main(["config-docs", "--schemas", str(TINY.parents[2] / "workflow" / "schemas"),
               "--out", str(tmp_path / "c.md")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "plots.style" in err and "not a matplotlib style" in err
    assert _no_markers(tmp_path) == []

"""Shared fixtures: run the real Snakefile in a temp workdir with the tiny overlay."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
DEMO = REPO / "workflow" / "configs" / "demo.yaml"
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    # Jobs call `memgen`; make sure the venv's bin is first even when pytest was started by path.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MEMGEN_THREADS", "1")
    return env


def snakemake(
    workdir: Path, *args: str, configfiles=(DEMO, TINY), check=True, timeout=900, env=None
):
    """Run the repo's Snakefile in ``workdir`` with config overlays (``env``: extra environment
    variables); returns CompletedProcess."""
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    cmd += list(args)
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=_env(env), timeout=timeout, cwd=workdir
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}\n"
            f"{proc.stderr[-8000:]}"
        )
    return proc


def planned_jobs(
    workdir: Path, *args: str, configfiles=(DEMO, TINY), env=None
) -> dict[str, int]:
    """Rule -> job count that a dry run would schedule ({} when nothing is to be done)."""
    proc = snakemake(workdir, "-n", *args, configfiles=configfiles, env=env)
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    m = re.search(r"Job stats:\n(.*?)\n\n", out, re.S)
    assert m, f"no job stats in dry-run output:\n{out[-3000:]}"
    jobs = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        # `all` is the aggregate target: it is rescheduled whenever anything is.
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total", "all"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once per test session, also when pytest-xdist runs several workers.

    `make test` runs two workers (``--dist loadfile``: a module's tests, and so its module
    fixtures, stay on one worker). A session fixture runs once per worker, so a whole-pipeline run
    used by several modules would be made twice, side by side; here the first worker that needs
    it builds it in the folder the workers share, under a file lock, and the others wait for it.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # one per session, shared by its workers
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed on another worker
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A complete tiny run of the whole pipeline (circle + digits); returns its workdir."""
    return built_once(tmp_path_factory, "tiny_run", lambda workdir: snakemake(workdir, "--cores", "2"))


@pytest.fixture
def tiny_copy(tiny_run, tmp_path) -> Path:
    """A private copy of the finished tiny run, for tests that change config and rerun."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst, symlinks=True)
    return dst


@pytest.fixture(scope="session")
def hub_backbones(tmp_path_factory) -> Path:
    """A TORCH_HOME whose hub cache holds random-weight AlexNet/VGG16 checkpoints (paperdata)."""
    from paperdata import write_backbones

    return built_once(tmp_path_factory, "torch_home", write_backbones)


@pytest.fixture(scope="session")
def paper_mini_run(tmp_path_factory, hub_backbones) -> Path:
    """The miniature paper run of the base experiments and cifar10_s8x; returns its workdir.

    Here, not in test_paper_mini, so that every module shares one run (a session fixture defined in
    two modules runs twice)."""
    from test_paper_mini import FAST_EXPERIMENTS, MINI, mini_run

    def build(workdir: Path) -> None:
        env, args, seconds = mini_run(workdir, FAST_EXPERIMENTS, hub_backbones)
        (workdir / "wall_seconds.txt").write_text(f"{seconds:.0f}\n")
        print(f"miniature paper run ({', '.join(FAST_EXPERIMENTS)}): {seconds:.0f} s")
        assert planned_jobs(workdir, *args, configfiles=(MINI,), env=env) == {}, "a rerun plans work"

    return built_once(tmp_path_factory, "paper_mini", build)


"""docs/api.md runs: its code blocks, in order, as one notebook session on a synthetic results folder.

The folder mimics a finished run (results/demo/digits: per-K classes tables written like `memgen
classify`, thresholds, and fractions/sweep/histograms written by `memgen fractions` itself), and the
user's own arrays train.npy / samples.npy have planted memorized, spurious and generalized samples, so
the classes the documented calls produce are known.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from memgen.classify import classify_table
from memgen.io import write_parquet
from memgen.neighbors import search
from memgen.thresholds import choose_thresholds

REPO = Path(__file__).resolve().parents[1]
API_MD = REPO / "docs" / "api.md"
D = 64
N_COPIES, N_PAIRS, N_NOVEL = 10, 3, 8  # planted: memorized, spurious pairs, generalized


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def planted(n_train: int, n_copies: int, n_pairs: int, n_novel: int, seed: int = 0):
    """Training vectors 10 (1 + 0.01 i) e_i (nearest real pair ~14.2 apart) and samples: copies of
    training points, pairs of near-identical novel points and distinct novel points (20 e_j, >= 22 from
    everything else), each with 1e-3 noise."""
    rng = np.random.default_rng(seed)
    train = np.zeros((n_train, D), np.float32)
    train[np.arange(n_train), np.arange(n_train)] = 10 * (1 + 0.01 * np.arange(n_train))
    novel = np.zeros((n_pairs + n_novel, D), np.float32)
    novel[np.arange(len(novel)), n_train + np.arange(len(novel))] = 20.0
    samples = np.concatenate(
        [train[:n_copies], np.repeat(novel[:n_pairs], 2, axis=0), novel[n_pairs:]]
    )
    samples = samples + rng.normal(0, 1e-3, samples.shape).astype(np.float32)
    return train, samples


def write_results(root: Path) -> None:
    """results/demo/digits with K = 8 and 32, tables in the pipeline's formats."""
    exp = root / "results" / "demo" / "digits"
    d_train, d_synth, paths = {}, {}, []
    for k in (8, 32):
        train, samples = planted(k, min(k, 8), 2, k - 4, seed=k)
        tnn, _ = search(train, samples, "l2", 5, progress=False)
        snn, _ = search(samples, None, "l2", 5, exclude_self=True, progress=False)
        df = classify_table(tnn, snn, 1.0, 1.0)
        df.insert(0, "K", k)
        df.insert(0, "experiment", "digits")
        path = exp / f"K{k}" / "classes.parquet"
        write_parquet(df, path, provenance={"experiment": "digits", "K": k, "delta_m": 1.0,
                                            "delta_s": 1.0}, sort_by=["sample"])
        paths.append(path)
        d_train[k], d_synth[k] = df["d_train"].to_numpy(), df["d_synth"].to_numpy()
    th = pd.DataFrame(choose_thresholds(d_train, d_synth, 1.0, 1.0))
    th.insert(0, "experiment", "digits")
    write_parquet(th, exp / "thresholds.parquet", sort_by=["K"])
    from memgen.cli import main

    rc = main(["fractions", "--experiment", "digits", "--classes", *map(str, paths), "--out", str(exp / "fractions.parquet"),
               "--sweep-out", str(exp / "sweep.parquet"),
               "--histograms-out", str(exp / "histograms.parquet")])
    assert rc == 0


@pytest.fixture
def session(tmp_path, monkeypatch):
    write_results(tmp_path)
    train, samples = planted(32, N_COPIES, N_PAIRS, N_NOVEL)
    np.save(tmp_path / "train.npy", train)
    np.save(tmp_path / "samples.npy", samples)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    blocks = code_blocks(API_MD.read_text())
    assert len(blocks) >= 6, "docs/api.md lost its code blocks"
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md block {i + 1}", "exec"), ns)
        except Exception as err:  # name the block that broke
            raise AssertionError(f"docs/api.md code block {i + 1} fails: {err!r}\n{block}") from err
    return tmp_path, ns


def test_api_docs_run_and_give_the_planted_classes(session):
    root, ns = session
    # section 1: the run's tables, all K in one table
    assert sorted(ns["classes"]["K"].unique()) == [8, 32]
    assert set(ns["fractions"]["class"]) >= {"memorized", "spurious", "generalized"}
    assert ns["provenance"]["delta_m"] == 1.0
    # section 2: the user's samples get exactly the planted classes
    counts = ns["mine"]["class"].value_counts().to_dict()
    assert counts == {"memorized": N_COPIES, "spurious": 2 * N_PAIRS, "generalized": N_NOVEL}
    mine = ns["mine"]
    assert mine[mine["class"] == "spurious"]["duplicate_group"].nunique() == N_PAIRS
    # the null threshold lies between the closest real pair (~14.2) and the novel samples (>= 22)
    assert 14.1 < ns["delta_m"] < 15.0 and ns["delta_s"] == ns["delta_m"]
    fr = ns["mine_fractions"].set_index("class")["fraction"]
    assert fr["memorized"] == pytest.approx(N_COPIES / 24)
    # section 3: figures saved as PNG + PDF
    for stem in ("fig4a_digits", "fig3_digits", "fig4a_mine"):
        png, pdf = root / "figures" / f"{stem}.png", root / "figures" / f"{stem}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert pdf.read_bytes()[:5] == b"%PDF-", stem
    assert [p.name for p in ns["paths"]] == ["fig4a_digits.png", "fig4a_digits.pdf"]


def test_every_memgen_name_in_the_guide_exists():
    """Names in the prose (`memgen.figures.basins`, `log_volume_figure`, ...) resolve: module or attribute."""
    text = API_MD.read_text()
    names = sorted(set(re.findall(r"`(memgen(?:\.\w+)+)`", text)))
    assert "memgen.figures.basins" in names
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            module, _, attr = name.rpartition(".")
            assert hasattr(importlib.import_module(module), attr), f"docs/api.md names {name}"
    # functions named next to their module in the last paragraph
    for module, attr in (("memgen.figures.basins", "log_volume_figure"),
                         ("memgen.figures.basins", "critical_time_figure"),
                         ("memgen.figures.curvature", "curvature_figure"),
                         ("memgen.figures.energy", "energy_gap_figure"),
                         ("memgen.figures.sd_curvature", "sd_curvature_figure"),
                         ("memgen.figures.circle", "circle_figure"),
                         ("memgen.models", "load_net")):
        assert re.search(rf"`({module}\.)?{attr}`", text) and hasattr(importlib.import_module(module), attr)


def test_package_ships_py_typed():
    assert (REPO / "src" / "memgen" / "py.typed").is_file()
    # (no tomllib: Python 3.10 is supported)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^\[tool\.setuptools\.package-data\]\nmemgen = \[[^]]*"py\.typed"', pyproject, re.M)

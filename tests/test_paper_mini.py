"""The paper configuration end to end, in miniature: every stage, every figure, then a no-op rerun.

``tests/configs/paper_mini.yaml`` keeps every experiment of ``config.yaml`` with every value that is not
a size at its paper default (UNet presets narrowed by ``model.width_scale``, LPIPS-AlexNet neighbours,
LPIPS-VGG basins, score-matrix curvature, energy, automatic thresholds, synthetic sets of 4 K and 8 K,
cifar10_s8x reusing the cifar10 models). ``tests/paperdata.py`` writes the data in the real on-disk
formats and random-weight ImageNet backbones where torchvision's hub cache looks, so LPIPS loads them
exactly as it loads the real weights. The fast suite runs mnist, fmnist, cifar10, church and
cifar10_s8x; the ``slow`` test runs all experiments (capacity variants and circle included).

By hand (from the repository root; any scratch directory)::

    export PYTHONPATH=$PWD/src:$PWD/tests MEMGEN_THREADS=1 TORCH_HOME=/tmp/mini/torch
    python -c "from pathlib import Path; import paperdata as p; \\
        p.write_paper_data(Path('/tmp/mini/data')); p.write_backbones(Path('/tmp/mini/torch'))"
    snakemake --cores 2 -s $PWD/Snakefile --directory /tmp/mini \\
        --configfile $PWD/tests/configs/paper_mini.yaml --config data_root=/tmp/mini/data
    # all experiments; for a subset add to the same --config: 'experiments=["cifar10","cifar10_s8x"]'


Outputs land in /tmp/mini/results/paper_mini/ (figures in figures/). Through SLURM add
``--profile slurm`` (TORCH_HOME and PYTHONPATH must reach the jobs' environment).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, planned_jobs, snakemake
from paperdata import BACKBONES, N_LSUN, write_paper_data

MINI = REPO / "tests" / "configs" / "paper_mini.yaml"
FAST_EXPERIMENTS = ["mnist", "fmnist", "cifar10", "church", "cifar10_s8x"]
SLOW_EXPERIMENTS = ["cifar10_nf64", "cifar10_nf96", "church_nf64", "church_nf96", "circle"]
RUN = "results/paper_mini"


def readme_figures(experiment: str) -> list[str]:
    """File stems of the README's "Paper figures" table that apply to ``experiment``."""
    text = (REPO / "README.md").read_text()
    table = text.split("## Paper figures", 1)[1].split("\n## ", 1)[0]
    stems = re.findall(r"^\| [^|]+ \| `([^`]+)` \|", table, re.M)
    assert len(stems) >= 10, f"README paper-figure table not found or changed: {stems}"
    if experiment == "circle":
        return [s for s in stems if "<exp>" not in s]
    return [s.replace("<exp>", experiment) for s in stems if "<exp>" in s]


def mini_run(
    workdir: Path, experiments: list[str], torch_home: Path
) -> tuple[dict[str, str], list[str], float]:
    """Write the data under workdir/data (the overlay's data_root) and run; returns env, args, s."""
    write_paper_data(workdir / "data")
    env = {"TORCH_HOME": str(torch_home)}
    args = ["--config", "experiments=" + json.dumps(experiments)]
    start = time.monotonic()
    snakemake(workdir, "--cores", "2", *args, configfiles=(MINI,), env=env, timeout=3600)
    return env, args, time.monotonic() - start


def check_figures(workdir: Path, experiments: list[str]) -> None:
    missing = [
        f"{stem}.{ext}"
        for e in experiments
        for stem in readme_figures(e)
        for ext in ("png", "pdf")
        if not (workdir / RUN / "figures" / f"{stem}.{ext}").is_file()
    ]
    assert not missing, f"figures missing: {missing}"
    for e in experiments:
        for stem in readme_figures(e):
            png = (workdir / RUN / "figures" / f"{stem}.png").read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, stem


def test_every_readme_figure_of_every_base_experiment(paper_mini_run):
    check_figures(paper_mini_run, FAST_EXPERIMENTS)


def test_lpips_loads_the_hub_cache_backbones(tmp_path, hub_backbones, monkeypatch):
    """LPIPS reads the written checkpoints through torchvision (not a random re-initialisation)."""
    import torch

    from memgen.perceptual import BACKBONE_FILES, load_lpips

    assert set(BACKBONES.values()) == {BACKBONE_FILES["alex"], BACKBONE_FILES["vgg"]}
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        load_lpips("vgg")
    monkeypatch.setenv("TORCH_HOME", str(hub_backbones))
    folder = hub_backbones / "hub" / "checkpoints"
    for net, arch in (("alex", "alexnet"), ("vgg", "vgg16")):
        saved = torch.load(folder / BACKBONES[arch], weights_only=True)["features.0.weight"]
        first_conv = load_lpips(net).net.slice1[0].weight
        assert torch.equal(first_conv, saved), net


def test_data_read_in_the_real_formats(paper_mini_run):
    run = paper_mini_run / RUN
    pools = {e: np.load(run / e / "train_pool.npy", mmap_mode="r") for e in FAST_EXPERIMENTS}
    assert pools["mnist"].shape == (8, 28, 28, 1) and pools["fmnist"].shape == (8, 28, 28, 1)
    assert pools["cifar10"].shape == (8, 32, 32, 3) and pools["church"].shape == (8, 64, 64, 3)
    split = pd.read_parquet(run / "church" / "split.parquet")
    assert len(split) == N_LSUN  # every lmdb record decoded and ADM-cropped
    data = paper_mini_run / "data"
    assert (data / "MNIST/raw/train-images-idx3-ubyte.gz").is_file()
    assert (data / "FashionMNIST/raw/train-images-idx3-ubyte").is_file()


def test_paper_methods_ran(paper_mini_run):
    run = paper_mini_run / RUN
    # Table 3 architecture, narrowed: cifar10_128 at width 1/8 -> 16, 32, 32, 32 channels.
    cfg = json.loads((run / "cifar10/K8/model/config.json").read_text())
    assert list(cfg["block_out_channels"]) == [16, 32, 32, 32] and cfg["norm_num_groups"] == 4
    assert "AttnDownBlock2D" in cfg["down_block_types"] and cfg["dropout"] == 0.1
    assert not (run / "cifar10_s8x/K8/model").exists()  # reuses the cifar10 models
    assert len(np.load(run / "cifar10_s8x/K8/samples.npy", mmap_mode="r")) == 64
    assert len(np.load(run / "cifar10/K8/samples.npy", mmap_mode="r")) == 32
    for e, metric in (("mnist", "l2"), ("cifar10", "lpips-alex"), ("church", "lpips-alex")):
        nn = pd.read_parquet(run / e / "K8/nn_train.parquet")
        assert set(nn["metric"]) == {metric} and nn["distance"].between(0, np.inf).all()
    for e in FAST_EXPERIMENTS:
        basins = pd.read_parquet(run / e / "K8/basins.parquet")
        done = basins[~basins["skipped"]]
        assert set(basins["metric"]) == {"lpips-vgg"} and len(done) > 0, e
        assert np.isfinite(done["log_volume"]).all(), e
    # Alg 2 perturbation count M = min(m_factor d, m_max) at the overlay's 1/32 scale.
    for e, m in (("mnist", 24), ("cifar10", 96), ("church", 128)):
        curv = pd.read_parquet(run / e / "K8/curvature.parquet")
        assert set(curv.loc[~curv["skipped"], "m"]) == {m}, e
    for e in FAST_EXPERIMENTS:
        th = pd.read_parquet(run / e / "thresholds.parquet")
        assert (th["delta_m"] > 0).all() and (th["delta_s"] > 0).all(), e
        assert not th["method_m"].eq("manual").any(), e


@pytest.mark.slow
def test_every_experiment_of_the_paper_config(tmp_path, hub_backbones):
    experiments = FAST_EXPERIMENTS + SLOW_EXPERIMENTS
    env, args, seconds = mini_run(tmp_path, experiments, hub_backbones)
    print(f"miniature paper run (all experiments): {seconds:.0f} s")
    check_figures(tmp_path, experiments)
    assert planned_jobs(tmp_path, *args, configfiles=(MINI,), env=env) == {}
    for e, chans in (("cifar10_nf64", [8, 16, 16, 16]), ("church_nf96", [12, 12, 24, 24, 48, 48])):
        cfg = json.loads((tmp_path / RUN / e / "K8/model/config.json").read_text())
        assert list(cfg["block_out_channels"]) == chans, e

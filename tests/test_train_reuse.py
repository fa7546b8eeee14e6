"""memgen train copies an identical finished model of another experiment instead of retraining."""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch

from memgen.io import read_provenance
from memgen.train import TrainConfig, train_model

torch.set_num_threads(1)
MLP = {"kind": "mlp", "width": 16, "blocks": 1}
CFG = TrainConfig(iterations=4, batch_size=4, checkpoint_every=4, log_every=2, device="cpu")


def run(tmp_path, name, data, cfg=CFG, reuse=None):
    d = tmp_path / name
    train_model(data, MLP, cfg, d / "model", d / "train_log.parquet", d / "scratch",
                provenance={"experiment": name}, progress=False, reuse_from=reuse)  # fmt: skip
    return d


def test_identical_model_is_copied_and_a_different_one_trained(tmp_path):
    data = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    src = run(tmp_path, "sweep", data)
    weights = "model/diffusion_pytorch_model.safetensors"
    reuse = (src / "model", src / "train_log.parquet")
    dst = run(tmp_path, "dense", data, reuse=reuse)
    assert (dst / weights).read_bytes() == (src / weights).read_bytes()
    assert not (dst / "scratch").exists()  # nothing was trained
    log = pd.read_parquet(dst / "train_log.parquet")
    assert set(log["experiment"]) == {"dense"} and len(log) == 2
    assert read_provenance(dst / "train_log.parquet")["copied_from"] == str(src / "model")
    assert (dst / "model" / "scheduler_config.json").is_file()
    # other training images (a different subset) or another budget: trained, not copied
    other = run(tmp_path, "other", data.flip(0), reuse=reuse)
    assert (other / "scratch").exists()
    longer = run(tmp_path, "longer", data, cfg=dataclasses.replace(CFG, iterations=6), reuse=reuse)
    assert (longer / "scratch").exists()
    assert (longer / weights).read_bytes() != (src / weights).read_bytes()

"""Sharded sampling: determinism, resume after an interruption between shards, outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import memgen.sample as sample_mod
from memgen.io import read_parquet, read_provenance
from memgen.models import build_model
from memgen.sample import SampleConfig, sample_model, shard_seed

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("m") / "model"
    torch.manual_seed(0)
    build_model({"kind": "mlp", "width": 16, "blocks": 1}, (1, 8, 8)).save_pretrained(d)
    return d


CFG = SampleConfig(ratio=4, max=10, shard_size=4, sampler="ddim", steps=10, seed=5)


def _run(model_dir, root, cfg=CFG, k=3):
    return np.asarray(sample_model(model_dir, k, "digits", cfg, root / "s.npy", root / "s.parquet",
                                   root / "scratch", grid_png=root / "grid.png", progress=False))  # fmt: skip


def test_same_seed_same_samples_and_outputs(model_dir, tmp_path):
    a, b = _run(model_dir, tmp_path / "a"), _run(model_dir, tmp_path / "b")
    assert a.shape == (10, 8, 8, 1) and a.dtype == np.float32  # min(4*3, 10)
    assert np.array_equal(a, b)
    assert np.abs(a).max() <= 1.0
    c = _run(model_dir, tmp_path / "c", SampleConfig(**{**CFG.__dict__, "seed": 6}))
    assert not np.array_equal(a, c)
    m = read_parquet(tmp_path / "a" / "s.parquet")
    assert list(m["sample"]) == list(range(10)) and list(m["shard"]) == [0] * 4 + [1] * 4 + [2] * 2
    assert set(m["seed"]) == {shard_seed(5, 3, s) for s in range(3)}
    assert (
        set(m["sampler"]) == {"ddim"} and set(m["K"]) == {3} and set(m["experiment"]) == {"digits"}
    )
    prov = read_provenance(tmp_path / "a" / "s.parquet")
    assert prov["n"] == 10 and len(prov["model_hash"]) == 16 and prov["config"]["seed"] == 5
    assert (tmp_path / "a" / "grid.png").stat().st_size > 0


def test_resume_after_interruption_between_shards(model_dir, tmp_path, monkeypatch):
    ref = _run(model_dir, tmp_path / "ref")
    real, calls = sample_mod._draw, []

    def dies_on_third_shard(*args):
        calls.append(args[3])
        if len(calls) == 3:
            raise KeyboardInterrupt("killed between shards")
        return real(*args)

    monkeypatch.setattr(sample_mod, "_draw", dies_on_third_shard)
    with pytest.raises(KeyboardInterrupt):
        _run(model_dir, tmp_path / "r")
    assert not (tmp_path / "r" / "s.npy").exists()
    calls.clear()
    out = _run(model_dir, tmp_path / "r")
    assert calls == [shard_seed(5, 3, 2)]  # only the missing shard is drawn again
    assert np.array_equal(out, ref)


def test_sample_counts_and_ddpm_shapes(model_dir, tmp_path):
    assert SampleConfig().n_samples(2000) == 8000  # paper: 4K
    assert (
        SampleConfig(max=1000).n_samples(1797) == 1000 and SampleConfig(max=1000).n_samples(8) == 32
    )
    assert SampleConfig(min=64).n_samples(2) == 64
    with pytest.raises(ValueError, match="sampler"):
        SampleConfig.from_dict({"sampler": "euler"})
    out = _run(
        model_dir, tmp_path, SampleConfig(ratio=1, shard_size=2, sampler="ddpm", steps=50), k=3
    )
    assert out.shape == (3, 8, 8, 1) and np.abs(out).max() <= 1.0

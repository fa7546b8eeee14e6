"""Resumable DDPM training: SIGKILL + resume is bitwise identical, NaN stops with the step,
and a model trained briefly on K = 2 digits memorizes them."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.datasets import load_digits

from memgen.models.mlp import ResidualMLP
from memgen.sample import SampleConfig, sample_model
from memgen.train import NonFiniteLossError, TrainConfig, train_model

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
MLP = {"kind": "mlp", "width": 64, "blocks": 2}


def digits() -> np.ndarray:
    """sklearn digits as (1797, 8, 8, 1) float32 in [-1, 1] (x/8 - 1)."""
    return (load_digits().images.astype(np.float32) / 8.0 - 1.0)[..., None]


def _argv(tmp: Path, pool: Path, tcfg: dict, tag: str) -> list[str]:
    return ["train", "--pool", str(pool), "--k", "16",
           "--experiment", "digits", "--model-config", json.dumps(MLP),
           "--train-config", json.dumps(tcfg), "--model-dir", str(tmp / tag / "model"),
           "--log", str(tmp / tag / "train_log.parquet"), "--scratch", str(tmp / tag / "scratch"),
           "--no-progress"]  # fmt: skip


def _cli_train(tmp: Path, pool: Path, tcfg: dict, tag: str) -> subprocess.Popen:
    env = dict(os.environ, MEMGEN_THREADS="1", PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "memgen.cli", *_argv(tmp, pool, tcfg, tag)]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_sigkill_then_resume_gives_bitwise_identical_ema(tmp_path, caplog):
    pool = tmp_path / "train_pool.npy"
    np.save(pool, digits()[:32])
    tcfg = {"iterations": 600, "batch_size": 8, "lr": 1e-3, "ema_decay": 0.99, "checkpoint_every": 50,
            "log_every": 50, "device": "cpu", "seed": 11}  # fmt: skip
    ref = _cli_train(tmp_path, pool, tcfg, "ref")  # uninterrupted, runs alongside
    victim = _cli_train(tmp_path, pool, tcfg, "killed")
    ckpt = tmp_path / "killed" / "scratch" / "ckpt.pt"
    deadline = time.time() + 60
    while not ckpt.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert not (tmp_path / "killed" / "model").exists()
    state = torch.load(ckpt, weights_only=False)
    assert 0 < state["step"] < 600

    resumed = _cli_train(tmp_path, pool, tcfg, "killed")
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out
    assert "resumed from" in out and f"at step {state['step']}" in out
    ref_out, _ = ref.communicate(timeout=120)
    assert ref.returncode == 0, ref_out

    a = load_file(tmp_path / "ref" / "model" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "killed" / "model" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key  # bitwise, not allclose
    log = __import__("pandas").read_parquet(tmp_path / "killed" / "train_log.parquet")
    assert (
        log["step"].max() == 600 and set(log["K"]) == {16} and set(log["experiment"]) == {"digits"}
    )

    # A finished model is never retrained: a rerun returns at once and leaves the files alone.
    mtime = (tmp_path / "killed" / "model" / "config.json").stat().st_mtime_ns
    from memgen.cli import main

    with caplog.at_level(logging.INFO, logger="memgen.train"):
        assert main(_argv(tmp_path, pool, tcfg, "killed")) == 0
    assert "not retraining" in caplog.text
    assert (tmp_path / "killed" / "model" / "config.json").stat().st_mtime_ns == mtime


class NanAt(ResidualMLP):
    """Returns NaN from the given forward call on (simulates a diverging run)."""

    bad_call = 77

    def forward(self, sample, timestep):
        self.calls = getattr(self, "calls", 0) + 1
        out = super().forward(sample, timestep)
        return out * float("nan") if self.calls > self.bad_call else out


def test_nan_loss_stops_naming_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    import memgen.train as train_mod

    monkeypatch.setattr(
        train_mod,
        "build_model",
        lambda cfg, shape: NanAt(sample_shape=shape, width=16, num_blocks=1),
    )
    data = torch.as_tensor(digits()[:4]).permute(0, 3, 1, 2)
    cfg = TrainConfig(iterations=200, batch_size=4, checkpoint_every=50, log_every=10, device="cpu")
    with pytest.raises(NonFiniteLossError, match=r"at step 77 .*last good checkpoint"):
        train_model(data, MLP, cfg, tmp_path / "model", tmp_path / "log.parquet", tmp_path / "scratch",
                    progress=False)  # fmt: skip
    state = torch.load(tmp_path / "scratch" / "ckpt.pt", weights_only=False)
    assert state["step"] == 50
    assert all(torch.isfinite(v).all() for v in state["ema"].values())
    assert not (tmp_path / "model").exists() and not (tmp_path / "log.parquet").exists()


def test_epoch_batches_are_min_of_batch_and_k_without_replacement():
    from memgen.training import BatchOrder

    order = BatchOrder(5, 128, "epoch", 0, drop_last=True)
    first, second = order.next(), order.next()
    assert order.batch == 5 and sorted(first.tolist()) == list(range(5)) == sorted(second.tolist())
    order = BatchOrder(10, 4, "epoch", 0, drop_last=True)  # 2 batches per epoch, then a new permutation
    seen = torch.cat([order.next(), order.next()])
    assert len(set(seen.tolist())) == 8
    order.next()
    assert order.pos == 4


def test_epoch_batches_keep_the_short_last_batch_without_drop_last():
    """The circle's epochs (like a DataLoader): 10 points in batches of 4 -> 4, 4, 2, then reshuffle."""
    from memgen.training import BatchOrder

    order = BatchOrder(10, 4, "epoch", torch.Generator().manual_seed(0), drop_last=False)
    epoch = [order.next() for _ in range(3)]
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(torch.cat(epoch).tolist()) == list(range(10))
    assert len(order.next()) == 4 and order.pos == 4


def test_batch_order_state_round_trip_continues_the_same_batches():
    from memgen.training import BatchOrder

    for mode in ("epoch", "replacement"):
        a = BatchOrder(7, 3, mode, 1, drop_last=False)
        a.next(), a.next()
        b = BatchOrder(7, 3, mode, 99, drop_last=False)
        b.load_state_dict(a.state_dict())
        for _ in range(5):
            assert torch.equal(a.next(), b.next()), mode


def test_k2_digits_model_memorizes(tmp_path):
    """Sanity check of the whole paper: at tiny K samples are copies of training images."""
    x = digits()
    train, rest = x[:2], x[2:]
    cfg = TrainConfig(iterations=400, batch_size=128, lr=2e-3, ema_decay=0.999, ema_warmup=True,
                      batching="replacement", checkpoint_every=10_000, device="cpu")  # fmt: skip
    model_cfg = {"kind": "mlp", "width": 128, "blocks": 3}
    train_model(torch.as_tensor(train).permute(0, 3, 1, 2), model_cfg, cfg, tmp_path / "model",
                tmp_path / "log.parquet", tmp_path / "scratch", progress=False)  # fmt: skip
    s = sample_model(tmp_path / "model", 2, "digits", SampleConfig(ratio=8, shard_size=16),
                     tmp_path / "s.npy", tmp_path / "s.parquet", tmp_path / "scratch", progress=False)  # fmt: skip
    s = np.asarray(s).reshape(len(s), -1)
    d_train = np.linalg.norm(s[:, None] - train.reshape(2, -1)[None], axis=-1).min(1)
    d_rest = np.linalg.norm(s[:, None] - rest.reshape(len(rest), -1)[None], axis=-1).min(1)
    assert len(s) == 16
    assert (d_train < d_rest).mean() >= 0.75, (d_train, d_rest)

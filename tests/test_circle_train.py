"""Circle training: loss, t-sampling, and bit-exact resume after SIGKILL (real subprocess)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from memgen.circle.model import CircleModelConfig
from memgen.circle.train import CircleTrainConfig, train
from memgen.cli import main

torch.set_num_threads(1)
SMALL = CircleModelConfig(width=32, encoder_blocks=1, decoder_blocks=1, fourier_features=8)
PTS = np.array([[1.0, 0.0], [0.0, 1.0], [-0.6, -0.8]])


def test_log_uniform_t_covers_decades():
    process = CircleTrainConfig(t_sampling="log_uniform", t_eps=1e-5).process()
    t = process.sample_times(100000, torch.Generator().manual_seed(0)).numpy()
    assert t.min() >= 1e-5 and t.max() <= 1.0
    frac = np.histogram(np.log10(t), bins=5, range=(-5, 0))[0] / len(t)
    np.testing.assert_allclose(frac, 0.2, atol=0.01)


def test_training_lowers_the_loss_and_logs():
    cfg = CircleTrainConfig(
        iterations=200, lr=1e-3, batch_size=64, batch_sampling="replacement", log_every=50
    )
    _, log = train(PTS, SMALL, cfg, progress=False)
    assert list(log["step"]) == [50, 100, 150, 200]
    assert log["loss"].iloc[-1] < log["loss"].iloc[0]
    assert set(log.columns) == {"step", "loss", "lr", "it_per_s"}


def test_in_process_resume_is_bitwise(tmp_path):
    cfg = CircleTrainConfig(
        iterations=40,
        lr=1e-3,
        batch_size=4,
        batch_sampling="epoch",
        lr_schedule="cosine",
        checkpoint_every=15,
        log_every=10,
    )
    ref, ref_log = train(PTS, SMALL, cfg, progress=False)
    ckpt = tmp_path / "ckpt.pt"
    short = CircleTrainConfig(**{**cfg.to_dict(), "iterations": 40})
    train(PTS, SMALL, short, checkpoint=ckpt, progress=False)  # leaves the step-30 checkpoint
    assert torch.load(ckpt, weights_only=False)["step"] == 30
    resumed, log = train(PTS, SMALL, cfg, checkpoint=ckpt, progress=False)
    for (k, a), (_, b) in zip(ref.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    np.testing.assert_array_equal(log["loss"], ref_log["loss"])


ITERS = 1500  # long enough to be killed mid-way, short enough for the default suite


def _train_cmd(tmp_path, split, out):
    model = {"width": 32, "encoder_blocks": 1, "decoder_blocks": 1, "fourier_features": 8}
    train = {"iterations": ITERS, "lr": 1e-3, "batch_size": 64, "batch_sampling": "replacement",
             "t_sampling": "log_uniform", "checkpoint_every": 50, "log_every": 100, "device": "cpu"}  # fmt: skip
    return [sys.executable, "-m", "memgen.cli", "circle-train", "--split", str(split), "--k", "9",
            "--model-config", json.dumps(model), "--train-config", json.dumps(train), "--no-progress",
            "--model-out", str(out / "model.pt"), "--log-out", str(out / "train_log.parquet")]  # fmt: skip


def test_sigkill_then_rerun_resumes_bitwise(tmp_path):
    split = tmp_path / "split.parquet"
    assert (
        main(
            [
                "circle-data",
                "--circle-config",
                json.dumps({"pool_size": 100, "ks": [9]}),
                "--pool-out",
                str(tmp_path / "pool.parquet"),
                "--split-out",
                str(split),
            ]
        )
        == 0
    )
    env = {
        **os.environ,
        "MEMGEN_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
    }
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    subprocess.run(
        _train_cmd(tmp_path, split, ref_dir), env=env, check=True, stderr=subprocess.DEVNULL
    )
    ckpt = run_dir / "scratch" / "train_ckpt.pt"
    proc = subprocess.Popen(
        _train_cmd(tmp_path, split, run_dir), env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.3)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "model.pt").exists()
    step = torch.load(ckpt, weights_only=False)["step"]
    assert 0 < step < ITERS
    res = subprocess.run(
        _train_cmd(tmp_path, split, run_dir), env=env, check=True, stderr=subprocess.PIPE, text=True
    )
    assert f"resumed from {ckpt} at step" in res.stderr
    assert not ckpt.exists()  # removed after success: a rerun starts fresh
    a = torch.load(ref_dir / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(run_dir / "model.pt", weights_only=False)["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("bad", [{"iterations": -1}, {"t_sampling": "beta"}, {"t_eps": 0.0}])
def test_bad_train_config_raises(bad):
    with pytest.raises(ValueError, match="circle.train"):
        CircleTrainConfig(**bad)

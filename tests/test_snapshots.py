"""EMA snapshots during training: they leave the final weights alone, a SIGKILLed run resumes to the
same snapshots bit for bit, a step added later is replayed to the same bits, bad step lists are
refused naming the key."""

from __future__ import annotations

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
from safetensors.torch import load_file
from sklearn.datasets import load_digits

from memgen.snapshots import (
    SnapshotConfig,
    SnapshotWriter,
    cached_snapshot,
    log_steps,
    make_snapshot,
)
from memgen.train import TrainConfig, resume_key_of, train_model

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
MLP = {"kind": "mlp", "width": 32, "blocks": 1}
WEIGHTS = "diffusion_pytorch_model.safetensors"


def _data(k: int = 16) -> torch.Tensor:
    x = (load_digits().images[:k].astype(np.float32) / 8.0 - 1.0)[:, None]
    return torch.from_numpy(x)


def _cfg(**kw) -> TrainConfig:
    base = dict(iterations=60, batch_size=8, lr=1e-3, ema_decay=0.9, checkpoint_every=20,
                log_every=10, device="cpu", seed=5)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / WEIGHTS)


def _same(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_snapshots_do_not_change_the_final_model_and_replay_gives_the_same_bits(tmp_path):
    data, cfg = _data(), _cfg()
    train_model(data, MLP, cfg, tmp_path / "plain/model", tmp_path / "plain/log.parquet",
                tmp_path / "plain/scratch", progress=False)  # fmt: skip
    writer = SnapshotWriter([7, 30, 60], tmp_path / "snap/scratch/snapshots")
    train_model(data, MLP, cfg, tmp_path / "snap/model", tmp_path / "snap/log.parquet",
                tmp_path / "snap/scratch", progress=False, snapshots=writer)  # fmt: skip
    assert writer.saved == [7, 30, 60]
    assert _same(tmp_path / "plain/model", tmp_path / "snap/model")  # untouched final weights
    key = resume_key_of(data, MLP, cfg)
    cache = tmp_path / "snap/scratch/snapshots"
    assert _same(cached_snapshot(cache, 60, key), tmp_path / "snap/model")  # last step = final EMA
    assert not _same(cached_snapshot(cache, 7, key), cached_snapshot(cache, 30, key))

    # Publishing a cached step copies it; a step that training passed unrecorded is replayed.
    got = make_snapshot(data, MLP, cfg, 30, tmp_path / "snap/scratch", tmp_path / "out30")
    assert got["source"] == "cache" and _same(tmp_path / "out30", cached_snapshot(cache, 30, key))
    got = make_snapshot(data, MLP, cfg, 13, tmp_path / "plain/scratch", tmp_path / "out13")
    assert got["source"] == "replay"
    writer = SnapshotWriter([13], tmp_path / "ref/scratch/snapshots")
    train_model(data, MLP, cfg, tmp_path / "ref/model", tmp_path / "ref/log.parquet",
                tmp_path / "ref/scratch", progress=False, snapshots=writer)  # fmt: skip
    assert _same(tmp_path / "out13", cached_snapshot(tmp_path / "ref/scratch/snapshots", 13, key))
    assert not (tmp_path / "plain/scratch/snapshot-replay/step13").exists()  # replay cleaned up
    # A snapshot of another run (other seed) is never taken from the cache.
    assert cached_snapshot(cache, 30, resume_key_of(data, MLP, _cfg(seed=6))) is None


def _cli(tmp: Path, pool: Path, steps: list, tcfg: dict, tag: str) -> subprocess.Popen:
    env = dict(os.environ, MEMGEN_THREADS="1", PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "memgen.cli", "train", "--pool", str(pool), "--k", "16",
           "--experiment", "digits", "--model-config", json.dumps(MLP),
           "--train-config", json.dumps(tcfg), "--model-dir", str(tmp / tag / "model"),
           "--log", str(tmp / tag / "log.parquet"), "--scratch", str(tmp / tag / "scratch"),
           "--snapshot-steps", json.dumps(steps), "--no-progress"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_then_resume_gives_bitwise_identical_snapshots(tmp_path):
    pool = tmp_path / "pool.npy"
    np.save(pool, _data().numpy().transpose(0, 2, 3, 1))
    steps = [5, 40, 150, 400, 600]
    tcfg = {"iterations": 600, "batch_size": 8, "lr": 1e-3, "ema_decay": 0.99,
            "checkpoint_every": 50, "log_every": 50, "device": "cpu", "seed": 11}  # fmt: skip
    ref = _cli(tmp_path, pool, steps, tcfg, "ref")
    victim = _cli(tmp_path, pool, steps, tcfg, "killed")
    cache = tmp_path / "killed/scratch/snapshots"
    deadline = time.time() + 300  # generous: start-up on a loaded machine
    while not (cache / "step40").exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "training finished before it could be killed"
    before = {p.name: _weights(p) for p in cache.glob("step*") if (p / WEIGHTS).exists()}
    assert "step40" in before and "step600" not in before
    resumed = _cli(tmp_path, pool, steps, tcfg, "killed")
    out, _ = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, out
    ref_out, _ = ref.communicate(timeout=180)
    assert ref.returncode == 0, ref_out
    for s in steps:
        a, b = tmp_path / f"ref/scratch/snapshots/step{s}", cache / f"step{s}"
        assert _same(a, b), s  # bitwise, not allclose
    for name, w in before.items():  # snapshots written before the kill were kept as they were
        now = _weights(cache / name)
        assert all(torch.equal(w[k], now[k]) for k in w)
    assert _same(tmp_path / "ref/model", tmp_path / "killed/model")


def test_log_steps_and_refusals_name_the_key():
    assert log_steps(100, 8000, 4) == [100, 431, 1857, 8000]
    assert log_steps(1, 8, 4) == [1, 2, 4, 8]
    assert SnapshotConfig().resolve_steps(1000) == []  # none by default
    assert SnapshotConfig(count=3, first=10).resolve_steps(1000) == [10, 100, 1000]
    assert SnapshotConfig(steps=[5, 9], count=3).resolve_steps(9) == [5, 9]  # a list wins
    assert [SnapshotConfig(sample_max=200, sample_min=64).n_samples(n) for n in (8, 128, 4000)] == [
        64, 128, 200]  # fmt: skip
    assert SnapshotConfig().n_samples(8) == 8  # by default the final set's size
    with pytest.raises(ValueError, match=r"images.digits.snapshots.steps.*beyond the training"):
        SnapshotConfig(steps=[5, 20]).resolve_steps(10, "images.digits.snapshots")
    with pytest.raises(ValueError, match=r"snapshots.steps' must be strictly increasing"):
        SnapshotConfig(steps=[5, 5, 8]).resolve_steps(10)
    with pytest.raises(ValueError, match=r"snapshots.first"):
        SnapshotConfig(count=2, first=50).resolve_steps(10)
    with pytest.raises(ValueError, match="unknown .*snapshots config keys"):
        SnapshotConfig.from_dict({"stepz": [1]})


def test_plan_shows_the_snapshot_cost_and_none_by_default(tmp_path):
    from memgen.plan import plan_from_files

    overlay = tmp_path / "snap.yaml"
    overlay.write_text("images:\n  cifar10:\n    snapshots: {count: 6, first: 2000, ks: [2, 2000, 16000],"
                       " sample_max: 4000, agreement_samples: 256}\n")  # fmt: skip
    base = plan_from_files([REPO / "config.yaml"], experiments=["cifar10"]).iloc[0]
    assert base["snapshots"] == 0 and base["snapshot_gpu_h"] == 0
    row = plan_from_files([REPO / "config.yaml", overlay], experiments=["cifar10"]).iloc[0]
    assert row["snapshots"] == 18
    # 6 snapshots x (min(4K, 4000) + 256) images x 1000 steps at 3 x 128 x steps/s images per second
    images = 6 * ((8 + 256) + (4000 + 256) + (4000 + 256))
    expected = images * 1000 / (3 * 128 * row["steps_per_s"]) / 3600
    assert row["snapshot_gpu_h"] == pytest.approx(expected, abs=0.06)
    assert row["total_gpu_h"] == pytest.approx(base["total_gpu_h"] + row["snapshot_gpu_h"], abs=0.11)

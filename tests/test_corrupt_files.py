"""Damaged, hostile and undersized files: one-line errors naming the file, nothing executed,
scratch state healed (set aside as *.corrupt and regenerated), finished models never lost."""

from __future__ import annotations

import errno
import logging
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import memgen.training as training_mod
from memgen.checkpoint import UnsafeFileError, load_resumable, load_tensors
from memgen.cli import main
from memgen.io import DiskFullError, torch_save
from memgen.models import build_model
from memgen.sample import SampleConfig, sample_model
from memgen.train import TrainConfig, save_model_atomic, train_model

torch.set_num_threads(1)
MLP = {"kind": "mlp", "width": 16, "blocks": 1}


class Evil:
    """Pickles to a call of os.system: loading it with pickle would create the marker."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _data(k=16, seed=0) -> torch.Tensor:
    return torch.rand((k, 1, 8, 8), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _train(root: Path, iterations: int, **kw) -> dict[str, torch.Tensor]:
    cfg = TrainConfig(iterations=iterations, batch_size=8, lr=1e-3, ema_decay=0.9,
                      checkpoint_every=25, log_every=25, device="cpu", seed=3, **kw)  # fmt: skip
    train_model(_data(), MLP, cfg, root / "model", root / "log.parquet", root / "scratch",
                progress=False)  # fmt: skip
    return load_file(root / "model" / "diffusion_pytorch_model.safetensors")


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, torch.Tensor]:
    """Weights of an uninterrupted 100-step run."""
    return _train(tmp_path_factory.mktemp("ref"), 100)


# ------------------------------------------------------------------ unsafe pickles are refused
def test_crafted_checkpoint_is_refused_without_running_and_training_restarts(tmp_path, reference, caplog):
    marker = tmp_path / "marker"
    (tmp_path / "scratch").mkdir()
    torch.save({"resume_key": "x", "model": Evil(marker)}, tmp_path / "scratch" / "ckpt.pt")
    with caplog.at_level(logging.WARNING):
        weights = _train(tmp_path, 100)
    assert not marker.exists()
    assert (tmp_path / "scratch" / "ckpt.pt.corrupt").exists()
    assert "could run code" in caplog.text and str(tmp_path / "scratch" / "ckpt.pt") in caplog.text
    assert _same(weights, reference)  # restarted from scratch: same as a fresh run


@pytest.mark.parametrize("zip_format", [True, False], ids=["torch-zip", "raw-pickle"])
def test_crafted_circle_model_is_refused_with_one_line(tmp_path, capsys, zip_format):
    marker = tmp_path / "marker"
    model = tmp_path / "model.pt"
    blob = {"state_dict": {}, "model_config": Evil(marker), "K": 2}
    if zip_format:
        torch.save(blob, model)
    else:
        with open(model, "wb") as fh:
            pickle.dump(blob, fh, protocol=2)
    with pytest.raises(UnsafeFileError, match="could run code"):
        load_tensors(model)
    from memgen.circle.model import load_model

    with pytest.raises(UnsafeFileError):
        load_model(model)
    split = tmp_path / "split.parquet"
    data = '{"pool_size": 50, "pool_seed": 1, "split_seed": 2, "ks": [2]}'
    rc = main(["circle-data", "--circle-config", data, "--pool-out", str(tmp_path / "pool.parquet"),
               "--split-out", str(split)])  # fmt: skip
    assert rc == 0
    capsys.readouterr()
    rc = main(["circle-sample", "--model", "net", "--split", str(split), "--k", "2",
               "--checkpoint", str(model), "--sample-config", '{"n_samples": 4, "steps": 2}',
               "--out", str(tmp_path / "s.parquet")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and str(model) in err[0] and "refusing to load" in err[0]
    assert not marker.exists()


def test_checkpoint_of_the_previous_format_still_resumes_bitwise(tmp_path, reference):
    _train(tmp_path, 50)  # final state at step 50 (the previous format stored numpy's state as array)
    ckpt = tmp_path / "scratch" / "ckpt.pt"
    state = torch.load(ckpt, weights_only=True)
    name, keys, pos, has_gauss, gauss = state["rng"]["numpy"]
    state["rng"]["numpy"] = (name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss)
    torch.save(state, ckpt)
    shutil.rmtree(tmp_path / "model")
    assert _same(_train(tmp_path, 100), reference)


# ------------------------------------------------------------------- corrupt files
def test_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path, reference, caplog):
    scratch = tmp_path / "scratch"
    _train(tmp_path, 50)
    shutil.copy(scratch / "ckpt.pt", scratch / "ckpt.prev.pt")  # as a run killed after step 75 leaves it
    _train(tmp_path / "b", 75)
    shutil.copy(tmp_path / "b" / "scratch" / "ckpt.pt", scratch / "ckpt.pt")
    _truncate(scratch / "ckpt.pt")
    shutil.rmtree(tmp_path / "model")
    with caplog.at_level(logging.WARNING):
        weights = _train(tmp_path, 100)
    assert "truncated or corrupt" in caplog.text and str(scratch / "ckpt.pt") in caplog.text
    assert "resuming from the previous checkpoint" in caplog.text
    assert (scratch / "ckpt.pt.corrupt").exists() and not (scratch / "ckpt.prev.pt").exists()
    assert _same(weights, reference)


def test_truncated_checkpoint_without_previous_restarts(tmp_path, reference, caplog):
    _train(tmp_path, 50)
    _truncate(tmp_path / "scratch" / "ckpt.pt")
    shutil.rmtree(tmp_path / "model")
    with caplog.at_level(logging.WARNING):
        weights = _train(tmp_path, 100)
    assert "set aside as" in caplog.text and _same(weights, reference)


def test_load_resumable_sets_aside_an_empty_file(tmp_path):
    (tmp_path / "ckpt.pt").write_bytes(b"")
    assert load_resumable(tmp_path / "ckpt.pt") is None
    assert (tmp_path / "ckpt.pt.corrupt").exists()


@pytest.fixture
def model_dir(tmp_path) -> Path:
    d = tmp_path / "model"
    torch.manual_seed(0)
    build_model(MLP, (1, 8, 8)).save_pretrained(d)
    return d


def test_truncated_weights_give_one_line_naming_the_file(model_dir, tmp_path, capsys):
    weights = model_dir / "diffusion_pytorch_model.safetensors"
    _truncate(weights, 0.6)
    rc = main(["sample", "--model-dir", str(model_dir), "--k", "2", "--experiment", "digits",
               "--sample-config", '{"max": 4, "steps": 2, "sampler": "ddim"}',
               "--out", str(tmp_path / "s.npy"), "--manifest", str(tmp_path / "s.parquet"),
               "--scratch", str(tmp_path / "scratch"), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert str(weights) in err[0] and "truncated" in err[0] and "retrain" in err[0]


def test_truncated_sampling_shard_is_set_aside_and_regenerated(model_dir, tmp_path, caplog):
    cfg = SampleConfig(ratio=4, max=10, shard_size=4, sampler="ddim", steps=4, seed=5)

    def run(root: Path) -> np.ndarray:
        return np.array(sample_model(model_dir, 3, "digits", cfg, root / "s.npy", root / "s.parquet",
                                     root / "scratch", progress=False))  # fmt: skip

    clean = run(tmp_path / "a")
    [shard] = sorted((tmp_path / "a" / "scratch").rglob("shard_00001.npy"))
    _truncate(shard, 0.7)
    with caplog.at_level(logging.WARNING):
        again = run(tmp_path / "a")
    assert shard.with_name(shard.name + ".corrupt").exists()
    assert str(shard) in caplog.text and "regenerating" in caplog.text
    assert np.array_equal(again, clean)


# --------------------------------------------------------------------------------- full disk
def _raise_enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_torch_save_on_a_full_disk_says_so_and_leaves_no_temp(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", _raise_enospc)
    with pytest.raises(DiskFullError, match=f"no space left on {tmp_path}"):
        torch_save({"a": torch.zeros(3)}, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


def test_real_small_file_system_says_no_space_left(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("needs root and mount to create a small tmpfs")
    try:
        with pytest.raises(DiskFullError, match=f"no space left on {mnt}"):
            torch_save({"a": torch.zeros(200_000)}, mnt / "ckpt.pt")
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_final_checkpoint_on_a_full_disk_keeps_the_model(tmp_path, reference, monkeypatch, caplog):
    real = training_mod.save_resumable

    def failing_final(state, path):
        if state["step"] == 100:
            raise DiskFullError(f"no space left on {Path(path).parent}")
        return real(state, path)

    monkeypatch.setattr(training_mod, "save_resumable", failing_final)
    with caplog.at_level(logging.WARNING):
        weights = _train(tmp_path, 100)
    assert "final checkpoint" in caplog.text and "no space left" in caplog.text
    assert _same(weights, reference) and (tmp_path / "log.parquet").exists()


def test_model_save_on_a_full_disk_says_so(tmp_path, model_dir, monkeypatch):
    net = build_model(MLP, (1, 8, 8))

    def full(self, *a, **k):
        raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                           'message: "No space left on device" })')  # what safetensors raises

    monkeypatch.setattr(type(net), "save_pretrained", full)
    with pytest.raises(DiskFullError, match=f"no space left on {tmp_path / 'out'}"):
        save_model_atomic(net, tmp_path / "out" / "model", {})
    assert not (tmp_path / "out" / "model").exists()


# ------------------------------------------------------------------------- permissions
@pytest.mark.parametrize("umask, dir_mode, file_mode", [(0o022, 0o755, 0o644), (0o002, 0o775, 0o664)])
def test_model_directory_follows_the_umask(tmp_path, umask, dir_mode, file_mode):
    old = os.umask(umask)
    try:
        save_model_atomic(build_model(MLP, (1, 8, 8)), tmp_path / "model", {"K": 2})
        torch_save({"a": torch.zeros(2)}, tmp_path / "other.pt")
    finally:
        os.umask(old)
    assert (tmp_path / "model").stat().st_mode & 0o777 == dir_mode
    files = list((tmp_path / "model").iterdir())
    # weights, model config, training record and the diffusers scheduler config: all follow the umask
    assert {f.name for f in files} == {
        "diffusion_pytorch_model.safetensors",
        "config.json",
        "memgen_train.json",
        "scheduler_config.json",
    }
    assert {f.stat().st_mode & 0o777 for f in files} == {file_mode}
    assert (tmp_path / "other.pt").stat().st_mode & 0o777 == file_mode


SPARSE_CHILD = r"""
import sys, numpy as np
from memgen.data.pool import write_pool
from memgen.io import DiskFullError
raw = np.zeros((64, 32, 32, 3), np.uint8)  # 786 kB of float32 pool: more than the file system holds
try:
    write_pool(raw, np.arange(64), lambda a: a.astype(np.float32), sys.argv[1] + "/train_pool.npy")
except DiskFullError as err:
    print(err)
"""


def test_memory_mapped_write_on_a_full_disk_is_an_error_not_sigbus(tmp_path):
    import sys

    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("needs root and mount to create a small tmpfs")
    try:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        proc = subprocess.run([sys.executable, "-c", SPARSE_CHILD, str(mnt)], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr  # -7 would be SIGBUS
        assert f"no space left on {mnt}" in proc.stdout
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)

"""Resumable epsilon-prediction DDPM training of one model per K (SPEC §2.1, §4.4).

State that makes a resumed run bitwise-identical (on CPU) to an uninterrupted one is saved in
every checkpoint: model, EMA, optimizer, all RNG states (torch CPU/CUDA, numpy, python, and our
own data/noise generators), the current epoch permutation and position, the step and the log.
Checkpoints live in an undeclared scratch directory so a killed or preempted job keeps them.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from memgen.checkpoint import discard_previous, load_resumable, save_resumable
from memgen.io import config_hash, disk_full_error, is_disk_full, umask_mode, write_parquet
from memgen.models import build_model, check_model_dir
from memgen.models.pipeline_files import write_pipeline_files
from memgen.optim import FusedAdamStep, clip_grad_norm_
from memgen.schedules import DDPMSchedule
from memgen.sections import check_keys, dataclass_fields

log = logging.getLogger(__name__)
DONE_FILE = "memgen_train.json"  # written into the model dir: marks it complete + its config hash


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` config section (defaults = paper values, SPEC §4.4)."""

    iterations: int = 500_000
    batch_size: int = 128
    lr: float = 2e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    ema_warmup: bool = False  # decay_s = min(decay, (1+s)/(10+s)) (digits demo), paper: constant
    batching: str = "epochs"  # "epochs": min(B, K) per batch, shuffled epochs, drop_last (paper)
    #                           "replacement": B draws with replacement from the K images (demo)
    seed: int = 3407
    checkpoint_every: int = 5000
    log_every: int = 100
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    channels_last: bool = False
    compile: bool = False
    impl_version: int = 1

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> TrainConfig:
        check_keys("train", cfg, dataclass_fields(cls))
        return cls(**cfg)

    def numeric_dict(self) -> dict[str, Any]:
        """Keys that change the trained weights (bookkeeping keys excluded) for resume checks."""
        d = dataclasses.asdict(self)
        for k in ("checkpoint_every", "log_every", "iterations"):
            d.pop(k)
        return d


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "train.device is 'cuda' but no CUDA device is visible; use 'cpu' or 'auto'"
        )
    return torch.device(name)


# ---------------------------------------------------------------------------------------- EMA
class EMA:
    """Exponential moving average of the weights, one fused foreach lerp per step.

    Hand-written because diffusers' EMAModel always applies its (1+s)/(10+s) warm-up, while the
    paper uses a constant decay from a copy of the initial weights (SPEC §4.4).
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.warmup = float(decay), bool(warmup)
        self._ema = [p for p in self.model.parameters()]

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, params: list[torch.Tensor], step: int) -> None:
        """``params``: the trained model's parameter list (cached by the caller: cheaper)."""
        torch._foreach_lerp_(self._ema, params, 1.0 - self.decay_at(step))


# ----------------------------------------------------------------------------- data ordering
class BatchOrder:
    """Indices of each training batch; its state is part of the checkpoint."""

    def __init__(self, k: int, batch_size: int, mode: str, seed: int):
        if mode not in ("epochs", "replacement"):
            raise ValueError(f"train.batching must be 'epochs' or 'replacement', got {mode!r}")
        self.k, self.mode = k, mode
        # Paper: if K < batch size the batch is K (SPEC §4.4); replacement draws keep B.
        self.batch = min(batch_size, k) if mode == "epochs" else batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.perm: torch.Tensor | None = None
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.mode == "replacement":
            return torch.randint(self.k, (self.batch,), generator=self.gen)
        if self.perm is None or self.pos + self.batch > self.k:  # drop_last
            self.perm, self.pos = torch.randperm(self.k, generator=self.gen), 0
        idx = self.perm[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return idx

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.gen.set_state(s["gen"])
        self.perm, self.pos = s["perm"], s["pos"]


# ----------------------------------------------------------------------------- RNG snapshot
def rng_state(noise_gen: torch.Generator) -> dict[str, Any]:
    # Tensors and plain tuples only, so the checkpoint loads with torch.load(weights_only=True).
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
        "noise": noise_gen.get_state(),
    }


def set_rng_state(s: dict[str, Any], noise_gen: torch.Generator) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    name, keys, pos, has_gauss, gauss = s["numpy"]  # keys: a tensor, or an array (older files)
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    np.random.set_state((name, keys.astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(s["python"])
    noise_gen.set_state(s["noise"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ------------------------------------------------------------------------ model directory
def model_is_complete(model_dir: Path, fingerprint: str | None = None) -> bool:
    """True when ``model_dir`` holds a finished model (and, if given, of this fingerprint)."""
    try:
        check_model_dir(model_dir)
        done = json.loads((model_dir / DONE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return fingerprint is None or done.get("fingerprint") == fingerprint


def save_model_atomic(net: nn.Module, model_dir: Path, info: dict[str, Any]) -> None:
    """save_pretrained into a temp dir next to ``model_dir``, then rename it into place.

    The directory and its files get the modes the umask gives any other output (mkdtemp alone
    would leave a 0700 directory that collaborators cannot read); a full disk is said as such.
    """
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", suffix=".tmp", dir=model_dir.parent))
    try:
        net.save_pretrained(tmp, safe_serialization=True)
        write_pipeline_files(tmp)  # noise schedule (+ pipeline index): loadable by diffusers alone
        (tmp / DONE_FILE).write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
        for f in tmp.iterdir():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(f, umask_mode(0o666))
        os.chmod(tmp, umask_mode(0o777))
        old = None
        if model_dir.exists():  # os.replace cannot overwrite a non-empty directory
            old = model_dir.with_name(f".{model_dir.name}.old.{os.getpid()}")
            os.replace(model_dir, old)
        os.replace(tmp, model_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(err):
            raise disk_full_error(err, model_dir / "diffusion_pytorch_model.safetensors") from err
        raise


def copy_trained_model(
    src_dir: Path, src_log: Path, model_dir: Path, log_path: Path, experiment: str
) -> None:
    """Copy a finished model of the same fingerprint (and its log) instead of training it again.

    Used when two experiments need the same model, e.g. a dense K grid that shares K with the sparse
    sweep it was derived from. The copy is atomic like a save; the log names the new experiment and
    records where the model came from.
    """
    from memgen.io import read_parquet, read_provenance

    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", suffix=".tmp", dir=model_dir.parent))
    try:
        shutil.copytree(src_dir, tmp, dirs_exist_ok=True)
        if not (tmp / "scheduler_config.json").exists():  # a model saved before schedules were kept
            write_pipeline_files(tmp)
        if model_dir.exists():
            shutil.rmtree(model_dir)
        os.replace(tmp, model_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    df = read_parquet(src_log)
    df["experiment"] = experiment
    info = {**read_provenance(src_log), "experiment": experiment, "copied_from": str(src_dir)}
    write_parquet(df, log_path, provenance=info, sort_by=["step"])


class NonFiniteLossError(RuntimeError):
    pass


# -------------------------------------------------------------------------------- training
def train_model(
    data: torch.Tensor,
    model_cfg: dict[str, Any],
    train_cfg: TrainConfig,
    model_dir: str | Path,
    log_path: str | Path,
    scratch_dir: str | Path,
    provenance: dict[str, Any] | None = None,
    progress: bool = True,
    reuse_from: tuple[str | Path, str | Path] | None = None,
    snapshots=None,
) -> Path:
    """Train an eps-model on ``data`` (K, C, H, W) in [-1, 1]; write the EMA model and the log.

    Resumes from ``scratch_dir/ckpt.pt`` when its fingerprint matches; a complete ``model_dir``
    with the same fingerprint is returned as is (never retrained). ``reuse_from`` = (model dir,
    log) of another experiment: copied when it is complete and of the same fingerprint (same model
    config, training config, K and training images), else ignored with a warning. ``snapshots``:
    a :class:`memgen.snapshots.SnapshotWriter`, given the EMA model at each of its steps.
    """
    cfg = train_cfg
    model_dir, log_path, scratch_dir = Path(model_dir), Path(log_path), Path(scratch_dir)
    provenance = dict(provenance or {})
    k = int(data.shape[0])
    image_shape = tuple(int(v) for v in data.shape[1:])
    data_hash = tensor_hash(data)
    fingerprint = config_hash(
        {
            "model": model_cfg,
            "train": cfg.numeric_dict(),
            "iterations": cfg.iterations,
            "K": k,
            "data": data_hash,
        }
    )
    if model_is_complete(model_dir, fingerprint) and log_path.exists():
        log.info(
            "model %s already trained (fingerprint %s): not retraining", model_dir, fingerprint
        )
        return model_dir
    if reuse_from is not None:
        src_dir, src_log = (Path(p) for p in reuse_from)
        if model_is_complete(src_dir, fingerprint) and src_log.exists():
            log.info("copying the identical finished model %s (fingerprint %s)", src_dir, fingerprint)
            copy_trained_model(src_dir, src_log, model_dir, log_path, provenance.get("experiment", ""))
            return model_dir
        log.warning("%s is not a finished model of this fingerprint (%s): training", src_dir, fingerprint)
    if cfg.log_every < 1 or cfg.checkpoint_every < 1:
        raise ValueError("train.log_every and train.checkpoint_every must be >= 1")

    device = resolve_device(cfg.device)
    if cfg.compile and device.type != "cuda":
        log.warning("train.compile is only used on CUDA; ignored on %s", device)
    if cfg.precision not in ("fp32", "bf16"):
        raise ValueError(f"train.precision must be 'fp32' or 'bf16', got {cfg.precision!r}")

    seed_everything(cfg.seed)
    net = build_model(model_cfg, image_shape).to(device)
    mem_fmt = (
        torch.channels_last if (cfg.channels_last and model_cfg.get("kind") == "unet") else None
    )
    if mem_fmt is not None:
        net = net.to(memory_format=mem_fmt)
    ema = EMA(net, cfg.ema_decay, cfg.ema_warmup)
    params = list(net.parameters())  # cached: module traversal per step costs ~5 % on small nets
    # fused Adam: one kernel for all tensors (CPU and CUDA); same update rule as torch's Adam.
    opt = torch.optim.Adam(
        params, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps,
        weight_decay=0.0, fused=True,
    )  # fmt: skip
    adam_step = FusedAdamStep(opt).step  # same update as opt.step(), without its per-call overhead
    order = BatchOrder(k, cfg.batch_size, cfg.batching, cfg.seed + 1)
    noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 2)
    sched = DDPMSchedule()
    # x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps: both roots tabulated once (the same float32
    # values the per-step square roots gave).
    abar = sched.alphas_cumprod.to(device)
    sqrt_abar, sqrt_1m_abar = abar.sqrt(), (1 - abar).sqrt()
    step, rows = 0, []

    ckpt_path = scratch_dir / "ckpt.pt"
    # Iterations are excluded so that raising them continues a run from its last checkpoint.
    resume_key = resume_key_of(data, model_cfg, cfg, data_hash)
    # Loaded to CPU (RNG states must stay CPU tensors; load_state_dict moves weights to the
    # device) with weights_only=True; an unreadable checkpoint is set aside with a warning and the
    # previous one (or a fresh start) is used instead.
    state = load_resumable(ckpt_path)
    if state is not None:
        if state.get("resume_key") == resume_key:
            net.load_state_dict(state["model"])
            ema.model.load_state_dict(state["ema"])
            opt.load_state_dict(state["optimizer"])
            order.load_state_dict(state["order"])
            set_rng_state(state["rng"], noise_gen)
            step, rows = int(state["step"]), list(state["log"])
            log.info("resumed from %s at step %d", ckpt_path, step)
        else:
            log.warning("checkpoint %s is from a different config/data: starting afresh", ckpt_path)

    fwd = torch.compile(net) if (cfg.compile and device.type == "cuda") else net
    data_dev = data.to(device) if device.type == "cuda" else data

    def save_ckpt() -> None:
        save_resumable(
            {"model": net.state_dict(), "ema": ema.model.state_dict(), "optimizer": opt.state_dict(),
             "order": order.state_dict(), "rng": rng_state(noise_gen), "step": step, "log": rows,
             "resume_key": resume_key},
            ckpt_path,
        )  # fmt: skip

    bshape = (-1,) + (1,) * (data.dim() - 1)  # per-sample scalars broadcast over (C, H, W)
    # A disabled autocast context still costs a few microseconds per step: enter it only for bf16.
    bf16 = cfg.precision == "bf16"
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else nullcontext
    losses = torch.zeros(cfg.log_every, device=device)  # per-step losses of the current window
    win_start, t0, tw = step, time.perf_counter(), time.perf_counter()
    bar = _progress(cfg.iterations, step, progress, f"train K={k}")
    net.train()
    while step < cfg.iterations:
        idx = order.next()
        x0 = data_dev[idx.to(data_dev.device)].to(device, non_blocking=True)
        if mem_fmt is not None:
            x0 = x0.contiguous(memory_format=mem_fmt)
        t = torch.randint(0, sched.num_steps, (x0.shape[0],), device=device, generator=noise_gen)
        noise = torch.randn(x0.shape, device=device, generator=noise_gen)
        xt = sqrt_abar[t].view(bshape) * x0 + sqrt_1m_abar[t].view(bshape) * noise
        with autocast():
            out = fwd(xt, t)
            pred = out.sample if hasattr(out, "sample") else out
        loss = torch.mean((noise - pred.float()) ** 2)
        for p in params:  # = opt.zero_grad(set_to_none=True)
            p.grad = None
        loss.backward()
        if cfg.grad_clip > 0:
            clip_grad_norm_([p.grad for p in params if p.grad is not None], cfg.grad_clip)
        adam_step()
        ema.update(params, step)
        losses[step - win_start] = loss.detach()
        step += 1
        bar.update(1)
        if snapshots is not None and step in snapshots.steps:  # reads the EMA weights only
            snapshots.save(step, ema.model, resume_key)
        if (
            step - win_start == cfg.log_every
            or step == cfg.iterations
            or step % cfg.checkpoint_every == 0
        ):
            window = losses[: step - win_start].cpu()
            # Checked once per window (no per-step GPU sync); the exact failing step is recovered.
            bad = (~torch.isfinite(window)).nonzero()
            if len(bad):
                bar.close()
                raise NonFiniteLossError(
                    f"non-finite training loss ({window[bad[0, 0]].item()}) at step "
                    f"{win_start + int(bad[0, 0])} (0-based); last good checkpoint kept at {ckpt_path}"
                )
            now = time.perf_counter()
            rows.append({"step": step, "loss": float(window.mean()), "lr": cfg.lr,
                         "ema_decay": ema.decay_at(step - 1), "steps_per_s": (step - win_start) / (now - tw),
                         "elapsed_s": now - t0})  # fmt: skip
            bar.set_postfix(loss=f"{rows[-1]['loss']:.4f}")
            win_start, tw = step, now
            if step % cfg.checkpoint_every == 0 and step < cfg.iterations:
                save_ckpt()
    bar.close()
    if snapshots is not None and step in snapshots.steps:  # resumed exactly at a snapshot step
        snapshots.save(step, ema.model, resume_key)

    info = {"fingerprint": fingerprint, "K": k, "iterations": cfg.iterations,
            "model": model_cfg, "train": dataclasses.asdict(cfg), **provenance}  # fmt: skip
    df = pd.DataFrame(rows)
    for key in ("experiment",):
        df[key] = provenance.get(key, "")
    df["K"] = k
    # Final state first (extending iterations later resumes from here; a model save that then
    # fails resumes at the last step): its failure must never cost the finished model.
    try:
        save_ckpt()
    except (OSError, RuntimeError) as err:
        log.warning("final checkpoint %s not written (%s); saving the model anyway", ckpt_path, err)
    write_parquet(df, log_path, provenance=info, sort_by=["step"])
    save_model_atomic(ema.model, model_dir, info)  # the declared model last
    discard_previous(ckpt_path)
    return model_dir


def resume_key_of(data: torch.Tensor, model_cfg: dict[str, Any], cfg: TrainConfig,
                  data_hash: str | None = None) -> str:  # fmt: skip
    """Identity of a training run up to its length: a checkpoint (or EMA snapshot) of one run
    continues another exactly when their keys match (iterations are left out, so raising them
    continues a run)."""
    data_hash = data_hash or tensor_hash(data)
    k = int(data.shape[0])
    return config_hash({"model": model_cfg, "train": cfg.numeric_dict(), "K": k, "data": data_hash})


def tensor_hash(x: torch.Tensor) -> str:
    """Content hash of a tensor (detects a changed training subset on resume)."""
    return hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    # In a job log (not a tty) print a line every ~30 s instead of redrawing constantly.
    mininterval = 0.5 if os.isatty(2) else 30.0
    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, mininterval=mininterval,
                dynamic_ncols=True)  # fmt: skip

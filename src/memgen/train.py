"""Resumable epsilon-prediction DDPM training of one model per K (docs/method.md §2.1, §4.4).

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
import shutil
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from memgen.checkpoint import discard_previous
from memgen.device import resolve_device
from memgen.io import config_hash, disk_full_error, is_disk_full, umask_mode, write_parquet
from memgen.models import build_model, check_model_dir
from memgen.models.pipeline_files import write_pipeline_files
from memgen.noise import DDPMSchedule
from memgen.optim import FusedAdamStep, clip_grad_norm_
from memgen.sections import Section, section
from memgen.training import (
    BatchOrder,
    TrainingCheckpoint,
    progress_bar,
    seed_everything,
)

log = logging.getLogger(__name__)
DONE_FILE = "memgen_train.json"  # written into the model dir: marks it complete + its config hash


@section("images.*.model")
@dataclass(frozen=True)
class ModelConfig(Section):
    """The ``model`` config section: the epsilon-network (``kind`` unet or mlp).

    ``build_model`` receives it as a plain mapping (``to_dict()``) so the network, and the training
    fingerprint of a model trained from the workflow's full section, are unchanged. UNet keys left
    ``None`` take the preset's value; the mlp keys are ignored by the UNet and the other way round.
    """

    kind: str = "unet"  # unet | mlp
    preset: str | None = None
    nf: int | None = None
    width_scale: float = 1
    ch_mult: list[int] | None = None
    attn_resolutions: list[int] | None = None
    layers_per_block: int | None = None
    mid_attention: bool | None = None
    dropout: float | None = None
    width: int = 128
    blocks: int = 3
    time_embed_dim: int = 128
    reuse: str | None = None  # another experiment whose models are sampled instead (workflow only)
    impl_version: int = 1

    def __post_init__(self):
        if self.kind not in ("unet", "mlp"):
            raise ValueError(f"model.kind must be 'unet' or 'mlp', got {self.kind!r}")


@section("images.*.train")
@dataclass(frozen=True)
class TrainConfig(Section):
    """The ``train`` config section (defaults = paper values, CIFAR-10 iterations).

    The workflow resolves the per-K keys (iterations, batch_size, lr, ema_decay: a value or a list
    aligned with ks) to the value of one K before a job gets the section.
    """

    iterations: int = 500000
    batch_size: int = 128
    lr: float = 0.0002
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1.0e-8
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

    def __post_init__(self):
        for key in ("iterations", "batch_size", "lr", "ema_decay"):
            if isinstance(getattr(self, key), (list, tuple)):
                raise ValueError(
                    f"train.{key} is a per-K list; a single training run takes the value of its K"
                )
        if self.batching not in ("epochs", "replacement"):
            raise ValueError(
                f"train.batching must be 'epochs' or 'replacement', got {self.batching!r}"
            )

    def numeric_dict(self) -> dict[str, Any]:
        """Keys that change the trained weights (bookkeeping keys excluded) for resume checks."""
        d = dataclasses.asdict(self)
        for k in ("checkpoint_every", "log_every", "iterations"):
            d.pop(k)
        return d


# ---------------------------------------------------------------------------------------- EMA
class EMA:
    """Exponential moving average of the weights, one fused foreach lerp per step.

    Hand-written because diffusers' EMAModel always applies its (1+s)/(10+s) warm-up, while the
    paper uses a constant decay from a copy of the initial weights (docs/method.md §4.4).
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

    device = resolve_device(cfg.device, "train.device")
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
    if cfg.batching not in ("epochs", "replacement"):
        raise ValueError(f"train.batching must be 'epochs' or 'replacement', got {cfg.batching!r}")
    # The paper's "epochs" batching drops an incomplete last batch.
    mode = "epoch" if cfg.batching == "epochs" else cfg.batching
    order = BatchOrder(k, cfg.batch_size, mode, cfg.seed + 1, drop_last=True)
    noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 2)
    process = DDPMSchedule()
    step, rows = 0, []

    # Iterations are excluded so that raising them continues a run from its last checkpoint.
    resume_key = resume_key_of(data, model_cfg, cfg, data_hash)
    ckpt = TrainingCheckpoint(
        scratch_dir / "ckpt.pt", resume_key,
        parts={"model": net, "ema": ema.model, "optimizer": opt, "order": order},
        generators={"noise": noise_gen},
    )  # fmt: skip
    ckpt_path = ckpt.path
    # weights_only load; an unreadable checkpoint is set aside with a warning and the previous one
    # (or a fresh start) is used instead.
    state = ckpt.restore()
    if state is not None:
        step, rows = int(state["step"]), list(state["log"])

    fwd = torch.compile(net) if (cfg.compile and device.type == "cuda") else net
    data_dev = data.to(device) if device.type == "cuda" else data

    def save_ckpt() -> None:
        ckpt.save(step, rows)

    # A disabled autocast context still costs a few microseconds per step: enter it only for bf16.
    bf16 = cfg.precision == "bf16"
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else nullcontext
    losses = torch.zeros(cfg.log_every, device=device)  # per-step losses of the current window
    win_start, t0, tw = step, time.perf_counter(), time.perf_counter()
    bar = progress_bar(cfg.iterations, step, progress, f"train K={k}")
    net.train()
    while step < cfg.iterations:
        idx = order.next()
        x0 = data_dev[idx.to(data_dev.device)].to(device, non_blocking=True)
        if mem_fmt is not None:
            x0 = x0.contiguous(memory_format=mem_fmt)
        t = process.sample_times(x0.shape[0], noise_gen, device)
        noise = torch.randn(x0.shape, device=device, generator=noise_gen)
        xt = process.perturb(x0, t, noise)
        with autocast():
            out = fwd(xt, t)
            pred = out.sample if hasattr(out, "sample") else out
        loss = process.loss(pred, noise, t)
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


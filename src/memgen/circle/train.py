"""Denoising score matching for the circle (SPEC §3.3) with exact, resumable checkpoints.

All randomness of the loop (batch indices, t, noise) comes from one explicit torch.Generator
whose state is checkpointed together with model, optimizer and LR-scheduler states, so a run
killed at any point and resumed from its checkpoint reproduces the uninterrupted run bit for bit
on CPU.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from memgen.checkpoint import load_resumable, save_resumable
from memgen.circle.data import subset_hash
from memgen.circle.model import ModelConfig, build_model
from memgen.device import resolve_device
from memgen.io import config_hash

log = logging.getLogger(__name__)

T_SAMPLING = ("uniform", "log_uniform")
BATCH_SAMPLING = ("epoch", "replacement")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = 800_000
    lr: float = 1e-4
    batch_size: int = 500
    batch_sampling: str = "epoch"
    t_sampling: str = "uniform"
    t_eps: float = 1e-5
    lr_schedule: str = "constant"
    checkpoint_every: int = 1000
    log_every: int = 100
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        if self.iterations < 0:
            raise ValueError(f"circle.train.iterations must be >= 0, got {self.iterations}")
        if self.lr <= 0 or self.batch_size < 1:
            raise ValueError("circle.train.lr must be > 0 and batch_size >= 1")
        if self.t_sampling not in T_SAMPLING:
            raise ValueError(f"circle.train.t_sampling must be one of {T_SAMPLING}")
        if self.batch_sampling not in BATCH_SAMPLING:
            raise ValueError(f"circle.train.batch_sampling must be one of {BATCH_SAMPLING}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"circle.train.lr_schedule must be one of {LR_SCHEDULES}")
        if not 0 < self.t_eps < 1:
            raise ValueError(f"circle.train.t_eps must be in (0, 1), got {self.t_eps}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("circle.train.checkpoint_every and log_every must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


def sample_t(n: int, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """t in [t_eps, 1]: uniform (paper) or log-uniform (weights small t, where copying is learned)."""
    u = torch.rand(n, generator=gen)
    if cfg.t_sampling == "uniform":
        return cfg.t_eps + (1.0 - cfg.t_eps) * u
    return torch.exp(math.log(cfg.t_eps) * (1.0 - u))


class BatchSampler:
    """Indices of each mini-batch.

    ``epoch``: the paper/code loader — shuffle K points, batches of min(B, K), reshuffle when
    exhausted. ``replacement``: B indices drawn uniformly with replacement (replicates tiny K into
    a full batch with independent t and noise per copy).
    """

    def __init__(self, k: int, cfg: TrainConfig, gen: torch.Generator):
        self.k, self.cfg, self.gen = k, cfg, gen
        self.order = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.cfg.batch_sampling == "replacement":
            return torch.randint(self.k, (self.cfg.batch_size,), generator=self.gen)
        if self.pos >= len(self.order):
            self.order, self.pos = torch.randperm(self.k, generator=self.gen), 0
        idx = self.order[self.pos : self.pos + min(self.cfg.batch_size, self.k)]
        self.pos += len(idx)
        return idx

    def state(self) -> dict:
        return {"order": self.order.clone(), "pos": self.pos}

    def load(self, state: dict) -> None:
        self.order, self.pos = state["order"], state["pos"]


def dsm_loss(net, x0: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """E ||s(x0 + sqrt(t) z, t) sqrt(t) + z||^2, summed over coordinates, mean over the batch."""
    st = torch.sqrt(t)[:, None]
    return ((net(x0 + st * z, t) * st + z) ** 2).sum(dim=1).mean()


def _lr_lambda(cfg: TrainConfig):
    if cfg.lr_schedule == "constant":
        return lambda step: 1.0
    n = max(cfg.iterations, 1)
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, n) / n))


def train(
    points: np.ndarray,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train a score net on ``points`` (K, 2); resume from ``checkpoint`` when it matches.

    Returns the trained network and the log (step, loss, lr, it_per_s). The loss logged at a step
    is the mean over the ``log_every`` iterations ending there.
    """
    device = resolve_device(cfg.device, "circle.train.device")
    x_all = torch.tensor(np.array(points, dtype=np.float32))
    k = len(x_all)
    if k < 1:
        raise ValueError("no training points")
    net = build_model(model_cfg, cfg.seed).to(device)
    params = list(net.parameters())
    # The default (single-tensor) Adam: fused=True would be ~3x cheaper per step on CPU but rounds
    # differently, so it would change the trained weights of every existing configuration.
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    gen = torch.Generator().manual_seed(cfg.seed)
    batches = BatchSampler(k, cfg, gen)
    # What a checkpoint must match to be resumed: data, architecture and training config.
    key = config_hash(
        {"model": model_cfg.to_dict(), "train": cfg.to_dict(), "data": subset_hash(points)}
    )
    step, rows, acc, n_acc = 0, [], 0.0, 0
    ckpt = Path(checkpoint) if checkpoint else None
    # weights_only load; an unreadable checkpoint is set aside (warning) for the previous one.
    blob = load_resumable(ckpt) if ckpt is not None else None
    if blob is not None:
        if blob.get("key") == key:
            net.load_state_dict(blob["model"])
            opt.load_state_dict(blob["optimizer"])
            sched.load_state_dict(blob["scheduler"])
            gen.set_state(blob["rng"])
            batches.load(blob["batches"])
            step, rows = blob["step"], blob["log"]
            acc, n_acc = blob["acc"], blob["n_acc"]
            log.info("resumed from %s at step %d", ckpt, step)
        else:
            log.warning("ignoring checkpoint %s: made with a different config/data", ckpt)

    net.train()
    bar = tqdm(
        total=cfg.iterations,
        initial=step,
        file=sys.stderr,
        disable=not progress,
        mininterval=5.0,
        desc=f"train K={k}",
    )
    t0 = time.perf_counter()
    while step < cfg.iterations:
        idx = batches.next()
        x0 = x_all[idx].to(device)
        t = sample_t(len(idx), cfg, gen).to(device)
        z = torch.randn(x0.shape, generator=gen).to(device)
        loss = dsm_loss(net, x0, t, z)
        for p in params:  # = opt.zero_grad(set_to_none=True), without its per-call overhead
            p.grad = None
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        acc, n_acc = acc + loss.item(), n_acc + 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.iterations:
            dt = time.perf_counter() - t0
            rows.append(
                {
                    "step": step,
                    "loss": acc / n_acc,
                    "lr": sched.get_last_lr()[0],
                    "it_per_s": n_acc / dt if dt > 0 else float("nan"),
                }
            )
            bar.set_postfix(loss=f"{acc / n_acc:.4f}")
            acc, n_acc, t0 = 0.0, 0, time.perf_counter()
        if ckpt is not None and step % cfg.checkpoint_every == 0 and step < cfg.iterations:
            save_resumable(
                {
                    "key": key,
                    "step": step,
                    "model": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng": gen.get_state(),
                    "batches": batches.state(),
                    "log": rows,
                    "acc": acc,
                    "n_acc": n_acc,
                },
                ckpt,
            )
            t0 = time.perf_counter()  # exclude checkpoint I/O from it/s
    bar.close()
    net.eval()
    cols = ["step", "loss", "lr", "it_per_s"]
    return net, pd.DataFrame(rows, columns=cols)

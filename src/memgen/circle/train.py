"""Denoising score matching for the circle's score network, with exact, resumable checkpoints.

The noise process is the VE SDE of :class:`memgen.noise.VESDE` (its training times, perturbation
and variance-weighted loss); batch order, RNG capture and checkpoints are the shared training core
of :mod:`memgen.training`. All randomness of the loop (batch indices, t, noise) comes from one
explicit torch.Generator, checkpointed together with model, optimizer and LR-schedule states, so a
run killed at any point and resumed reproduces the uninterrupted run bit for bit on CPU.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from memgen.circle.data import subset_hash
from memgen.circle.model import CircleModelConfig, build_model
from memgen.circle.perk import PerK, each
from memgen.device import resolve_device
from memgen.io import config_hash
from memgen.noise import T_SAMPLING, VESDE
from memgen.optim import FusedAdamStep
from memgen.sections import Section, section
from memgen.training import BatchOrder, TrainingCheckpoint, progress_bar

log = logging.getLogger(__name__)

BATCH_SAMPLING = ("epoch", "replacement")
LR_SCHEDULES = ("constant", "cosine")
CHECKPOINT_FORMAT = 2  # in the resume key: checkpoints of another layout are not resumed


@section("circle.train")
@dataclass(frozen=True)
class CircleTrainConfig(PerK, Section):
    """The ``circle.train`` section (defaults: the authors' code; ``iterations`` is per K)."""

    PER_K = ("iterations",)

    iterations: int | list[int] = field(default_factory=lambda: [800_000, 800_000, 500_000])
    lr: float = 1e-4
    batch_size: int = 500
    batch_sampling: str = "epoch"
    t_sampling: str = "uniform"
    t_eps: float = 1e-5
    lr_schedule: str = "constant"
    checkpoint_every: int = 10_000
    log_every: int = 1000
    seed: int = 0
    device: str = "auto"
    impl_version: int = 2

    def __post_init__(self):
        if self.impl_version not in (1, 2):
            raise ValueError(f"circle.train.impl_version must be 1 or 2, got {self.impl_version}")
        if any(n < 0 for n in each(self.iterations)):
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

    def process(self) -> VESDE:
        """The noise process with this section's training-time distribution."""
        return VESDE(sigma=1.0, t_eps=self.t_eps, t_sampling=self.t_sampling)


def _lr_lambda(cfg: CircleTrainConfig):
    if cfg.lr_schedule == "constant":
        return lambda step: 1.0
    n = max(cfg.iterations, 1)
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, n) / n))


def train(
    points: np.ndarray,
    model_cfg: CircleModelConfig,
    cfg: CircleTrainConfig,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train a score net on ``points`` (K, 2); resume from ``checkpoint`` when it matches.

    ``cfg`` must be resolved for this K (:meth:`CircleTrainConfig.at_k`). Returns the trained
    network and the log (step, loss, lr, it_per_s). The loss logged at a step is the mean over the
    ``log_every`` iterations ending there.
    """
    cfg.check_resolved()
    device = resolve_device(cfg.device, "circle.train.device")
    x_all = torch.tensor(np.array(points, dtype=np.float32))
    k = len(x_all)
    if k < 1:
        raise ValueError("no training points")
    net = build_model(model_cfg, cfg.seed).to(device)
    params = list(net.parameters())
    # impl_version 2: fused Adam (one kernel for all tensors, a quarter of a CPU step less on the
    # paper net), stepped without Optimizer.step's bookkeeping. It rounds differently from the
    # single-tensor Adam of impl_version 1, which reproduces the weights of earlier runs.
    fused = cfg.impl_version >= 2
    opt = torch.optim.Adam(params, lr=cfg.lr, fused=fused)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    # After the scheduler, which wraps opt.step to check the call order.
    adam_step = FusedAdamStep(opt).step if fused else opt.step
    process = cfg.process()
    gen = torch.Generator().manual_seed(cfg.seed)
    # The authors' loader keeps the short last batch of an epoch.
    order = BatchOrder(k, cfg.batch_size, cfg.batch_sampling, gen, drop_last=False)
    # What a checkpoint must match to be resumed: data, architecture and training config.
    key = config_hash(
        {"model": model_cfg.to_dict(), "train": cfg.to_dict(), "data": subset_hash(points),
         "format": CHECKPOINT_FORMAT}
    )  # fmt: skip
    step, rows, acc, n_acc = 0, [], 0.0, 0
    ckpt = None
    if checkpoint:
        ckpt = TrainingCheckpoint(
            checkpoint, key,
            parts={"model": net, "optimizer": opt, "scheduler": sched, "order": order},
            generators={"data": gen},
        )  # fmt: skip
        state = ckpt.restore()
        if state is not None:
            step, rows = int(state["step"]), list(state["log"])
            acc, n_acc = state["acc"], state["n_acc"]

    net.train()
    bar = progress_bar(cfg.iterations, step, progress, f"train K={k}")
    t0 = time.perf_counter()
    while step < cfg.iterations:
        idx = order.next()
        x0 = x_all[idx].to(device)
        t = process.sample_times(len(idx), gen, device)
        z = torch.randn(x0.shape, generator=gen).to(device)
        loss = process.loss(net(process.perturb(x0, t, z), t), z, t)
        for p in params:  # = opt.zero_grad(set_to_none=True), without its per-call overhead
            p.grad = None
        loss.backward()
        adam_step()
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
            ckpt.save(step, rows, acc=acc, n_acc=n_acc)
            t0 = time.perf_counter()  # exclude checkpoint I/O from it/s
    bar.close()
    net.eval()
    cols = ["step", "loss", "lr", "it_per_s"]
    return net, pd.DataFrame(rows, columns=cols)

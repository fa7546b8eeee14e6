"""Training-step time of the digits MLP and the circle network against the arithmetic floor.

Run: python benchmarks/bench_train_step.py [--steps 1500] [--repeats 3]   (one torch thread)

For each network, at the demo's settings (batch 128):
- GEMM FLOPs per step from the network's Linear layer shapes, recorded by forward hooks:
  forward 2·B·in·out, weight gradient 2·B·in·out, input gradient 2·B·in·out where the layer's
  input needs one (not for layers fed by data only). Elementwise work is not counted.
- the GEMM rate, measured now with torch (sgemm, single thread) on a 1024³ product, and the
  time the step's own GEMMs take at their (small) shapes;
- floor = FLOPs / rate, the time the arithmetic needs at the machine's GEMM speed;
- CPU seconds per step (time.process_time, so time lost to other processes on a shared box is
  not counted) of the previous loop (plain torch.optim calls, reproduced below) and of the shipped
  loop (memgen.train.train_model / memgen.circle.train.train), interleaved, median of the repeats.
  The shipped loops are timed by difference of two run lengths, so set-up and saving cancel out.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

torch.set_num_threads(1)
BATCH = 128
DIGITS_MODEL = {"kind": "mlp", "width": 128, "blocks": 3}


def cpu_time(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


# ------------------------------------------------------------------------------ arithmetic
def linear_shapes(net: nn.Module, *inputs: torch.Tensor) -> list[tuple[int, int, int, bool]]:
    """(batch, in, out, input needs a gradient) of every Linear call in one training forward."""
    shapes = []

    def hook(mod, args, _out):
        x = args[0]
        shapes.append((x.shape[0], mod.in_features, mod.out_features, x.requires_grad))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Linear)]
    try:
        net(*inputs)
    finally:
        for h in handles:
            h.remove()
    return shapes


def gemm_flops(shapes) -> int:
    return sum(2 * b * i * o * (3 if needs_dx else 2) for b, i, o, needs_dx in shapes)


def gemm_rate(n: int = 1024, seconds: float = 1.0) -> float:
    """FLOP/s of an n x n x n single-precision matrix product (best of a few timed batches)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    reps = max(1, int(seconds * 1e11 / (2 * n**3) / 5))
    best = min(cpu_time(lambda: [a @ b for _ in range(reps)]) for _ in range(5))
    return 2 * n**3 * reps / best


def step_gemm_time(shapes, reps: int = 200) -> float:
    """CPU seconds of the step's own GEMMs (forward, weight and input gradients) at their shapes."""
    mats = [(torch.randn(b, i), torch.randn(o, i), torch.randn(b, o), dx) for b, i, o, dx in shapes]

    def run():
        for x, w, gy, dx in mats:
            x.mm(w.t())
            gy.t().mm(x)
            if dx:
                gy.mm(w)

    run()
    return min(cpu_time(lambda: [run() for _ in range(reps)]) for _ in range(3)) / reps


# ---------------------------------------------------------------------------------- digits
def digits_data() -> torch.Tensor:
    from sklearn.datasets import load_digits

    x = load_digits().images.astype(np.float32)[:100, None] / 8.0 - 1.0
    return torch.as_tensor(x)


def digits_cfg(steps: int):
    from memgen.train import TrainConfig

    return TrainConfig(iterations=steps, batch_size=BATCH, lr=2e-3, ema_decay=0.999, ema_warmup=True,
                       batching="replacement", checkpoint_every=10**9, log_every=500, device="cpu")  # fmt: skip


def digits_old(data: torch.Tensor, steps: int) -> float:
    """CPU s/step of the previous digits loop: opt.step(), clip_grad_norm_, per-step roots."""
    from memgen.models import build_model
    from memgen.schedules import DDPMSchedule
    from memgen.train import EMA
    from memgen.training import BatchOrder, seed_everything

    cfg = digits_cfg(steps)
    seed_everything(cfg.seed)
    net = build_model(DIGITS_MODEL, tuple(data.shape[1:]))
    ema, params = EMA(net, cfg.ema_decay, cfg.ema_warmup), list(net.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, fused=True)
    order = BatchOrder(len(data), BATCH, cfg.batching, 1)
    gen = torch.Generator().manual_seed(2)
    abar, losses = DDPMSchedule().alphas_cumprod, torch.zeros(cfg.log_every)

    def loop():
        for step in range(steps):
            x0 = data[order.next()]
            t = torch.randint(0, 1000, (BATCH,), generator=gen)
            noise = torch.randn(x0.shape, generator=gen)
            a = abar[t].view(-1, 1, 1, 1)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
                pred = net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t)
            loss = torch.mean((noise - pred.float()) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
            opt.step()
            ema.update(params, step)
            losses[step % cfg.log_every] = loss.detach()

    return cpu_time(loop) / steps


def digits_new(data: torch.Tensor, steps: int) -> float:
    from memgen.train import train_model

    def run(n: int) -> float:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d)
            return cpu_time(lambda: train_model(data, DIGITS_MODEL, digits_cfg(n), p / "m",
                                                p / "log.parquet", p / "s", progress=False))  # fmt: skip

    short = max(10, steps // 10)
    return (run(steps + short) - run(short)) / steps


# ---------------------------------------------------------------------------------- circle
def circle_points() -> np.ndarray:
    from memgen.circle.data import make_pool, make_split, train_points

    return train_points(make_split(make_pool(2000, 9), [9], 42), 9)


def circle_cfg(steps: int, impl_version: int = 2):
    from memgen.circle.train import CircleTrainConfig

    return CircleTrainConfig(iterations=steps, lr=1e-3, lr_schedule="cosine", batch_size=BATCH,
                             batch_sampling="replacement", t_sampling="log_uniform", log_every=100,
                             device="cpu", impl_version=impl_version)  # fmt: skip


def circle_old(points: np.ndarray, steps: int) -> float:
    """CPU s/step of the first circle loop: default (single-tensor) Adam and opt.zero_grad."""
    import math

    from memgen.circle.model import CircleModelConfig, build_model
    from memgen.circle.train import _lr_lambda

    cfg = circle_cfg(steps)
    net = build_model(CircleModelConfig(), cfg.seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    gen = torch.Generator().manual_seed(cfg.seed)
    x_all = torch.tensor(points, dtype=torch.float32)

    def loop():
        acc = 0.0
        for _ in range(steps):
            idx = torch.randint(len(points), (BATCH,), generator=gen)
            x0 = x_all[idx]
            t = torch.exp(math.log(cfg.t_eps) * (1.0 - torch.rand(len(idx), generator=gen)))
            z = torch.randn(x0.shape, generator=gen)
            st = torch.sqrt(t)[:, None]
            loss = ((net(x0 + st * z, t) * st + z) ** 2).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            acc += loss.item()

    return cpu_time(loop) / steps


def circle_new(points: np.ndarray, steps: int, impl_version: int = 2) -> float:
    """CPU s/step of the shipped circle loop (impl_version 2: fused Adam; 1: single-tensor Adam)."""
    from memgen.circle.model import CircleModelConfig
    from memgen.circle.train import train

    def run(n: int) -> float:
        cfg = circle_cfg(n, impl_version)
        return cpu_time(lambda: train(points, CircleModelConfig(), cfg, progress=False))

    short = max(10, steps // 10)
    return (run(steps + short) - run(short)) / steps


# ------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500, help="digits steps per timing (circle: /5)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from memgen.circle.model import CircleModelConfig
    from memgen.circle.model import build_model as build_circle
    from memgen.models import build_model

    rate = gemm_rate()
    data, points = digits_data(), circle_points()
    digits_net = build_model(DIGITS_MODEL, (1, 8, 8)).train()
    circle_net = build_circle(CircleModelConfig(), 0).train()
    cases = {
        "digits MLP 128x3": (
            linear_shapes(
                digits_net, torch.randn(BATCH, 1, 8, 8), torch.randint(0, 1000, (BATCH,))
            ),
            sum(p.numel() for p in digits_net.parameters()),
            lambda: digits_old(data, args.steps),
            lambda: digits_new(data, args.steps),
        ),
        "circle paper net 256x8": (
            linear_shapes(circle_net, torch.randn(BATCH, 2), torch.rand(BATCH) + 0.01),
            sum(p.numel() for p in circle_net.parameters()),
            lambda: circle_old(points, max(50, args.steps // 5)),
            lambda: circle_new(points, max(50, args.steps // 5)),
        ),
        "circle, shipped loop: impl_version 1 (old) vs 2 (new, fused Adam)": (
            linear_shapes(circle_net, torch.randn(BATCH, 2), torch.rand(BATCH) + 0.01),
            sum(p.numel() for p in circle_net.parameters()),
            lambda: circle_new(points, max(50, args.steps // 5), impl_version=1),
            lambda: circle_new(points, max(50, args.steps // 5)),
        ),
    }
    print(f"GEMM rate (torch sgemm 1024^3, 1 thread, CPU time): {rate / 1e9:.1f} GFLOP/s")
    print("CPU ms per training step, batch 128; median of", args.repeats, "interleaved repeats\n")
    print("| network | params | GEMM MFLOP/step | floor ms | its GEMMs at their shapes ms "
          "| old loop ms | new loop ms | old/new | new/floor |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (shapes, n_params, old, new) in cases.items():
        flops = gemm_flops(shapes)
        floor, gemms = flops / rate, step_gemm_time(shapes)
        t_old, t_new = [], []
        for _ in range(args.repeats):
            t_old.append(old())
            t_new.append(new())
        o, n = statistics.median(t_old), statistics.median(t_new)
        print(f"| {name} | {n_params:,} | {flops / 1e6:.1f} | {floor * 1e3:.2f} | {gemms * 1e3:.2f} "
              f"| {o * 1e3:.2f} | {n * 1e3:.2f} | {o / n:.2f} | {n / floor:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()

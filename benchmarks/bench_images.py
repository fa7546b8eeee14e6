"""Image-model throughput: digits MLP training/sampling on CPU, UNet preset forward times, and the
GPU comparison (fp32 eager vs bf16 + channels_last + compile on cifar10_128; skipped without CUDA).

Run: python benchmarks/bench_images.py   (one torch thread; prints a markdown table)
"""

from __future__ import annotations

import time

import numpy as np
import torch

from memgen.models import build_model
from memgen.samplers import ddpm_ancestral
from memgen.schedules import DDPMSchedule

torch.set_num_threads(1)


def bench_mlp_train(steps: int = 1000) -> float:
    from sklearn.datasets import load_digits

    from memgen.train import EMA
    from memgen.training import BatchOrder

    data = torch.as_tensor(load_digits().images.astype(np.float32)[:500, None] / 8 - 1)
    net = build_model({"kind": "mlp", "width": 128, "blocks": 3}, (1, 8, 8))
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=2e-3, fused=True)
    ema, order, abar = (
        EMA(net, 0.999, True),
        BatchOrder(500, 128, "replacement", 0),
        DDPMSchedule().alphas_cumprod,
    )
    t0 = time.process_time()
    for s in range(steps):  # the same step as memgen.train.train_model
        x0 = data[order.next()]
        t = torch.randint(0, 1000, (128,))
        noise = torch.randn_like(x0)
        a = abar[t].view(-1, 1, 1, 1)
        loss = ((net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t) - noise) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        opt.step()
        ema.update(params, s)
    return steps / (time.process_time() - t0)


def bench_mlp_sample(n: int = 500) -> float:
    net = build_model({"kind": "mlp", "width": 128, "blocks": 3}, (1, 8, 8)).eval()
    t0 = time.process_time()
    ddpm_ancestral(
        lambda x, t: net(x, t), (n, 1, 8, 8), torch.Generator().manual_seed(0), progress=False
    )
    return n / (time.process_time() - t0)


def bench_unet_forward(preset: str, shape, batch: int = 2) -> float:
    net = build_model({"kind": "unet", "preset": preset}, shape).eval()
    x, t = torch.randn(batch, *shape), torch.randint(0, 1000, (batch,))
    with torch.no_grad():
        net(x, t)
        t0 = time.perf_counter()
        net(x, t)
    return time.perf_counter() - t0


def bench_gpu(steps: int = 50) -> list[str]:
    if not torch.cuda.is_available():
        return ["GPU comparison skipped: no CUDA device visible (no GPU was lent to this task)."]
    out = []
    for name, bf16, cl, comp in [
        ("fp32 eager", False, False, False),
        ("bf16+channels_last+compile", True, True, True),
    ]:
        net = build_model({"kind": "unet", "preset": "cifar10_128"}, (3, 32, 32)).cuda()
        if cl:
            net = net.to(memory_format=torch.channels_last)
        fwd = torch.compile(net) if comp else net
        opt = torch.optim.Adam(net.parameters(), lr=2e-4, fused=True)
        x = torch.randn(128, 3, 32, 32, device="cuda")
        torch.cuda.reset_peak_memory_stats()
        for i in range(steps + 10):
            if i == 10:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
            t = torch.randint(0, 1000, (128,), device="cuda")
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                loss = ((fwd(x, t).sample.float() - x) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        sps = steps / (time.perf_counter() - t0)
        out.append(
            f"| {name} | {sps:.2f} steps/s | peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB |"
        )
    return out


def main() -> None:
    print("| measurement (1 CPU thread, CPU-seconds) | value |\n|---|---|")
    print(f"| digits MLP 128x3 training, batch 128 | {bench_mlp_train():.0f} steps/s |")
    print(f"| digits MLP DDPM-1000 sampling, n=500 | {bench_mlp_sample():.1f} samples/s |")
    for preset, shape in [
        ("mnist", (1, 28, 28)),
        ("cifar10_128", (3, 32, 32)),
        ("church_128", (3, 64, 64)),
    ]:
        print(
            f"| UNet {preset} forward, batch 2 (wall) | {bench_unet_forward(preset, shape):.2f} s |"
        )
    print("\n".join(bench_gpu()))


if __name__ == "__main__":
    main()

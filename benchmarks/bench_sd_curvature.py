"""Stable Diffusion curvature benchmark: time per sample and peak memory of the latent score-Jacobian
spectrum (memgen.sd_curvature + memgen.spectrum), both matrix-free solvers.

- default: the tiny random-weight Stable Diffusion pipeline of memgen.tiny_models (4 x 8 x 8 latent) on
  the CPU, generation included;
- ``--full-size`` (on a GPU): a UNet2DConditionModel with Stable Diffusion v1's architecture (diffusers'
  defaults: 320/640/1280/1280 channels, cross-attention 768) and random weights, a 4 x 64 x 64 latent and
  a random 77 x 768 text embedding; the spectrum only (generation of a full SD model costs seconds).

Per solver it prints seconds per sample (one point's top-k singular values), Jacobian products, seconds
per product and peak memory (CUDA: torch.cuda.max_memory_allocated; CPU: the process's peak RSS).
Run: python benchmarks/bench_sd_curvature.py [--top-k 8] [--full-size --top-k 256 --batch-size 16]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from types import SimpleNamespace

import torch


def _peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tiny(device, seed):
    from memgen.sd_curvature import SDCurvatureConfig, generate, load_sd_pipeline, text_embeddings
    from memgen.tiny_models import save_sd_pipeline

    folder = save_sd_pipeline(tempfile.mkdtemp(prefix="memgen-bench-sd-") + "/sd", seed=seed)
    pipe = load_sd_pipeline(folder, device)
    t0 = time.perf_counter()
    z0, _ = generate(pipe, "an astronaut riding a horse", seed, SDCurvatureConfig(steps=50))
    gen_s = time.perf_counter() - t0
    return pipe, z0, text_embeddings(pipe, "an astronaut riding a horse", 1.0), gen_s


def _full_size(device, seed):
    from diffusers import DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768).to(device).eval().requires_grad_(False)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    pipe = SimpleNamespace(unet=unet, scheduler=sched)
    z0 = torch.randn((1, 4, 64, 64), device=device)
    emb = torch.randn((1, 77, 768), device=device)
    n = sum(p.numel() for p in unet.parameters())
    print(f"full-size SD v1 UNet with random weights: {n / 1e6:.1f}M parameters, latent 4x64x64 (d = 16384)")
    return pipe, z0, emb, float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full-size", action="store_true", help="SD v1-size UNet, random weights (use a GPU)")
    p.add_argument("--top-k", type=int, default=8, help="singular values per sample")
    p.add_argument("--batch-size", type=int, default=8, help="tangents per UNet call (randomized solver)")
    p.add_argument("--solvers", nargs="+", default=["lanczos", "randomized"])
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from memgen.sd_curvature import SDCurvatureConfig, jacobian_operator
    from memgen.spectrum import topk_singular_values
    from memgen.train import resolve_device

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch threads {torch.get_num_threads()}")
    pipe, z0, emb, gen_s = (_full_size if args.full_size else _tiny)(device, args.seed)
    if gen_s == gen_s:
        print(f"generation (DDIM 50 steps, guidance 7.5): {gen_s:.2f} s per sample")
    for solver in args.solvers:
        cfg = SDCurvatureConfig(top_k=args.top_k, solver=solver, batch_size=args.batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        op, sigma = jacobian_operator(pipe, z0, emb, cfg)
        t0 = time.perf_counter()
        sv = topk_singular_values(op, cfg.top_k, solver, oversample=cfg.oversample,
                                  power_iterations=cfg.power_iterations)  # fmt: skip
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        secs = time.perf_counter() - t0
        print(f"{solver:>10}: top-{cfg.top_k} in {secs:.2f} s per sample, {op.n_products} products "
              f"({secs / op.n_products * 1e3:.1f} ms each), peak memory {_peak_mb(device):.0f} MiB, "
              f"s_1 = {sv[0]:.4g}, s_k = {sv[-1]:.4g} (sigma_t = {sigma:.3g})")  # fmt: skip


if __name__ == "__main__":
    main()

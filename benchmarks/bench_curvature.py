"""Curvature benchmark (docs/method.md §7): Jacobian spectra per point on CPU for the digits demo network (8x8x1, d = 64).

Prints points/s for Alg 2 (score matrix, M = d) and Alg 3 (exact Jacobian), and the speed-up of the
torch.func batched Jacobian (jacrev: vmapped VJPs) over Python loops over the d rows on the same points
(required >= 5x), with two loop baselines side by side:
  * "loop per point": for each point, for each of the d rows, one autograd.grad (the plain Python loop);
  * "loop, points batched": for each row one autograd.grad over all points at once (the strongest loop;
    it already vectorises over points, so its gap to jacrev shrinks as the batch grows and both become
    bound by the same matmul FLOPs).
Run: python benchmarks/bench_curvature.py [--points 32]
"""

from __future__ import annotations

import argparse
import time

import torch

from memgen.curvature import (
    jacobian_batch,
    jacobian_batch_loop,
    jacobian_spectra,
    score_matrix_spectrum,
)
from memgen.models import EpsModel, build_model
from memgen.schedules import DDPMSchedule

MODELS = {"mlp": {"kind": "mlp", "width": 128, "blocks": 3}}  # the digits demo network (demo.yaml)


def _time(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=32, help="points per measurement")
    ap.add_argument("--model", choices=sorted(MODELS), default="mlp", help="network (mlp = digits demo config)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = EpsModel(build_model(MODELS[args.model], (1, 8, 8)))
    sched = DDPMSchedule()
    x0 = torch.rand(args.points, 1, 8, 8) * 2 - 1
    n = args.points
    t_jac = _time(lambda: jacobian_spectra(model, x0, 10, sched, batch_size=16))
    t_alg2 = _time(lambda: [score_matrix_spectrum(model, x, 10, sched, m=64) for x in x0], repeat=1)
    err = (jacobian_batch(model, x0[:4], 10, sched) - jacobian_batch_loop(model, x0[:4], 10, sched)).abs().max()
    print(f"model {args.model} (digits 8x8x1, d=64), CPU, 1 thread, t=10")
    print(f"Alg 3 exact Jacobian + svdvals: {n / t_jac:8.1f} points/s")
    print(f"Alg 2 score matrix (M=d=64):    {n / t_alg2:8.1f} points/s")
    print(f"batched vs loop max |diff| {float(err):.1e}")
    print("Jacobian of B points (best of 5, same points):  torch.func  | loop per point (ratio) | loop, points batched (ratio)")
    for b in (1, 4, 16):
        xb = x0[:b]
        t_vmap = _time(lambda xb=xb: jacobian_batch(model, xb, 10, sched), repeat=5)
        t_point = _time(
            lambda xb=xb: [jacobian_batch_loop(model, x[None], 10, sched) for x in xb], repeat=5
        )
        t_rows = _time(lambda xb=xb: jacobian_batch_loop(model, xb, 10, sched), repeat=5)
        print(f"  B = {b:2d}: {t_vmap * 1e3:7.1f} ms | {t_point * 1e3:7.1f} ms ({t_point / t_vmap:5.1f}x) "
              f"| {t_rows * 1e3:7.1f} ms ({t_rows / t_vmap:4.1f}x)")


if __name__ == "__main__":
    main()

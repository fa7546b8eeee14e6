"""Circle benchmarks: per-stage costs and the ratios that set the demo budget.

Run: python benchmarks/bench_circle.py  (single thread). Prints measured seconds side by side.
"""
# ruff: noqa: B023  (each lambda is called immediately inside its loop iteration)

import time

import numpy as np
import torch

from memgen.circle.cluster import CircleClusterConfig, cluster_samples
from memgen.circle.data import make_pool, make_split, train_points
from memgen.circle.energy import pf_ode_log_likelihood
from memgen.circle.exact import ExactScore, energy_grid
from memgen.circle.model import CircleModelConfig, build_model, score_fn
from memgen.circle.sampler import euler_maruyama
from memgen.circle.train import CircleTrainConfig, train

torch.set_num_threads(1)


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    pts = {
        k: train_points(make_split(make_pool(60000, 9), [2, 9, 1000], 42), k) for k in (2, 9, 1000)
    }
    net = build_model(CircleModelConfig(), 0).eval()
    rows = []
    for b in (9, 128, 500):
        cfg = CircleTrainConfig(
            iterations=100, lr=1e-3, batch_size=b, batch_sampling="replacement", log_every=100,
            device="cpu",
        )
        rows.append(
            (
                f"train 100 it, batch {b}",
                timed(lambda: train(pts[9], CircleModelConfig(), cfg, progress=False)),
            )
        )
    for n, steps in ((1000, 100), (10000, 100)):
        rows.append(
            (
                f"EM {n} samples x {steps} steps (net)",
                timed(
                    lambda: euler_maruyama(score_fn(net), n, steps, 1e-3, 1.0, 0, progress=False)
                ),
            )
        )
    rows.append(
        (
            "EM 10000 x 1000 steps (exact, K=9)",
            timed(
                lambda: euler_maruyama(
                    ExactScore(pts[9]),
                    10000,
                    1000,
                    1e-3,
                    1.0,
                    0,
                    dtype=torch.float64,
                    progress=False,
                )
            ),
        )
    )
    x = np.random.default_rng(0).normal(size=(10000, 2))
    for n in (2000, 10000):
        rows.append(
            (
                f"Ward on {n} samples",
                timed(
                    lambda: cluster_samples(x[:n], pts[9], CircleClusterConfig(tau=2.0), 1e-3)
                ),
            )
        )
    g = energy_grid(20, 1.5)
    for tol in (1e-4, 1e-5):
        rows.append(
            (
                f"PF-ODE energy 20x20, tol {tol:g}",
                timed(lambda: pf_ode_log_likelihood(net, g, 0.05, rtol=tol, atol=tol)),
            )
        )
    for name, sec in rows:
        print(f"{name:45s} {sec:8.2f} s")
    print(
        f"ratio Ward 10000/2000: {rows[6][1] / rows[5][1]:.1f}x; "
        f"energy tol 1e-5/1e-4: {rows[8][1] / rows[7][1]:.1f}x"
    )


if __name__ == "__main__":
    main()

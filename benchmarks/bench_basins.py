"""Critical-time search cost per point for the digits demo setting (docs/method.md §6).

    python benchmarks/bench_basins.py [--points 16] [--results-md benchmarks/RESULTS.md]

Digits 8x8 (sklearn, x/8 - 1), K = 100, the demo's basins settings (l2, delta 1.0, 5 trials, stride 50,
DDIM-20). Two eps-models: the exact empirical-score model (a perfect memorizer: training points survive
to large t, so this is the expensive case) and the demo's residual MLP architecture (128 x 3 blocks,
freshly initialised: its evaluation cost per image is that of the trained net; run with delta = inf so
every candidate time is searched, the worst case). Side by side:
Algorithm 1 batched across images x trials (the implementation) vs one image at a time (same numbers,
per-image noise streams), on the same points. Single-threaded.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import torch

from memgen.basins import BasinConfig, critical_times, l2_distance
from memgen.models import EpsModel, build_model
from memgen.models.empirical import EmpiricalEpsModel
from memgen.schedules import DDPMSchedule

HEADING = "## Basins"
CFG = BasinConfig(metric="l2", delta=1.0, trials=5, stride=50, ddim_steps=20, stop_prob=0.9)


def digits(k: int) -> torch.Tensor:
    from sklearn.datasets import load_digits

    x = load_digits().images[:k].astype(np.float32) / 8.0 - 1.0
    return torch.as_tensor(x[:, None])


def timed(model, x, ids, per_image: bool, cfg: BasinConfig):
    sched = DDPMSchedule()
    start = time.perf_counter()
    if per_image:
        outs = [critical_times(model, x[i : i + 1], l2_distance, cfg, sched, ids[i : i + 1]) for i in range(len(x))]
        t_c = np.concatenate([o.t_c for o in outs])
        evals = np.concatenate([o.evals for o in outs])
    else:
        out = critical_times(model, x, l2_distance, cfg, sched, ids)
        t_c, evals = out.t_c, out.evals
    return time.perf_counter() - start, t_c, evals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=16, help="training points + as many midpoints")
    ap.add_argument("--results-md", default=None, help="append/replace the '## Basins' section of this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    train = digits(100)
    n = args.points
    mids = (train[:n] + train[1 : n + 1]) / 2  # off-data points: short basins
    x = torch.cat([train[:n], mids])
    ids = np.arange(len(x))
    torch.manual_seed(0)
    mlp = EpsModel(build_model({"kind": "mlp"}, (1, 8, 8)))
    worst = BasinConfig(**{**CFG.__dict__, "delta": float("inf")})
    # The untrained MLP would fail at once; delta = inf makes it run every candidate (worst case).
    models = {"empirical (K=100)": (EmpiricalEpsModel(train), CFG), "MLP 128x3, delta=inf (worst case)": (mlp, worst)}
    rows = []
    for name, (model, cfg) in models.items():
        with torch.no_grad():
            tb, tc_b, ev_b = timed(model, x, ids, False, cfg)
            tl, tc_l, ev_l = timed(model, x, ids, True, cfg)
        same = bool(np.array_equal(tc_b, tc_l))
        rows.append((name, len(x), ev_b.mean(), ev_b[:n].mean(), ev_b[n:].mean(), tb / len(x), tl / len(x),
                     tl / tb, same, tc_b[:n].mean(), tc_b[n:].mean()))
    lines = [
        "| model | points | evals/point (all / train / midpoints) | s/point batched | s/point one-by-one | "
        "speed-up | same T_c | mean T_c train / mid |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]:.0f} / {r[3]:.0f} / {r[4]:.0f} | {r[5]:.4f} | {r[6]:.4f} | "
                     f"{r[7]:.1f}x | {r[8]} | {r[9]:.0f} / {r[10]:.0f} |")
    # Demo: 16 training points + <= 3 x 16 samples per K, 10 K values; the MLP row is the worst case.
    demo_s = rows[1][5] * 64 * 10
    lines.append(f"\nDigits demo upper bound (64 points x 10 K at the MLP worst case): {demo_s:.0f} s of search, "
                 "plus ~3-5 s of start-up per job.")
    table = "\n".join(lines)
    print(table)
    if args.results_md:
        section = (
            f"{HEADING}\n\nCritical-time search (Algorithm 1) per point, digits demo settings (l2, delta 1.0, "
            "5 trials, stride 50, DDIM-20), 1 torch thread, `python benchmarks/bench_basins.py "
            f"--points {n}`; {time.strftime('%Y-%m-%d')}. Points: {n} training points + {n} midpoints of "
            "consecutive training points. Machine shared with other jobs (timings are upper bounds).\n\n"
            f"{table}\n"
        )
        path = Path(args.results_md)
        text = path.read_text() if path.exists() else "# Benchmark results\n"
        pat = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.M | re.S)
        text = pat.sub(section + "\n", text) if pat.search(text) else text.rstrip() + "\n\n" + section
        path.write_text(text)


if __name__ == "__main__":
    main()

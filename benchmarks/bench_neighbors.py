"""Benchmark of the exact kNN (docs/method.md §5.2): embedding + GEMM search vs pairwise LPIPS, and peak RSS at LSUN scale.

Run: python benchmarks/bench_neighbors.py [--quick] [--lsun-queries N]
1. LPIPS-alex 5-NN, 2 000 queries x 10 000 references at 32x32 on CPU. The pairwise baseline (the lpips
   package on every (query, reference) pair, batched, as the official code does) is timed on a subset of
   queries against all references and scaled linearly; the neighbours of that subset must be identical.
   A random backbone (pnet_rand) is used when the ImageNet weights are absent: the cost is the same.
2. Peak RSS of an LSUN-scale search: 126 227 references x queries, dimension of the alex embedding at 64x64,
   random float32 embeddings in memory-mapped .npy files (temp dir), measured in a subprocess (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch


def bench_speed(n_query: int, n_ref: int, n_sub: int) -> dict:
    from memgen.embeddings import LpipsEmbedder
    from memgen.neighbors import search
    from memgen.perceptual import backbone_checkpoint, load_lpips, lpips_distance

    pretrained = backbone_checkpoint("alex").is_file()
    torch.manual_seed(0)
    model = load_lpips("alex", pretrained_backbone=pretrained)
    import memgen.perceptual as perceptual

    perceptual.load_lpips = lambda net, pb, dev: model  # same model object for both methods
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (n_ref, 32, 32, 3), dtype=np.uint8)
    qry = rng.integers(0, 256, (n_query, 32, 32, 3), dtype=np.uint8)

    t = time.perf_counter()
    df, _ = search(ref, qry, "lpips-alex", 5, device="cpu", progress=False)
    t_ours = time.perf_counter() - t

    to_t = lambda a: torch.from_numpy(a.astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2)  # noqa: E731
    rr, rq = to_t(ref), to_t(qry[:n_sub])
    t = time.perf_counter()
    with torch.no_grad():
        d = np.stack(
            [
                np.concatenate(
                    [
                        lpips_distance(rq[i].expand(len(b), -1, -1, -1), b, model).numpy()
                        for b in torch.split(rr, 500)
                    ]
                )
                for i in range(n_sub)
            ]
        )
    t_pair = time.perf_counter() - t
    brute = np.argsort(d, axis=1, kind="stable")[:, :5]
    got = (
        df[df["query"] < n_sub].pivot(index="query", columns="rank", values="ref_index").to_numpy()
    )
    t_pair_full = t_pair * n_query / n_sub
    return {
        "pretrained_backbone": pretrained,
        "queries": n_query,
        "references": n_ref,
        "embedding_dim": LpipsEmbedder(model).dim(32, 32),
        "ours_s": round(t_ours, 2),
        "pairwise_subset_queries": n_sub,
        "pairwise_subset_s": round(t_pair, 2),
        "pairwise_scaled_s": round(t_pair_full, 1),
        "speedup": round(t_pair_full / t_ours, 1),
        "identical_neighbours_on_subset": bool((got == brute).all()),
    }


LSUN_CHILD = r"""
import json, resource, sys, time
import numpy as np
from memgen.neighbors import Rows, knn
ref = np.load(sys.argv[1], mmap_mode="r"); qry = np.load(sys.argv[2], mmap_mode="r")
t = time.perf_counter()
idx, d = knn(Rows(qry), Rows(ref), 5, device="cpu", progress=False)
print(json.dumps({"search_s": round(time.perf_counter() - t, 1),
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def bench_lsun(n_ref: int, n_query: int, dim: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-nn-") as tmp:
        rng = np.random.default_rng(0)
        t = time.perf_counter()
        base = rng.random(
            (2048, dim), dtype=np.float32
        )  # content is irrelevant to memory; cheap to write
        for name, n in (("ref", n_ref), ("qry", n_query)):
            with open(f"{tmp}/{name}.npy", "wb") as fh:
                np.lib.format.write_array_header_1_0(
                    fh, {"descr": "<f4", "fortran_order": False, "shape": (n, dim)}
                )
                for s in range(0, n, 2048):
                    fh.write((base[: min(2048, n - s)] + np.float32(s % 997)).tobytes())
        t_write = time.perf_counter() - t
        out = subprocess.run(
            [sys.executable, "-c", LSUN_CHILD, f"{tmp}/ref.npy", f"{tmp}/qry.npy"],
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "references": n_ref,
        "queries": n_query,
        "dim": dim,
        "file_gib": round(n_ref * dim * 4 / 2**30, 2),
        "write_s": round(t_write, 1),
        **res,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument(
        "--lsun-queries", type=int, default=8000, help="queries of the LSUN-scale RSS case"
    )
    ap.add_argument(
        "--lsun-refs", type=int, default=126227, help="references of the LSUN-scale RSS case"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    from memgen.embeddings import LpipsEmbedder
    from memgen.perceptual import load_lpips

    dim64 = LpipsEmbedder(load_lpips("alex", pretrained_backbone=False)).dim(64, 64)
    if args.quick:
        speed = bench_speed(200, 1000, 2)
        lsun = bench_lsun(5000, 256, dim64)
    else:
        speed = bench_speed(2000, 10000, 4)
        lsun = bench_lsun(args.lsun_refs, args.lsun_queries, dim64)
    print(json.dumps({"speed": speed, "lsun_rss": lsun}, indent=1))
    print(
        f"speed-up vs pairwise lpips: {speed['speedup']}x (target >= 200x); "
        f"LSUN-scale peak RSS {lsun['peak_rss_gib']:.2f} GiB (target < 4 GiB)"
    )


if __name__ == "__main__":
    main()

"""memgen subcommands for the 2-D circle experiment (paper Fig 2).

circle-data -> circle-train (per K) -> circle-sample (net | exact, per K) -> circle-cluster
-> circle-energy (learned, on the grid) and circle-energy-centres (learned, at the cluster
centres) per K, circle-energy-exact -> circle-figure. Every table carries the columns experiment,
K, seed and the command's arguments as provenance metadata.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("memgen.circle")
EXPERIMENT = "circle"
K_INFINITY = -1  # K column value of the closed-form K -> inf table


def _prov(args: argparse.Namespace, **extra) -> dict:
    d = {k: v for k, v in vars(args).items() if k != "func"}
    d.update(experiment=EXPERIMENT, **extra)
    return d


def _tag(df: pd.DataFrame, k: int | None, seed: int) -> pd.DataFrame:
    """Prepend experiment, K (unless the table has its own K column) and seed columns."""
    df.insert(0, "seed", np.int64(seed))
    if k is not None:
        df.insert(0, "K", np.int64(k))
    df.insert(0, "experiment", EXPERIMENT)
    return df


def _train_points(split_path: str, k: int) -> np.ndarray:
    from memgen.circle.data import train_points
    from memgen.io import read_parquet

    return train_points(read_parquet(split_path), k)


# --- handlers ---------------------------------------------------------------------------------


def cmd_data(args):
    from memgen.circle.data import make_pool, make_split
    from memgen.io import write_parquet

    pool = make_pool(args.pool_size, args.pool_seed)
    split = make_split(pool, args.ks, args.split_seed)
    prov = _prov(args)
    prov["subset_hash"] = {int(k): h for k, h in split.groupby("K")["subset_hash"].first().items()}
    # The pool table's K is the pool size (every point is "in" it).
    write_parquet(_tag(pool, args.pool_size, args.pool_seed), args.pool_out, provenance=prov)
    write_parquet(_tag(split, None, args.split_seed), args.split_out, provenance=prov)
    log.info("pool of %d points; subsets %s; hashes %s", len(pool), args.ks, prov["subset_hash"])


def cmd_train(args):
    import torch

    from memgen.checkpoint import discard_previous
    from memgen.circle.data import subset_hash
    from memgen.circle.model import ModelConfig
    from memgen.circle.train import TrainConfig, train
    from memgen.io import torch_save, write_parquet

    pts = _train_points(args.split, args.k)
    mcfg = ModelConfig(
        arch=args.arch,
        width=args.width,
        encoder_blocks=args.encoder_blocks,
        decoder_blocks=args.decoder_blocks,
        fourier_features=args.fourier_features,
        fourier_scale=args.fourier_scale,
    )
    tcfg = TrainConfig(
        iterations=args.iterations,
        lr=args.lr,
        batch_size=args.batch_size,
        batch_sampling=args.batch_sampling,
        t_sampling=args.t_sampling,
        t_eps=args.t_eps,
        lr_schedule=args.lr_schedule,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        seed=args.seed,
        device=args.device,
    )
    ckpt = (
        Path(args.checkpoint)
        if args.checkpoint
        else Path(args.model_out).parent / "scratch" / "train_ckpt.pt"
    )
    t0 = time.perf_counter()
    net, train_log = train(pts, mcfg, tcfg, checkpoint=ckpt, progress=not args.no_progress)
    prov = _prov(args, subset_hash=subset_hash(pts), train_seconds=None)
    torch_save(
        {
            "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
            "model_config": mcfg.to_dict(),
            "train_config": tcfg.to_dict(),
            "K": args.k,
            "subset_hash": subset_hash(pts),
            "provenance": prov,
        },
        args.model_out,
    )
    write_parquet(_tag(train_log, args.k, args.seed), args.log_out, provenance=prov)
    ckpt.unlink(missing_ok=True)  # finished: a rerun must start fresh, not resume
    discard_previous(ckpt)
    log.info(
        "trained K=%d for %d iterations in %.1f s (final loss %.4f)",
        args.k,
        args.iterations,
        time.perf_counter() - t0,
        train_log["loss"].iloc[-1] if len(train_log) else float("nan"),
    )
    del torch


def cmd_sample(args):
    from memgen.circle.cluster import nearest
    from memgen.circle.exact import ExactScore
    from memgen.circle.model import load_model, score_fn
    from memgen.circle.sampler import euler_maruyama
    from memgen.io import write_parquet

    pts = _train_points(args.split, args.k)
    if args.model == "net":
        if not args.checkpoint:
            raise ValueError("circle-sample --model net needs --checkpoint <model.pt>")
        net, blob = load_model(args.checkpoint, args.device)
        if blob["K"] != args.k:
            raise ValueError(f"{args.checkpoint} was trained on K={blob['K']}, not K={args.k}")
        score, dtype = score_fn(net), "float32"
    else:
        score, dtype = ExactScore(pts), "float64"
    import torch

    x = euler_maruyama(
        score,
        args.n_samples,
        args.steps,
        args.t_end,
        args.prior_std,
        args.seed,
        dtype=getattr(torch, dtype),
        device=args.device if args.model == "net" else "cpu",
        progress=not args.no_progress,
    )
    d, idx = nearest(x, pts)
    df = pd.DataFrame(
        {
            "sample": np.arange(len(x), dtype=np.int64),
            "model": args.model,
            "x": x[:, 0],
            "y": x[:, 1],
            "d_train": d,
            "train_position": idx,
        }
    )
    write_parquet(_tag(df, args.k, args.seed), args.out, provenance=_prov(args))
    log.info(
        "K=%d %s: %.1f %% of %d samples within 0.05 of a training point",
        args.k,
        args.model,
        100 * np.mean(d < 0.05),
        len(x),
    )


def _sampler_t_end(args) -> float:
    """The end time of the sampler that made ``args.samples`` (its provenance), unless given."""
    from memgen.io import read_provenance

    if args.t_end is not None:
        return args.t_end
    t_end = read_provenance(args.samples).get("t_end")
    if t_end is None:
        raise ValueError(
            f"{args.samples} does not record the sampler's t_end (not written by circle-sample); "
            "pass --t-end"
        )
    return float(t_end)


def cmd_cluster(args):
    from memgen.circle.cluster import ClusterConfig, cluster_samples
    from memgen.circle.copies import copy_summary
    from memgen.io import read_parquet, write_parquet

    pts = _train_points(args.split, args.k)
    samples = read_parquet(args.samples)
    t_end = _sampler_t_end(args)
    cfg = ClusterConfig(
        tau=args.tau,
        tau_reference_n=args.tau_reference_n,
        max_points=args.max_points,
        copy_radius=args.copy_radius,
        copy_quantile=args.copy_quantile,
        copy_max_null=args.copy_max_null,
        copy_fraction=args.copy_fraction,
        t_end=t_end,
        seed=args.seed,
    )
    xy = samples[["x", "y"]].to_numpy()
    per_sample, clusters = cluster_samples(xy, pts, cfg)
    # Per-model copy fraction and ring statistics (constant columns, like tau_effective).
    summary = copy_summary(xy, pts, cfg.criterion(pts))
    for name, value in summary.items():
        clusters[name] = value
    clusters["t_end"] = t_end
    # One row per cluster; the member sample ids keep the assignment in the same table.
    clusters["members"] = [
        per_sample.loc[per_sample["cluster"] == c, "sample"].to_numpy() for c in clusters["cluster"]
    ]
    clusters.insert(0, "model", samples["model"].iloc[0] if len(samples) else "")
    write_parquet(_tag(clusters, args.k, args.seed), args.out, provenance=_prov(args))
    log.info(
        "K=%d: %d clusters %s; %.1f %% copies within %.3f (fresh circle points: %.1f %%)",
        args.k,
        len(clusters),
        clusters["label"].value_counts().to_dict(),
        100 * summary["sample_copy_fraction"],
        clusters["sample_copy_radius"].iloc[0],
        100 * clusters["sample_copy_null_rate"].iloc[0],
    )


def cmd_energy(args):
    from memgen.circle.energy import energy_from_logp, learned_score, pf_ode_log_likelihood
    from memgen.circle.exact import energy_grid
    from memgen.circle.model import load_model
    from memgen.io import write_parquet

    net, blob = load_model(args.checkpoint, args.device)
    pts = _train_points(args.split, args.k)
    grid = energy_grid(args.grid, args.extent)
    t0 = time.perf_counter()
    logp, nfev = pf_ode_log_likelihood(
        net,
        grid,
        args.t,
        rtol=args.rtol,
        atol=args.atol,
        prior=args.prior,
        memories=pts,
        device=args.device,
    )
    e = energy_from_logp(logp, args.t)
    s = learned_score(net, grid, args.t, args.device)
    n = args.grid
    df = _grid_frame(grid, n, e, s, first={"logp": logp}, t_E=args.t, nfev=nfev)
    write_parquet(
        _tag(df, args.k, blob["train_config"]["seed"]),
        args.out,
        provenance=_prov(args, seconds=time.perf_counter() - t0),
    )
    log.info(
        "K=%d energy grid %dx%d: %d RHS evaluations, %.1f s",
        args.k,
        n,
        n,
        nfev,
        time.perf_counter() - t0,
    )


def cmd_energy_centres(args):
    from memgen.circle.energy import point_energies
    from memgen.circle.model import load_model
    from memgen.io import read_parquet, write_parquet

    clusters = read_parquet(args.clusters)
    if "K" in clusters and len(clusters) and int(clusters["K"].iloc[0]) != args.k:
        raise ValueError(f"{args.clusters} holds K={int(clusters['K'].iloc[0])}, not K={args.k}")
    net, blob = load_model(args.checkpoint, args.device)
    if blob["K"] != args.k:
        raise ValueError(f"{args.checkpoint} was trained on K={blob['K']}, not K={args.k}")
    pts = _train_points(args.split, args.k)
    t0 = time.perf_counter()
    xy = clusters[["cx", "cy"]].to_numpy(dtype=np.float64)
    logp, e, nfev = point_energies(
        net, xy, args.t, args.rtol, args.atol, args.prior, pts, args.device
    )
    df = pd.DataFrame(
        {
            "cluster": clusters["cluster"].to_numpy(np.int64),
            "label": clusters["label"].to_numpy(),
            "size": clusters["size"].to_numpy(np.int64),
            "cx": xy[:, 0],
            "cy": xy[:, 1],
            "logp": logp,
            "energy": e,
            "energy_rel": e - e.min() if len(e) else e,
            "t_E": args.t,
            "nfev": nfev,
        }
    )
    write_parquet(
        _tag(df, args.k, blob["train_config"]["seed"]),
        args.out,
        provenance=_prov(args, seconds=time.perf_counter() - t0),
    )
    log.info("K=%d: energies of %d cluster centres, %d RHS evaluations", args.k, len(df), nfev)


def _grid_frame(grid, n: int, energy, score, first=None, **last) -> pd.DataFrame:
    """One row per point of the n x n energy grid (row-major i, j): position, ``first`` columns, energy,
    score, then ``last`` columns."""
    cols = {"i": np.repeat(np.arange(n), n), "j": np.tile(np.arange(n), n), "x": grid[:, 0], "y": grid[:, 1]}
    cols.update(first or {})
    cols.update(energy=energy, energy_rel=energy - energy.min(), score_x=score[:, 0], score_y=score[:, 1])
    cols.update(last)
    return pd.DataFrame(cols)


def cmd_energy_exact(args):
    from memgen.circle.exact import circle_energy, circle_score, energy_grid
    from memgen.io import write_parquet

    grid = energy_grid(args.grid, args.extent)
    r = np.linalg.norm(grid, axis=1)
    e = circle_energy(r, args.beta)
    s = circle_score(grid, args.beta)
    df = _grid_frame(grid, args.grid, e, s, first={"R": r}, beta=args.beta)
    # K -> inf is stored as K = -1.
    write_parquet(_tag(df, K_INFINITY, 0), args.out, provenance=_prov(args))


def cmd_figure(args):
    from memgen.figures.circle import CircleTables, circle_figure
    from memgen.io import read_parquet, save_figure

    ks = args.ks
    for name in ("samples_net", "clusters_net", "energy", "energy_centres"):
        if len(getattr(args, name)) != len(ks):
            raise ValueError(f"--{name.replace('_', '-')} needs one file per K in --ks {ks}")
    if len(args.samples_exact) != len(args.exact_ks) or len(args.clusters_exact) != len(
        args.exact_ks
    ):
        raise ValueError("--samples-exact/--clusters-exact need one file per K in --exact-ks")

    def per_k(keys, paths):
        return {k: read_parquet(p) for k, p in zip(keys, paths)}

    tables = CircleTables(
        split=read_parquet(args.split),
        ks=ks,
        samples_net=per_k(ks, args.samples_net),
        clusters_net=per_k(ks, args.clusters_net),
        energy=per_k(ks, args.energy),
        energy_centres=per_k(ks, args.energy_centres),
        exact_ks=args.exact_ks,
        samples_exact=per_k(args.exact_ks, args.samples_exact),
        clusters_exact=per_k(args.exact_ks, args.clusters_exact),
        energy_exact=read_parquet(args.energy_exact),
        max_points=args.max_points,
        seed=args.seed,
    )
    fig = circle_figure(tables)
    save_figure(fig, Path(args.out).with_suffix(""))


# --- parser -----------------------------------------------------------------------------------


def _add_pf_ode_args(p) -> None:
    """Energy time and PF-ODE solver flags, one definition for the grid and the centre energies."""
    p.add_argument("--t", type=float, default=0.05, help="energy time t_E")
    p.add_argument("--rtol", type=float, default=1e-5, help="RK45 relative tolerance")
    p.add_argument("--atol", type=float, default=1e-5, help="RK45 absolute tolerance")
    p.add_argument(
        "--prior",
        choices=["gaussian", "mixture"],
        default="gaussian",
        help="log p_1: N(0, I) (paper) or the exact K-point mixture",
    )
    p.add_argument("--device", default="cpu", help="torch device")


def _add_common(p, k=True, seed_help="random seed"):
    p.add_argument("--split", required=True, help="split.parquet written by circle-data")
    if k:
        p.add_argument("--k", type=int, required=True, help="training-set size K (a value of ks)")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bar")


def register(subparsers) -> None:
    """Add the circle subcommands to the memgen parser."""
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = subparsers.add_parser(
        "circle-data",
        formatter_class=fmt,
        help="circle pool + nested subsets (SPEC §3.1)",
        description="Draw the pool of points on the unit circle and the "
        "nested prefix subsets for each K (with content hashes).",
    )
    p.add_argument("--pool-size", type=int, default=60000, help="number of pool points N")
    p.add_argument("--pool-seed", type=int, default=9, help="numpy RandomState seed of the angles")
    p.add_argument(
        "--split-seed", type=int, default=42, help="torch seed of the subset permutation"
    )
    p.add_argument("--ks", type=int, nargs="+", required=True, help="increasing K values")
    p.add_argument("--pool-out", required=True, help="output pool.parquet")
    p.add_argument("--split-out", required=True, help="output split.parquet")
    p.set_defaults(func=cmd_data)

    p = subparsers.add_parser(
        "circle-train",
        formatter_class=fmt,
        help="train the circle score network for one K (SPEC §3.2-3.3)",
        description="Denoising score matching on the K training points; "
        "checkpoints to a scratch file and resumes from it bit-exactly.",
    )
    _add_common(p, seed_help="seed of weights, batches, t and noise")
    p.add_argument(
        "--arch",
        choices=["paper", "official"],
        default="paper",
        help="paper residual MLP or the official code's plain MLP",
    )
    p.add_argument("--width", type=int, default=256, help="hidden width (paper arch)")
    p.add_argument("--encoder-blocks", type=int, default=4, help="residual blocks in the encoder")
    p.add_argument("--decoder-blocks", type=int, default=4, help="residual blocks in the decoder")
    p.add_argument("--fourier-features", type=int, default=64, help="Fourier frequencies of t")
    p.add_argument("--fourier-scale", type=float, default=16.0, help="std of the frequencies")
    p.add_argument("--iterations", type=int, default=800000, help="optimizer steps")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    p.add_argument("--batch-size", type=int, default=500, help="mini-batch size B")
    p.add_argument(
        "--batch-sampling",
        choices=["epoch", "replacement"],
        default="epoch",
        help="epoch: shuffled batches of min(B, K) (paper); replacement: B draws",
    )
    p.add_argument(
        "--t-sampling",
        choices=["uniform", "log_uniform"],
        default="uniform",
        help="distribution of t on [t_eps, 1]",
    )
    p.add_argument("--t-eps", type=float, default=1e-5, help="smallest training time")
    p.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="learning-rate schedule",
    )
    p.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints")
    p.add_argument("--log-every", type=int, default=100, help="steps per training-log row")
    p.add_argument("--device", default="cpu", help="torch device (cpu or cuda)")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="scratch checkpoint (default: <model dir>/scratch/train_ckpt.pt)",
    )
    p.add_argument("--model-out", required=True, help="output model.pt")
    p.add_argument("--log-out", required=True, help="output train_log.parquet")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "circle-sample",
        formatter_class=fmt,
        help="Euler-Maruyama samples from the net or the exact score",
        description="Reverse-SDE samples (last step without noise) from "
        "a trained network or the exact empirical score of the K points.",
    )
    _add_common(p, seed_help="seed of the prior draw and the noise")
    p.add_argument(
        "--model",
        choices=["net", "exact"],
        required=True,
        help="net: trained network (needs --checkpoint); exact: empirical score",
    )
    p.add_argument("--checkpoint", default=None, help="model.pt for --model net")
    p.add_argument("--n-samples", type=int, default=10000, help="number of samples")
    p.add_argument("--steps", type=int, default=1000, help="Euler-Maruyama steps")
    p.add_argument("--t-end", type=float, default=1e-3, help="last time of the grid")
    p.add_argument("--prior-std", type=float, default=1.0, help="std of the N(0, s² I) prior")
    p.add_argument("--device", default="cpu", help="torch device for --model net")
    p.add_argument("--out", required=True, help="output samples_{net|exact}.parquet")
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "circle-cluster",
        formatter_class=fmt,
        help="Ward clustering + memorized/spurious/generalized labels",
        description="Agglomerative (Ward) clustering with tau rescaled "
        "by sqrt(n / tau_reference_n); labels each cluster.",
    )
    _add_common(p, seed_help="seed of the subset Ward runs on when n > max_points")
    p.add_argument("--samples", required=True, help="samples_{net|exact}.parquet")
    p.add_argument("--tau", type=float, required=True, help="Ward threshold at tau_reference_n")
    p.add_argument(
        "--tau-reference-n",
        type=int,
        default=10000,
        help="sample count the tau values were tuned on",
    )
    p.add_argument("--max-points", type=int, default=10000, help="max samples Ward runs on")
    p.add_argument(
        "--copy-radius",
        type=float,
        default=0.05,
        help="centre-to-training-point distance of a memorized cluster",
    )
    p.add_argument(
        "--copy-quantile",
        type=float,
        default=0.999,
        help="a sample is a copy within sqrt(-2 t_end ln(1 - q)) of a training point: the radius "
        "holding this fraction q of a perfect memorizer's samples (point + N(0, t_end I))",
    )
    p.add_argument(
        "--copy-max-null",
        type=float,
        default=0.5,
        help="the per-sample copy test counts only while at most this fraction of fresh circle "
        "points passes it; above, memorized needs members closer than copy_fraction x spacing",
    )
    p.add_argument(
        "--copy-fraction",
        type=float,
        default=0.1,
        help="dense training sets: memorized needs members' median NN distance < this x the "
        "training set's median NN spacing",
    )
    p.add_argument(
        "--t-end",
        type=float,
        default=None,
        help="sampler end time (default: read from the samples file's provenance)",
    )
    p.add_argument("--out", required=True, help="output clusters_{net|exact}.parquet")
    p.set_defaults(func=cmd_cluster)

    p = subparsers.add_parser(
        "circle-energy",
        formatter_class=fmt,
        help="learned energy on a grid via the PF-ODE likelihood",
        description="E = -2 t_E log p_{t_E} on the grid (RK45, exact "
        "divergence), plus the learned score at t_E.",
    )
    _add_common(p)
    p.add_argument("--checkpoint", required=True, help="model.pt from circle-train")
    _add_pf_ode_args(p)
    p.add_argument("--grid", type=int, default=20, help="grid points per axis")
    p.add_argument("--extent", type=float, default=1.5, help="grid spans [-extent, extent]^2")
    p.add_argument("--out", required=True, help="output energy_grid.parquet")
    p.set_defaults(func=cmd_energy)

    p = subparsers.add_parser(
        "circle-energy-centres",
        formatter_class=fmt,
        help="learned energy at the cluster centres via the PF-ODE likelihood",
        description="E = -2 t_E log p_{t_E} evaluated at each cluster centre (same solver and "
        "tolerances as circle-energy), min-subtracted over the centres.",
    )
    _add_common(p)
    p.add_argument("--checkpoint", required=True, help="model.pt from circle-train")
    p.add_argument("--clusters", required=True, help="clusters_net.parquet from circle-cluster")
    _add_pf_ode_args(p)
    p.add_argument("--out", required=True, help="output energy_centres.parquet")
    p.set_defaults(func=cmd_energy_centres)

    p = subparsers.add_parser(
        "circle-energy-exact",
        formatter_class=fmt,
        help="closed-form K -> inf circle energy on the grid",
        description="E(R) = R^2 + 1 - log I0(2 beta R)/beta and its score.",
    )
    p.add_argument("--beta", type=float, default=20.0, help="inverse temperature")
    p.add_argument("--grid", type=int, default=20, help="grid points per axis")
    p.add_argument("--extent", type=float, default=1.5, help="grid spans [-extent, extent]^2")
    p.add_argument("--out", required=True, help="output energy_exact.parquet")
    p.set_defaults(func=cmd_energy_exact)

    p = subparsers.add_parser(
        "circle-figure",
        formatter_class=fmt,
        help="paper Fig 2 (samples, clusters, energy landscapes)",
        description="Rows: trained-net samples per K, learned energies per "
        "K, exact model (exact-score samples and the K -> inf energy).",
    )
    p.add_argument("--split", required=True, help="split.parquet")
    p.add_argument("--ks", type=int, nargs="+", required=True, help="K of the net panels")
    p.add_argument("--samples-net", nargs="+", required=True, help="samples_net per K")
    p.add_argument("--clusters-net", nargs="+", required=True, help="clusters_net per K")
    p.add_argument("--energy", nargs="+", required=True, help="energy_grid per K")
    p.add_argument("--energy-centres", nargs="+", required=True, help="energy_centres per K")
    p.add_argument(
        "--exact-ks", type=int, nargs="+", required=True, help="K of the exact-sampler panels"
    )
    p.add_argument("--samples-exact", nargs="+", required=True, help="samples_exact per exact K")
    p.add_argument("--clusters-exact", nargs="+", required=True, help="clusters_exact per exact K")
    p.add_argument("--energy-exact", required=True, help="energy_exact.parquet")
    p.add_argument("--max-points", type=int, default=3000, help="samples drawn per panel")
    p.add_argument("--seed", type=int, default=0, help="seed of the drawn subset")
    p.add_argument("--out", required=True, help="output figure path (.png; .pdf beside it)")
    p.set_defaults(func=cmd_figure)

"""memgen subcommands for the 2-D circle experiment (paper Fig 2).

circle-data -> circle-train (per K) -> circle-sample (net | exact, per K) -> circle-cluster
-> circle-energy (learned, on the grid) and circle-energy-centres (learned, at the cluster
centres) per K, circle-energy-exact -> circle-figure. Every table carries the columns experiment,
K, seed and, as provenance metadata, the paths it was made from and the config sections it used.

Config reaches a command only as sections (``--train-config '{...}'``, see memgen.cli.common);
a per-K entry that is a list is resolved for the command's ``--k`` against the split's ks.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from memgen.cli.common import (
    add_plots_argument,
    add_section_argument,
    apply_plots,
    section_arg,
)
from memgen.sections import Section, section

log = logging.getLogger("memgen.circle")
EXPERIMENT = "circle"
K_INFINITY = -1  # K column value of the closed-form K -> inf table


def _prov(args: argparse.Namespace, **extra) -> dict:
    """Paths and identifiers of the command, plus ``extra`` (the resolved sections it used)."""
    d = {k: v for k, v in vars(args).items() if k != "func" and not k.endswith("_config")}
    d.update(experiment=EXPERIMENT, **extra)
    return d


def _tag(df: pd.DataFrame, k: int | None, seed: int) -> pd.DataFrame:
    """Prepend experiment, K (unless the table has its own K column) and seed columns."""
    df.insert(0, "seed", np.int64(seed))
    if k is not None:
        df.insert(0, "K", np.int64(k))
    df.insert(0, "experiment", EXPERIMENT)
    return df


def _split(split_path: str, k: int) -> tuple[np.ndarray, list[int]]:
    """(training points of K, the split's ks)."""
    from memgen.circle.data import split_ks, train_points
    from memgen.io import read_parquet

    split = read_parquet(split_path)
    return train_points(split, k), split_ks(split)


def _section(args, name: str, cls, ks: list[int] | None = None):
    """Section ``name`` from ``--<name>-config``, resolved for ``args.k`` when ``ks`` is given."""
    cfg = section_arg(args, name, cls)
    return cfg.at_k(args.k, ks) if ks is not None else cfg


# --- handlers ---------------------------------------------------------------------------------


def cmd_data(args):
    from memgen.circle.data import CircleDataConfig, make_pool, make_split
    from memgen.io import write_parquet

    cfg = section_arg(args, "circle", CircleDataConfig)
    pool = make_pool(cfg.pool_size, cfg.pool_seed)
    split = make_split(pool, cfg.ks, cfg.split_seed)
    prov = _prov(args, circle=cfg.to_dict())
    prov["subset_hash"] = {int(k): h for k, h in split.groupby("K")["subset_hash"].first().items()}
    # The pool table's K is the pool size (every point is "in" it).
    write_parquet(_tag(pool, cfg.pool_size, cfg.pool_seed), args.pool_out, provenance=prov)
    write_parquet(_tag(split, None, cfg.split_seed), args.split_out, provenance=prov)
    log.info("pool of %d points; subsets %s; hashes %s", len(pool), cfg.ks, prov["subset_hash"])


def cmd_train(args):
    from memgen.checkpoint import discard_previous
    from memgen.circle.data import subset_hash
    from memgen.circle.model import CircleModelConfig
    from memgen.circle.train import CircleTrainConfig, train
    from memgen.io import torch_save, write_parquet

    pts, ks = _split(args.split, args.k)
    mcfg = _section(args, "model", CircleModelConfig)
    tcfg = _section(args, "train", CircleTrainConfig, ks)
    ckpt = (
        Path(args.checkpoint)
        if args.checkpoint
        else Path(args.model_out).parent / "scratch" / "train_ckpt.pt"
    )
    t0 = time.perf_counter()
    net, train_log = train(pts, mcfg, tcfg, checkpoint=ckpt, progress=not args.no_progress)
    prov = _prov(args, model=mcfg.to_dict(), train=tcfg.to_dict(), subset_hash=subset_hash(pts))
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
    write_parquet(_tag(train_log, args.k, tcfg.seed), args.log_out, provenance=prov)
    ckpt.unlink(missing_ok=True)  # finished: a rerun must start fresh, not resume
    discard_previous(ckpt)
    log.info(
        "trained K=%d for %d iterations in %.1f s (final loss %.4f)",
        args.k,
        tcfg.iterations,
        time.perf_counter() - t0,
        train_log["loss"].iloc[-1] if len(train_log) else float("nan"),
    )


def cmd_sample(args):
    import torch

    from memgen.circle.copies import nearest
    from memgen.circle.exact import CircleExactConfig, ExactScore
    from memgen.circle.model import load_model, score_fn
    from memgen.circle.sampler import CircleSampleConfig, euler_maruyama
    from memgen.device import resolve_device
    from memgen.io import write_parquet

    pts, ks = _split(args.split, args.k)
    cfg = _section(args, "sample", CircleSampleConfig, ks)
    sections = {"sample": cfg.to_dict()}
    if args.model == "net":
        if not args.checkpoint:
            raise ValueError("circle-sample --model net needs --checkpoint <model.pt>")
        device = str(resolve_device(cfg.device, "circle.sample.device"))
        net, blob = load_model(args.checkpoint, device)
        if blob["K"] != args.k:
            raise ValueError(f"{args.checkpoint} was trained on K={blob['K']}, not K={args.k}")
        score, dtype, n, steps = score_fn(net), torch.float32, cfg.n_samples, cfg.steps
    else:
        # The exact score is float64 numpy-backed arithmetic on the CPU.
        exact = _section(args, "exact", CircleExactConfig, ks)
        sections["exact"] = exact.to_dict()
        score, dtype, n, steps, device = ExactScore(pts), torch.float64, exact.n_samples, exact.steps, "cpu"
    x = euler_maruyama(
        score, n, steps, cfg.t_end, cfg.prior_std, cfg.seed, dtype=dtype, device=device,
        progress=not args.no_progress,
    )  # fmt: skip
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
    # t_end at the top level: circle-cluster reads the sampler's end time from here.
    prov = _prov(args, t_end=cfg.t_end, steps=steps, n_samples=n, **sections)
    write_parquet(_tag(df, args.k, cfg.seed), args.out, provenance=prov)
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
    from memgen.circle.cluster import CircleClusterConfig, cluster_samples
    from memgen.circle.copies import copy_summary
    from memgen.io import read_parquet, write_parquet

    pts, ks = _split(args.split, args.k)
    cfg = _section(args, "cluster", CircleClusterConfig, ks)
    samples = read_parquet(args.samples)
    t_end = _sampler_t_end(args)
    # Ward's subset (n > max_points) is drawn with the sampler's seed: one seed per sample set.
    seed = int(samples["seed"].iloc[0]) if "seed" in samples and len(samples) else 0
    xy = samples[["x", "y"]].to_numpy()
    per_sample, clusters = cluster_samples(xy, pts, cfg, t_end, seed)
    # Per-model copy fraction and ring statistics (constant columns, like tau_effective).
    summary = copy_summary(xy, pts, cfg.criterion(pts, t_end))
    for name, value in summary.items():
        clusters[name] = value
    clusters["t_end"] = t_end
    # One row per cluster; the member sample ids keep the assignment in the same table.
    clusters["members"] = [
        per_sample.loc[per_sample["cluster"] == c, "sample"].to_numpy() for c in clusters["cluster"]
    ]
    clusters.insert(0, "model", samples["model"].iloc[0] if len(samples) else "")
    prov = _prov(args, cluster=cfg.to_dict(), t_end=t_end)
    write_parquet(_tag(clusters, args.k, seed), args.out, provenance=prov)
    log.info(
        "K=%d: %d clusters %s; %.1f %% copies within %.3f (fresh circle points: %.1f %%)",
        args.k,
        len(clusters),
        clusters["label"].value_counts().to_dict(),
        100 * summary["sample_copy_fraction"],
        clusters["sample_copy_radius"].iloc[0],
        100 * clusters["sample_copy_null_rate"].iloc[0],
    )


def _energy_setup(args):
    """(training points, resolved energy section, device, network, model blob) of an energy command."""
    from memgen.circle.energy import CircleEnergyConfig
    from memgen.circle.model import load_model
    from memgen.device import resolve_device

    pts, ks = _split(args.split, args.k)
    cfg = _section(args, "energy", CircleEnergyConfig, ks)
    device = str(resolve_device(cfg.device, "circle.energy.device"))
    net, blob = load_model(args.checkpoint, device)
    if blob["K"] != args.k:
        raise ValueError(f"{args.checkpoint} was trained on K={blob['K']}, not K={args.k}")
    return pts, cfg, device, net, blob


def cmd_energy(args):
    from memgen.circle.energy import energy_from_logp, learned_score, pf_ode_log_likelihood
    from memgen.circle.exact import energy_grid
    from memgen.io import write_parquet

    pts, cfg, device, net, blob = _energy_setup(args)
    grid = energy_grid(cfg.grid, cfg.extent)
    t0 = time.perf_counter()
    logp, nfev = pf_ode_log_likelihood(
        net, grid, cfg.t, rtol=cfg.rtol, atol=cfg.atol, prior=cfg.prior, memories=pts,
        device=device,
    )  # fmt: skip
    e = energy_from_logp(logp, cfg.t)
    s = learned_score(net, grid, cfg.t, device)
    n = cfg.grid
    df = _grid_frame(grid, n, e, s, first={"logp": logp}, t_E=cfg.t, nfev=nfev)
    write_parquet(
        _tag(df, args.k, blob["train_config"]["seed"]),
        args.out,
        provenance=_prov(args, energy=cfg.to_dict(), seconds=time.perf_counter() - t0),
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
    from memgen.io import read_parquet, write_parquet

    clusters = read_parquet(args.clusters)
    if "K" in clusters and len(clusters) and int(clusters["K"].iloc[0]) != args.k:
        raise ValueError(f"{args.clusters} holds K={int(clusters['K'].iloc[0])}, not K={args.k}")
    pts, cfg, device, net, blob = _energy_setup(args)
    t0 = time.perf_counter()
    xy = clusters[["cx", "cy"]].to_numpy(dtype=np.float64)
    logp, e, nfev = point_energies(net, xy, cfg.t, cfg.rtol, cfg.atol, cfg.prior, pts, device)
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
            "t_E": cfg.t,
            "nfev": nfev,
        }
    )
    write_parquet(
        _tag(df, args.k, blob["train_config"]["seed"]),
        args.out,
        provenance=_prov(args, energy=cfg.to_dict(), seconds=time.perf_counter() - t0),
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
    from memgen.circle.energy import CircleEnergyConfig
    from memgen.circle.exact import circle_energy, circle_score, energy_grid
    from memgen.io import write_parquet

    cfg = section_arg(args, "energy", CircleEnergyConfig)
    beta = cfg.beta()
    grid = energy_grid(cfg.grid, cfg.extent)
    r = np.linalg.norm(grid, axis=1)
    e = circle_energy(r, beta)
    s = circle_score(grid, beta)
    df = _grid_frame(grid, cfg.grid, e, s, first={"R": r}, beta=beta)
    # K -> inf is stored as K = -1.
    prov = _prov(args, energy=cfg.to_dict(), beta=beta)
    write_parquet(_tag(df, K_INFINITY, 0), args.out, provenance=prov)


@section("circle.figure")
@dataclass(frozen=True)
class CircleFigureConfig(Section):
    """The ``circle.figure`` section (Fig 2 layout)."""

    max_points: int = 3000
    impl_version: int = 2

    def __post_init__(self):
        if self.max_points < 1:
            raise ValueError(f"circle.figure.max_points must be >= 1, got {self.max_points}")


def cmd_figure(args):
    from memgen.circle.data import split_ks
    from memgen.circle.exact import CircleExactConfig
    from memgen.figures.circle import CircleTables, circle_figure
    from memgen.io import read_parquet, save_figure

    plots = apply_plots(args)
    fig_cfg = section_arg(args, "figure", CircleFigureConfig)
    exact_ks = list(section_arg(args, "exact", CircleExactConfig).ks)
    ks = split_ks(read_parquet(args.split))
    for name in ("samples_net", "clusters_net", "energy", "energy_centres"):
        if len(getattr(args, name)) != len(ks):
            raise ValueError(
                f"--{name.replace('_', '-')} needs one file per K of the split {ks}, "
                f"got {len(getattr(args, name))}"
            )
    for name in ("samples_exact", "clusters_exact"):
        if len(getattr(args, name)) != len(exact_ks):
            raise ValueError(
                f"--{name.replace('_', '-')} needs one file per K of circle.exact.ks {exact_ks}"
            )
    def per_k(keys, paths):
        return {k: read_parquet(p) for k, p in zip(keys, paths)}

    tables = CircleTables(
        split=read_parquet(args.split),
        ks=ks,
        samples_net=per_k(ks, args.samples_net),
        clusters_net=per_k(ks, args.clusters_net),
        energy=per_k(ks, args.energy),
        energy_centres=per_k(ks, args.energy_centres),
        exact_ks=exact_ks,
        samples_exact=per_k(exact_ks, args.samples_exact),
        clusters_exact=per_k(exact_ks, args.clusters_exact),
        energy_exact=read_parquet(args.energy_exact),
        max_points=fig_cfg.max_points,
    )
    fig = circle_figure(tables)
    save_figure(fig, Path(args.out).with_suffix(""), dpi=plots.dpi)


# --- parser -----------------------------------------------------------------------------------


def _add_split_k(p) -> None:
    p.add_argument("--split", required=True, help="split.parquet written by circle-data")
    p.add_argument("--k", type=int, required=True, help="training-set size K (a value of circle.ks)")


def _add_no_progress(p) -> None:
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bar")


def register(subparsers) -> None:
    """Add the circle subcommands to the memgen parser."""
    p = subparsers.add_parser(
        "circle-data",
        help="circle pool + nested subsets",
        description="Draw the pool of points on the unit circle and the "
        "nested prefix subsets for each K (with content hashes).",
    )
    add_section_argument(p, "circle", "circle data keys (pool_size, pool_seed, split_seed, ks)", False)
    p.add_argument("--pool-out", required=True, help="output pool.parquet")
    p.add_argument("--split-out", required=True, help="output split.parquet")
    p.set_defaults(func=cmd_data)

    p = subparsers.add_parser(
        "circle-train",
        help="train the circle score network for one K",
        description="Denoising score matching on the K training points; "
        "checkpoints to a scratch file and resumes from it bit-exactly.",
    )
    _add_split_k(p)
    add_section_argument(p, "model", "circle.model (score network)", False)
    add_section_argument(p, "train", "circle.train (per-K iterations resolved for --k)", False)
    p.add_argument(
        "--checkpoint",
        default=None,
        help="scratch checkpoint (default: <model dir>/scratch/train_ckpt.pt)",
    )
    p.add_argument("--model-out", required=True, help="output model.pt")
    p.add_argument("--log-out", required=True, help="output train_log.parquet")
    _add_no_progress(p)
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "circle-sample",
        help="Euler-Maruyama samples from the net or the exact score",
        description="Reverse-SDE samples (last step without noise) from "
        "a trained network or the exact empirical score of the K points.",
    )
    _add_split_k(p)
    p.add_argument(
        "--model",
        choices=["net", "exact"],
        required=True,
        help="net: trained network (needs --checkpoint); exact: empirical score",
    )
    p.add_argument("--checkpoint", default=None, help="model.pt for --model net")
    add_section_argument(
        p, "sample", "circle.sample (n_samples, steps for net; t_end, prior_std, seed for both)", False
    )
    add_section_argument(p, "exact", "circle.exact (n_samples, steps for --model exact)", False)
    p.add_argument("--out", required=True, help="output samples_{net|exact}.parquet")
    _add_no_progress(p)
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "circle-cluster",
        help="Ward clustering + memorized/spurious/generalized labels",
        description="Agglomerative (Ward) clustering with tau rescaled "
        "by sqrt(n / tau_reference_n); labels each cluster.",
    )
    _add_split_k(p)
    p.add_argument("--samples", required=True, help="samples_{net|exact}.parquet")
    add_section_argument(p, "cluster", "circle.cluster (per-K tau resolved for --k)", False)
    p.add_argument(
        "--t-end",
        type=float,
        default=None,
        help="sampler end time, for a samples file not written by circle-sample "
        "(default: read from the samples file's provenance)",
    )
    p.add_argument("--out", required=True, help="output clusters_{net|exact}.parquet")
    p.set_defaults(func=cmd_cluster)

    p = subparsers.add_parser(
        "circle-energy",
        help="learned energy on a grid via the PF-ODE likelihood",
        description="E = -2 t_E log p_{t_E} on the grid (RK45, exact "
        "divergence), plus the learned score at t_E.",
    )
    _add_split_k(p)
    p.add_argument("--checkpoint", required=True, help="model.pt from circle-train")
    add_section_argument(p, "energy", "circle.energy (per-K t resolved for --k)", False)
    p.add_argument("--out", required=True, help="output energy_grid.parquet")
    p.set_defaults(func=cmd_energy)

    p = subparsers.add_parser(
        "circle-energy-centres",
        help="learned energy at the cluster centres via the PF-ODE likelihood",
        description="E = -2 t_E log p_{t_E} evaluated at each cluster centre (same solver and "
        "tolerances as circle-energy), min-subtracted over the centres.",
    )
    _add_split_k(p)
    p.add_argument("--checkpoint", required=True, help="model.pt from circle-train")
    p.add_argument("--clusters", required=True, help="clusters_net.parquet from circle-cluster")
    add_section_argument(p, "energy", "circle.energy (per-K t resolved for --k)", False)
    p.add_argument("--out", required=True, help="output energy_centres.parquet")
    p.set_defaults(func=cmd_energy_centres)

    p = subparsers.add_parser(
        "circle-energy-exact",
        help="closed-form K -> inf circle energy on the grid",
        description="E(R) = R^2 + 1 - log I0(2 beta R)/beta and its score on the energy grid; "
        "beta = circle.energy.beta_exact (auto: 1 / (2 t_E) of the largest K).",
    )
    add_section_argument(p, "energy", "circle.energy (beta_exact, grid, extent)", False)
    p.add_argument("--out", required=True, help="output energy_exact.parquet")
    p.set_defaults(func=cmd_energy_exact)

    p = subparsers.add_parser(
        "circle-figure",
        help="paper Fig 2 (samples, clusters, energy landscapes)",
        description="Rows: trained-net samples per K of the split, learned energies per K, exact "
        "model (exact-score samples per K of circle.exact.ks and the K -> inf energy).",
    )
    p.add_argument("--split", required=True, help="split.parquet (its ks are the net panels)")
    p.add_argument("--samples-net", nargs="+", required=True, help="samples_net per K")
    p.add_argument("--clusters-net", nargs="+", required=True, help="clusters_net per K")
    p.add_argument("--energy", nargs="+", required=True, help="energy_grid per K")
    p.add_argument("--energy-centres", nargs="+", required=True, help="energy_centres per K")
    p.add_argument("--samples-exact", nargs="+", required=True, help="samples_exact per exact K")
    p.add_argument("--clusters-exact", nargs="+", required=True, help="clusters_exact per exact K")
    p.add_argument("--energy-exact", required=True, help="energy_exact.parquet")
    add_section_argument(p, "figure", "circle.figure (max_points)", False)
    add_section_argument(p, "exact", "circle.exact (ks of the exact-sampler panels)", False)
    add_plots_argument(p)
    p.add_argument("--out", required=True, help="output figure path (.png; .pdf beside it)")
    p.set_defaults(func=cmd_figure)

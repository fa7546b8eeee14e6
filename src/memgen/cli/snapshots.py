"""memgen subcommands of the training-dynamics analysis: one snapshot's analysis, the exact-model
agreement draws, the per-experiment summary and its figures."""

from __future__ import annotations

import logging
from pathlib import Path

from memgen.cli.common import add_experiment_k, add_section_argument, json_arg, section_arg

log = logging.getLogger("memgen.snapshots")


def _need(cfg: dict, key: str, what: str):
    if key not in cfg:
        raise ValueError(f"{what} lacks key {key!r} (pass the whole validated section)")
    return cfg[key]


def _snapshot_cfg(args):
    from memgen.snapshots import SnapshotConfig

    return section_arg(args, "snapshots", SnapshotConfig)


def _sample_cfg(args):
    from memgen.sample import SampleConfig

    return SampleConfig.from_dict(json_arg(args.sample_config, "--sample-config"))


def _device(name: str) -> str:
    from memgen.train import resolve_device

    return str(resolve_device(name))


def _exact(args) -> int:
    from memgen.cli.train import load_subset
    from memgen.dynamics import exact_agreement_samples
    from memgen.io import save_npy

    cfg, sample_cfg = _snapshot_cfg(args), _sample_cfg(args)
    train = load_subset(Path(args.pool), args.k).numpy().transpose(0, 2, 3, 1)
    x = exact_agreement_samples(train, sample_cfg, cfg.agreement_samples, _device(cfg.device))
    save_npy(x, args.out)
    log.info("exact empirical-score draws of K=%d: %s", args.k, x.shape)
    return 0


def _snapshot(args) -> int:
    import numpy as np
    import pandas as pd

    from memgen.cli.train import load_subset
    from memgen.dynamics import (
        CLASSES_SCHEMA,
        PER_SAMPLE_AGREEMENT_SCHEMA,
        agreement_seed,
        classify_samples,
        draw,
        rms_distance,
        synthetic_set,
        thresholds_of,
        write_typed,
    )
    from memgen.io import read_parquet
    from memgen.models import load_eps_model
    from memgen.snapshots import make_snapshot
    from memgen.train import TrainConfig

    cfg, sample_cfg = _snapshot_cfg(args), _sample_cfg(args)
    train_cfg = TrainConfig.from_dict(json_arg(args.train_config, "--train-config"))
    model_cfg = json_arg(args.model_config, "--model-config")
    nb = json_arg(args.neighbors_config, "--neighbors-config")
    metric, k_synth = _need(nb, "metric", "--neighbors-config"), _need(nb, "k", "--neighbors-config")
    delta_m, delta_s = thresholds_of(read_parquet(args.thresholds), args.k, args.thresholds)
    data = load_subset(Path(args.pool), args.k)
    prov = {"experiment": args.experiment, "K": args.k, "step": args.step, "pool": str(args.pool)}
    got = make_snapshot(data, model_cfg, train_cfg, args.step, args.scratch, args.model_dir, prov)
    log.info("snapshot K=%d step=%d from the %s", args.k, args.step, got["source"])

    device = _device(cfg.device)
    model = load_eps_model(args.model_dir, device)
    chw = tuple(int(v) for v in data.shape[1:])
    n = cfg.n_samples(sample_cfg.n_samples(args.k))
    samples = synthetic_set(model, sample_cfg, n, args.k, chw, device)
    train = data.numpy().transpose(0, 2, 3, 1)
    classes = classify_samples(train, samples, delta_m, delta_s, metric, k_synth, device)
    for col, value in (("step", args.step), ("K", args.k), ("experiment", args.experiment)):
        classes.insert(0, col, value)
    exact = np.load(args.exact)
    mine = draw(model, sample_cfg, (len(exact), *chw), agreement_seed(sample_cfg.seed, args.k), device)
    agree = pd.DataFrame({"experiment": args.experiment, "K": args.k, "step": args.step,
                          "sample": np.arange(len(exact)), "reference": "exact",
                          "distance": rms_distance(mine, exact)})  # fmt: skip
    prov.update(delta_m=delta_m, delta_s=delta_s, n=n, metric=metric, source=got["source"],
                snapshot=got["snapshot"], config=cfg.to_dict())  # fmt: skip
    write_typed(classes, CLASSES_SCHEMA, args.classes_out, prov, ["sample"])
    write_typed(agree, PER_SAMPLE_AGREEMENT_SCHEMA, args.agreement_out, prov, ["sample"])
    counts = classes["class"].value_counts().to_dict()
    log.info("K=%d step=%d classes=%s exact-agreement mean=%.4f", args.k, args.step, counts,
             agree["distance"].mean())  # fmt: skip
    return 0


def _summary(args) -> int:
    from memgen.dynamics import (
        AGREEMENT_SCHEMA,
        FIT_SCHEMA,
        FRACTIONS_SCHEMA,
        TAU_SCHEMA,
        summarize,
        write_typed,
    )
    from memgen.io import read_parquet

    cfg = _snapshot_cfg(args)
    cl = json_arg(args.classify_config, "--classify-config")
    boot = {k: _need(cl, k, "--classify-config") for k in ("n_bootstrap", "confidence", "seed")}
    if len(args.classes) != len(args.agreement):
        raise ValueError("give one --agreement table per --classes table (one pair per K and step)")
    tables = summarize([read_parquet(p) for p in args.classes],
                       [read_parquet(p) for p in args.agreement], cfg.level, **boot)  # fmt: skip
    for t in tables.values():
        t["experiment"] = args.experiment
    prov = {"experiment": args.experiment, "config": cfg.to_dict(), "classify": boot}
    write_typed(tables["fractions"], FRACTIONS_SCHEMA, args.fractions_out, prov, ["K", "step", "class"])
    write_typed(tables["agreement"], AGREEMENT_SCHEMA, args.agreement_out, prov, ["K", "step"])
    write_typed(tables["tau"], TAU_SCHEMA, args.tau_out, prov, ["K"])
    write_typed(tables["fit"], FIT_SCHEMA, args.fit_out, prov, ["level"])
    log.info("tau_mem per K:\n%s", tables["tau"][["K", "tau_mem", "tau_mem_interp",
             "spurious_peak_step", "spurious_peak"]].to_string(index=False))  # fmt: skip
    log.info("log-log fit: %s", tables["fit"].iloc[0].to_dict())
    return 0


def _figure(args) -> int:
    from memgen.figures import dynamics as F
    from memgen.io import read_parquet, save_figure, use_style

    plots = json_arg(args.plots_config, "--plots-config")
    use_style(plots.get("style"))
    dpi = plots.get("dpi")
    fr, ag = read_parquet(args.fractions), read_parquet(args.agreement)
    tau, fit = read_parquet(args.tau), read_parquet(args.fit)
    E, out = args.experiment, args.out_dir
    save_figure(F.phase_figure(fr, E), f"{out}/figT_phase_{E}", dpi=dpi)
    save_figure(F.fractions_vs_step_figure(fr, tau, E), f"{out}/figT_fractions_step_{E}", dpi=dpi)
    save_figure(F.tau_figure(tau, fit, E), f"{out}/figT_tau_{E}", dpi=dpi)
    save_figure(F.agreement_figure(ag, E), f"{out}/figT_agreement_{E}", dpi=dpi)
    return 0


def register(subparsers) -> None:
    """Add the snapshot-* commands to the memgen parser."""
    p = subparsers.add_parser(
        "snapshot-exact",
        help="draws of the exact empirical-score model of one K (agreement reference)",
        description="Sample snapshots.agreement_samples images from the exact empirical-score "
        "model of the first K pool images, with the sample section's sampler and the agreement "
        "seed of K (the same noise the snapshots get).",
    )
    p.add_argument("--pool", required=True, help="train_pool.npy of the experiment")
    add_experiment_k(p)
    add_section_argument(p, "sample", "sample")
    add_section_argument(p, "snapshots", "snapshots")
    p.add_argument("--out", required=True, help="output: (n, H, W, C) float32 .npy")
    p.set_defaults(func=_exact)

    p = subparsers.add_parser(
        "snapshot",
        help="one EMA snapshot (published or replayed) and its classification and agreement",
        description="Publish the EMA snapshot of --step of model K from the training run's cache "
        "(or replay training to it), draw its synthetic set like the sample stage, classify it "
        "with the experiment's thresholds for K, and measure its distance to the exact model's "
        "draws from the same noise.",
    )
    p.add_argument("--pool", required=True, help="train_pool.npy of the experiment")
    add_experiment_k(p)
    p.add_argument("--step", type=int, required=True, help="training step of the snapshot")
    p.add_argument("--model-config", required=True, help="model section as JSON or @file")
    add_section_argument(p, "train", "train (the training run's, K resolved)")
    add_section_argument(p, "sample", "sample")
    add_section_argument(p, "snapshots", "snapshots")
    add_section_argument(p, "neighbors", "neighbors (metric, k)")
    p.add_argument("--thresholds", required=True, help="thresholds.parquet of the experiment")
    p.add_argument("--exact", required=True, help="memgen snapshot-exact draws of this K")
    p.add_argument("--scratch", required=True, help="the training run's scratch folder (cache)")
    p.add_argument("--model-dir", required=True, help="output: the snapshot's model folder")
    p.add_argument("--classes-out", required=True, help="output: per-sample classes parquet")
    p.add_argument("--agreement-out", required=True, help="output: per-draw agreement parquet")
    p.set_defaults(func=_snapshot)

    p = subparsers.add_parser(
        "snapshot-summary",
        help="fractions over training time, tau_mem per K, its log-log fit, agreement curves",
        description="From every (K, step) classes and agreement table of an experiment: fractions "
        "with bootstrap CIs, the mean exact-model distance with its CI, tau_mem (first step with "
        "memorized fraction > snapshots.level), the spurious maximum per K, and the log-log slope "
        "of tau_mem against K with its confidence interval.",
    )
    p.add_argument("--experiment", required=True, help="experiment name (recorded in outputs)")
    add_section_argument(p, "snapshots", "snapshots")
    add_section_argument(p, "classify", "classify (n_bootstrap, confidence, seed)")
    p.add_argument("--classes", nargs="+", required=True, help="memgen snapshot classes tables")
    p.add_argument("--agreement", nargs="+", required=True, help="memgen snapshot agreement tables")
    for name in ("fractions", "agreement", "tau", "fit"):
        p.add_argument(f"--{name}-out", required=True, help=f"output: {name} parquet")
    p.set_defaults(func=_summary)

    p = subparsers.add_parser(
        "snapshot-figure",
        help="phase diagram over K x training step, fractions vs step, tau_mem vs K, agreement",
        description="Write figT_phase_<E>, figT_fractions_step_<E>, figT_tau_<E> and "
        "figT_agreement_<E> (PNG + PDF) into --out-dir.",
    )
    p.add_argument("--experiment", required=True, help="experiment name")
    for name in ("fractions", "agreement", "tau", "fit"):
        p.add_argument(f"--{name}", required=True, help=f"memgen snapshot-summary {name} table")
    add_section_argument(p, "plots", "plots", required=False)
    p.add_argument("--out-dir", required=True, help="figure folder")
    p.set_defaults(func=_figure)


"""memgen thresholds / classify / fractions / classify-figure: the classification stage on plain files."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from memgen.cli.common import (
    add_experiment_k,
    add_plots_argument,
    add_section_argument,
    apply_plots,
    section_arg,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("memgen.classify")


def _k_of(table: pd.DataFrame, given: int | None, path) -> int:
    """K of one neighbour table: its single K column, which must agree with ``given`` if both exist."""
    k = int(table["K"].iloc[0]) if "K" in table.columns and table["K"].nunique() == 1 else None
    if k is not None and given is not None and k != int(given):
        raise ValueError(f"{path} holds K = {k}, but K = {given} was given for it")
    if k is None and given is None:
        raise ValueError(f"{path} has no single K column; pass --ks with one K per table")
    return int(given if given is not None else k)


def _thresholds(args) -> int:
    import pandas as pd

    from memgen.classify import nearest_distance
    from memgen.io import read_parquet, write_parquet
    from memgen.null import PoolNull
    from memgen.thresholds import ThresholdsConfig, choose_thresholds

    cfg = section_arg(args, "thresholds", ThresholdsConfig)
    if len(args.train_nn) != len(args.sample_nn):
        raise ValueError("give as many --sample-nn tables as --train-nn tables (one pair per K)")
    if args.ks and len(args.ks) != len(args.train_nn):
        raise ValueError("--ks must give one K per table pair")
    d_train, d_synth = {}, {}
    for i, (a, b) in enumerate(zip(args.train_nn, args.sample_nn)):
        ta, tb = read_parquet(a), read_parquet(b)
        k = _k_of(ta, args.ks[i] if args.ks else None, a)
        d_train[k] = nearest_distance(ta, "training").to_numpy()
        d_synth[k] = nearest_distance(tb, "sample").to_numpy()
    null = None
    if args.null:
        null = PoolNull.from_table(read_parquet(args.null), cfg.null_duplicates == "drop", cfg.floor)
    rows = choose_thresholds(
        d_train, d_synth, cfg.delta_m, cfg.delta_s, cfg.valley(),
        method=cfg.method, null=null, null_cfg=cfg.null(),
    )  # fmt: skip
    df = pd.DataFrame(rows)
    df.insert(0, "experiment", args.experiment)
    for r in rows:
        for tag in ("m", "s"):
            if r.get(f"warning_{tag}"):
                log.warning("K=%s delta_%s: %s", r["K"], tag, r[f"warning_{tag}"])
    shown = [c for c in ("K", "delta_m", "delta_s", "method", "fpr_m", "fpr_s") if c in df.columns]
    log.info("thresholds:\n%s", df[shown].to_string(index=False))
    prov = {"experiment": args.experiment, "thresholds": cfg.to_dict(), "null": args.null,
            "train_nn": args.train_nn, "sample_nn": args.sample_nn}  # fmt: skip
    write_parquet(df, args.out, provenance=prov, sort_by=["K"])
    return 0


def _classify(args) -> int:
    from memgen.classify import ClassifyConfig, classify_table
    from memgen.io import read_parquet, write_parquet
    from memgen.thresholds import ThresholdsConfig

    cfg = section_arg(args, "classify", ClassifyConfig)
    th_cfg = section_arg(args, "thresholds", ThresholdsConfig)
    train_nn, sample_nn = read_parquet(args.train_nn), read_parquet(args.sample_nn)
    k = _k_of(train_nn, args.k, args.train_nn)
    # A number in the section wins; "auto" (or a per-K list) means the thresholds table's row.
    dm, ds = th_cfg.manual("delta_m"), th_cfg.manual("delta_s")
    if (dm is None or ds is None) and args.thresholds:
        th = read_parquet(args.thresholds)
        row = th[th["K"] == k]
        if row.empty:
            raise ValueError(f"{args.thresholds} has no row for K = {k}")
        dm = float(row["delta_m"].iloc[0]) if dm is None else dm
        ds = float(row["delta_s"].iloc[0]) if ds is None else ds
    if dm is None or ds is None:
        raise ValueError(
            "give --thresholds (the thresholds table with a row for this K), or numbers for "
            "delta_m and delta_s in --thresholds-config"
        )
    df = classify_table(train_nn, sample_nn, dm, ds, cfg.generalized_order)
    df.insert(0, "K", int(k))
    df.insert(0, "experiment", args.experiment)
    counts = df["class"].value_counts().to_dict()
    log.info("K=%s delta_m=%.4g delta_s=%.4g classes=%s", k, dm, ds, counts)
    prov = {"experiment": args.experiment, "K": int(k), "delta_m": dm, "delta_s": ds,
            "classify": cfg.to_dict()}  # fmt: skip
    write_parquet(df, args.out, provenance=prov, sort_by=["sample"])
    return 0


def _fractions(args) -> int:
    import numpy as np
    import pandas as pd

    from memgen.classify import (
        ClassifyConfig,
        delta_sweep,
        fractions_with_ci,
        gap_fraction,
        histogram_rows,
        n_groups,
        sensitivity,
    )
    from memgen.io import read_parquet, write_parquet
    from memgen.thresholds import ThresholdsConfig

    cfg = section_arg(args, "classify", ClassifyConfig)
    th_cfg = section_arg(args, "thresholds", ThresholdsConfig)
    frac_rows, sens_rows, hist_rows = [], [], []
    tables = [read_parquet(p) for p in args.classes]
    alld = np.concatenate([t[c].to_numpy(float) for t in tables for c in ("d_train", "d_synth")])
    logd = np.log10(np.maximum(alld, th_cfg.floor))
    edges = np.linspace(logd.min() - 0.05, logd.max() + 0.05, cfg.hist_bins + 1)
    experiment = args.experiment
    boot = (cfg.n_bootstrap, cfg.confidence, cfg.seed)
    for t in tables:
        k = int(t["K"].iloc[0])
        groups = n_groups(t["duplicate_group"]) if "duplicate_group" in t.columns else -1
        for r in fractions_with_ci(t["class"], *boot):
            frac_rows.append({"K": k, **r, "groups": groups if r["class"] == "spurious" else -1})
        frac_rows.append({"K": k, **gap_fraction(t, *boot), "groups": -1})
        for r in sensitivity(t, th_cfg.sensitivity):
            sens_rows.append({"K": k, **r})
        for r in histogram_rows(t, edges, th_cfg.floor):
            hist_rows.append({"K": k, **r})
    prov = {"experiment": experiment, "classify": cfg.to_dict(), "thresholds": th_cfg.to_dict(),
            "classes": args.classes}  # fmt: skip
    sweep_rows = []
    if args.sweep_out:
        sweep_rows = delta_sweep({int(t["K"].iloc[0]): t for t in tables}, th_cfg.sweep)
        peaks = pd.DataFrame(sweep_rows).drop_duplicates("scale")
        log.info("delta sweep (both thresholds scaled):\n%s", peaks[
            ["scale", "spurious_peak", "K_peak", "false_positive_kmax"]].to_string(index=False))
    for rows, out, keys in (
        (sweep_rows, args.sweep_out, ["scale", "K"]),
        (frac_rows, args.out, ["K", "class"]),
        (sens_rows, args.sensitivity_out, ["K", "scaled", "scale"]),
        (hist_rows, args.histograms_out, ["K", "distance", "log10_lo"]),
    ):
        if out:
            df = pd.DataFrame(rows)
            df.insert(0, "experiment", experiment)
            write_parquet(df, out, provenance=prov, sort_by=keys)
    return 0


def _figure(args) -> int:
    import matplotlib.pyplot as plt
    import numpy as np

    from memgen.classify import ClassifyConfig
    from memgen.figures import classify as F
    from memgen.io import read_parquet, save_figure
    from memgen.thresholds import ThresholdsConfig

    plots = apply_plots(args)
    cfg = section_arg(args, "classify", ClassifyConfig)
    th_cfg = section_arg(args, "thresholds", ThresholdsConfig)
    fr = read_parquet(args.fractions)
    hist = read_parquet(args.histograms)
    th = read_parquet(args.thresholds)
    E = args.experiment
    null = read_parquet(args.null) if args.null else None
    sweep = read_parquet(args.sweep_table) if args.sweep_table else None
    # The K panels of Fig 3: spread over the grid, plus the K of the spurious peak.
    ks = F.pick_ks(sorted(hist["K"].unique()))
    spu = fr[fr["class"] == "spurious"]
    if len(spu) and spu["fraction"].max() > 0:
        ks = sorted(set(ks) | {int(spu.loc[spu["fraction"].idxmax(), "K"])})
    save_figure(F.histograms_figure(hist, th, E, ks=ks, null=null), f"{args.out_dir}/fig3_hist_{E}")
    save_figure(F.fractions_figure(fr, E, args.critical_k, plots.k_log, sweep, tuple(th_cfg.band)),
                f"{args.out_dir}/fig4a_fractions_{E}")
    n = len(args.classes)
    if not (len(args.train_nn) == len(args.sample_nn) == len(args.samples) == n):
        raise ValueError("--classes, --train-nn, --sample-nn and --samples need one entry per K")
    classes, tnn, snn, samples = {}, {}, {}, {}
    for c, a, b, s in zip(args.classes, args.train_nn, args.sample_nn, args.samples):
        df = read_parquet(c)
        k = int(df["K"].iloc[0])
        classes[k], tnn[k], snn[k] = df, read_parquet(a), read_parquet(b)
        samples[k] = np.load(s, mmap_mode="r")
    pool = np.load(args.pool, mmap_mode="r")
    examples = F.collect_examples(classes, tnn, snn, samples, pool, cfg.examples_per_class)
    save_figure(F.examples_figure(examples, E), f"{args.out_dir}/fig1b_examples_{E}")
    plt.close("all")
    return 0


_THRESHOLDS = "thresholds (delta_m, delta_s, method, null_alpha, floor, sweep, band, ...)"
_CLASSIFY = "classify (generalized_order, n_bootstrap, confidence, seed, hist_bins, ...)"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "thresholds",
        help="delta_m / delta_s: a quantile of the real pool's leave-one-out distances, or a valley",
        description="Choose the memorization threshold delta_m and the spurious threshold delta_s. Default "
        "(method null-quantile): the null_alpha quantile of the real pool's leave-one-out nearest-neighbour "
        "distances (--null, from `memgen pool-null`), one value for both thresholds and every K; the "
        "table reports each threshold's false-positive rate on that null. Method valley: the valley of "
        "the equal-weight pooled log-distance histograms of all K. delta_m / delta_s of the section "
        "override either rule (a number, or a list per K). See memgen.thresholds.",
    )
    p.add_argument("--experiment", required=True, help="experiment name written into the table")
    add_section_argument(p, "thresholds", _THRESHOLDS, False)
    p.add_argument("--train-nn", nargs="+", required=True, help="neighbour table(s) samples -> training set")
    p.add_argument("--sample-nn", nargs="+", required=True, help="neighbour table(s) samples -> other samples")
    p.add_argument("--ks", nargs="+", type=int, help="K of each table pair (default: the tables' K column)")
    p.add_argument("--null", default=None, help="pool null table (memgen pool-null); also gives the FP rates")
    p.add_argument("--out", required=True, help="output parquet (one row per K)")
    p.set_defaults(func=_thresholds)

    p = subparsers.add_parser(
        "classify",
        help="label each sample memorized / spurious / generalized",
        description="memorized if d_train <= delta_m; else spurious if d_synth <= delta_s; else generalized "
        "(docs/method.md §5.3). d_* are the rank-1 distances of the neighbour tables, the thresholds the row of "
        "this K of the thresholds table (or numbers given in the thresholds section).",
    )
    add_experiment_k(p, "K of this model (must match the tables' K column)")
    add_section_argument(p, "classify", _CLASSIFY, False)
    p.add_argument(
        "--thresholds-config",
        default="{}",
        help="thresholds section as JSON or @file.yaml: numbers for delta_m / delta_s are used "
        "instead of the --thresholds table ('auto', the default: the table's row of this K)",
    )
    p.add_argument("--train-nn", required=True, help="neighbour table samples -> training set")
    p.add_argument("--sample-nn", required=True, help="neighbour table samples -> other samples")
    p.add_argument("--thresholds", default=None, help="thresholds.parquet to read delta_m/delta_s from")
    p.add_argument("--out", required=True, help="output parquet, one row per sample")
    p.set_defaults(func=_classify)

    p = subparsers.add_parser(
        "fractions",
        help="class fractions per K with bootstrap CIs, threshold sensitivity and histogram bins",
        description="Aggregate per-K class tables into fractions (percentile bootstrap CIs), a sensitivity "
        "table (each threshold scaled by the thresholds section's sensitivity factors), the delta sweep "
        "(both scaled by its sweep factors) and log-distance histogram bins.",
    )
    p.add_argument("--experiment", required=True, help="experiment name written into the tables")
    add_section_argument(p, "classify", _CLASSIFY, False)
    add_section_argument(p, "thresholds", _THRESHOLDS, False)
    p.add_argument("--classes", nargs="+", required=True, help="classes.parquet of each K")
    p.add_argument("--out", required=True, help="fractions parquet")
    p.add_argument("--sensitivity-out", default=None, help="sensitivity parquet")
    p.add_argument("--histograms-out", default=None, help="histogram bins parquet")
    p.add_argument("--sweep-out", default=None, help="delta-sweep parquet (both thresholds scaled together)")
    p.set_defaults(func=_fractions)

    p = subparsers.add_parser(
        "classify-figure",
        help="Fig 3 histograms, Fig 4A fractions vs K and Fig 1B example grids",
        description="Draw the classification figures of one experiment (PNG + PDF).",
    )
    p.add_argument("--experiment", required=True, help="experiment name (used in file names)")
    add_section_argument(p, "classify", _CLASSIFY, False)
    add_section_argument(p, "thresholds", _THRESHOLDS, False)
    add_plots_argument(p)
    p.add_argument("--fractions", required=True, help="fractions parquet")
    p.add_argument("--histograms", required=True, help="histogram bins parquet")
    p.add_argument("--thresholds", required=True, help="thresholds parquet")
    p.add_argument(
        "--sweep-table", default=None, help="delta-sweep parquet (band on the fractions)"
    )
    p.add_argument("--null", default=None, help="pool null parquet (drawn on the histograms)")
    p.add_argument("--classes", nargs="+", required=True, help="classes parquet per K")
    p.add_argument("--train-nn", nargs="+", required=True, help="training neighbour table per K")
    p.add_argument("--sample-nn", nargs="+", required=True, help="sample neighbour table per K")
    p.add_argument("--samples", nargs="+", required=True, help="samples .npy per K")
    p.add_argument("--pool", required=True, help="training pool .npy (subset K = first K rows)")
    p.add_argument("--critical-k", nargs="*", type=int, default=[], help="K1, K2 to mark (none: unknown)")
    p.add_argument("--out-dir", required=True, help="figure folder")
    p.set_defaults(func=_figure)

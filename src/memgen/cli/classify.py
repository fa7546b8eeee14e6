"""memgen thresholds / classify / fractions / classify-figure: the classification stage on plain files."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

log = logging.getLogger("memgen.classify")


def _parse_delta(text: str):
    """'auto', a number, or a JSON list (per K) of numbers/'auto'."""
    if text is None or text == "auto":
        return "auto"
    if text.strip().startswith("["):
        return json.loads(text)
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(f"threshold must be 'auto', a number or a JSON list, got {text!r}") from err


def _k_of(table: pd.DataFrame, fallback, path) -> int:
    if "K" in table.columns and table["K"].nunique() == 1:
        return int(table["K"].iloc[0])
    if fallback is not None:
        return int(fallback)
    raise ValueError(f"{path} has no single K column; pass --ks with one K per table")


def _meta(table: pd.DataFrame, col: str, default: str) -> str:
    return str(table[col].iloc[0]) if col in table.columns and len(table) else default


def _thresholds(args) -> int:
    from memgen.classify import nearest_distance
    from memgen.io import read_parquet, write_parquet
    from memgen.null import PoolNull
    from memgen.thresholds import NullConfig, ValleyConfig, choose_thresholds

    if len(args.train_nn) != len(args.sample_nn):
        raise ValueError("give as many --sample-nn tables as --train-nn tables (one pair per K)")
    if args.ks and len(args.ks) != len(args.train_nn):
        raise ValueError("--ks must give one K per table pair")
    d_train, d_synth, experiment = {}, {}, args.experiment
    for i, (a, b) in enumerate(zip(args.train_nn, args.sample_nn)):
        ta, tb = read_parquet(a), read_parquet(b)
        k = _k_of(ta, args.ks[i] if args.ks else (0 if len(args.train_nn) == 1 else None), a)
        d_train[k] = nearest_distance(ta, "training").to_numpy()
        d_synth[k] = nearest_distance(tb, "sample").to_numpy()
        experiment = experiment or _meta(ta, "experiment", "")
    cfg = ValleyConfig(floor=args.floor, bins=args.bins, smoothing=args.smoothing)
    null = None
    if args.null:
        null = PoolNull.from_table(read_parquet(args.null), args.null_duplicates == "drop", args.floor)
    rows = choose_thresholds(
        d_train, d_synth, _parse_delta(args.delta_m), _parse_delta(args.delta_s), cfg,
        method=args.method, null=null, null_cfg=NullConfig(args.alpha, args.delta_s_null),
    )
    df = pd.DataFrame(rows)
    df.insert(0, "experiment", experiment)
    for r in rows:
        for tag in ("m", "s"):
            if r.get(f"warning_{tag}"):
                log.warning("K=%s delta_%s: %s", r["K"], tag, r[f"warning_{tag}"])
    shown = [c for c in ("K", "delta_m", "delta_s", "method", "fpr_m", "fpr_s") if c in df.columns]
    log.info("thresholds:\n%s", df[shown].to_string(index=False))
    write_parquet(df, args.out, provenance={"experiment": experiment, "config": vars(args)}, sort_by=["K"])
    return 0


def _classify(args) -> int:
    from memgen.classify import classify_table
    from memgen.io import read_parquet, write_parquet

    train_nn, sample_nn = read_parquet(args.train_nn), read_parquet(args.sample_nn)
    k = args.K if args.K is not None else _k_of(train_nn, 0, args.train_nn)
    dm, ds = args.delta_m, args.delta_s
    if args.thresholds:
        th = read_parquet(args.thresholds)
        row = th[th["K"] == k]
        if row.empty:
            raise ValueError(f"{args.thresholds} has no row for K = {k}")
        dm = float(row["delta_m"].iloc[0]) if dm is None else dm
        ds = float(row["delta_s"].iloc[0]) if ds is None else ds
    if dm is None or ds is None:
        raise ValueError("give --delta-m and --delta-s, or --thresholds with a row for this K")
    df = classify_table(train_nn, sample_nn, dm, ds, args.generalized_order)
    experiment = args.experiment or _meta(train_nn, "experiment", "")
    df.insert(0, "K", int(k))
    df.insert(0, "experiment", experiment)
    counts = df["class"].value_counts().to_dict()
    log.info("K=%s delta_m=%.4g delta_s=%.4g classes=%s", k, dm, ds, counts)
    write_parquet(df, args.out, provenance={"experiment": experiment, "K": int(k), "delta_m": dm, "delta_s": ds},
                  sort_by=["sample"])
    return 0


def _fractions(args) -> int:
    from memgen.classify import (
        delta_sweep,
        fractions_with_ci,
        gap_fraction,
        histogram_rows,
        n_groups,
        sensitivity,
    )
    from memgen.io import read_parquet, write_parquet

    frac_rows, sens_rows, hist_rows = [], [], []
    tables = [read_parquet(p) for p in args.classes]
    alld = np.concatenate([t[c].to_numpy(float) for t in tables for c in ("d_train", "d_synth")])
    logd = np.log10(np.maximum(alld, args.floor))
    edges = np.linspace(logd.min() - 0.05, logd.max() + 0.05, args.bins + 1)
    experiment = args.experiment
    for t in tables:
        k = int(t["K"].iloc[0])
        experiment = experiment or _meta(t, "experiment", "")
        groups = n_groups(t["duplicate_group"]) if "duplicate_group" in t.columns else -1
        for r in fractions_with_ci(t["class"], args.n_bootstrap, args.confidence, args.seed):
            frac_rows.append({"K": k, **r, "groups": groups if r["class"] == "spurious" else -1})
        frac_rows.append({"K": k, **gap_fraction(t, args.n_bootstrap, args.confidence, args.seed), "groups": -1})
        for r in sensitivity(t, args.scales):
            sens_rows.append({"K": k, **r})
        for r in histogram_rows(t, edges, args.floor):
            hist_rows.append({"K": k, **r})
    prov = {"experiment": experiment, "config": vars(args)}
    sweep_rows = []
    if args.sweep_out:
        sweep_rows = delta_sweep({int(t["K"].iloc[0]): t for t in tables}, args.sweep)
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

    from memgen.figures import classify as F
    from memgen.io import read_parquet, save_figure, use_style

    use_style(args.style)
    fr = read_parquet(args.fractions)
    hist = read_parquet(args.histograms)
    th = read_parquet(args.thresholds)
    E = args.experiment
    null = read_parquet(args.null) if args.null else None
    sweep = read_parquet(args.sweep) if args.sweep else None
    # The K panels of Fig 3: spread over the grid, plus the K of the spurious peak.
    ks = F.pick_ks(sorted(hist["K"].unique()))
    spu = fr[fr["class"] == "spurious"]
    if len(spu) and spu["fraction"].max() > 0:
        ks = sorted(set(ks) | {int(spu.loc[spu["fraction"].idxmax(), "K"])})
    save_figure(F.histograms_figure(hist, th, E, ks=ks, null=null), f"{args.out_dir}/fig3_hist_{E}",
                dpi=args.dpi)
    save_figure(F.fractions_figure(fr, E, args.critical_k, args.k_log, sweep, tuple(args.band)),
                f"{args.out_dir}/fig4a_fractions_{E}", dpi=args.dpi)
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
    examples = F.collect_examples(classes, tnn, snn, samples, pool, args.per_class)
    save_figure(F.examples_figure(examples, E), f"{args.out_dir}/fig1b_examples_{E}", dpi=args.dpi)
    plt.close("all")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "thresholds",
        help="delta_m / delta_s: a quantile of the real pool's leave-one-out distances, or a valley",
        description="Choose the memorization threshold delta_m and the spurious threshold delta_s. Default "
        "(--method null-quantile): the --alpha quantile of the real pool's leave-one-out nearest-neighbour "
        "distances (--null, from `memgen pool-null`), one value for both thresholds and every K; the "
        "table reports each threshold's false-positive rate on that null. --method valley: the valley of "
        "the equal-weight pooled log-distance histograms of all K. See memgen.thresholds.",
    )
    p.add_argument("--train-nn", nargs="+", required=True, help="neighbour table(s) samples -> training set")
    p.add_argument("--sample-nn", nargs="+", required=True, help="neighbour table(s) samples -> other samples")
    p.add_argument("--ks", nargs="+", type=int, help="K of each table pair (default: the tables' K column)")
    p.add_argument("--delta-m", default="auto", help="'auto', a number, or a JSON list per K (default auto)")
    p.add_argument("--delta-s", default="auto", help="'auto', a number, or a JSON list per K (default auto)")
    p.add_argument("--method", choices=["null-quantile", "valley"], default="null-quantile",
                   help="automatic rule: null quantile (default; needs --null) or pooled valley")
    p.add_argument("--null", default=None, help="pool null table (memgen pool-null); also gives the FP rates")
    p.add_argument("--alpha", type=float, default=0.005, help="quantile of the null (default 0.005)")
    p.add_argument("--null-duplicates", choices=["drop", "keep"], default="drop",
                   help="leave exact duplicate pool images (distance <= floor) out of the null (default drop)")
    p.add_argument("--delta-s-null", choices=["pool", "size-matched"], default="pool",
                   help="delta_s = delta_m (pool) or the null quantile of a real set of min(|S|, N) images")
    p.add_argument("--floor", type=float, default=1e-4, help="distance floor before log10 (exact copies)")
    p.add_argument("--bins", type=int, default=80, help="histogram bins over the log-distance range")
    p.add_argument("--smoothing", type=float, default=2.0, help="Gaussian smoothing sigma in bins")
    p.add_argument("--experiment", default=None, help="experiment name written into the table")
    p.add_argument("--out", required=True, help="output parquet (one row per K)")
    p.set_defaults(func=_thresholds)

    p = subparsers.add_parser(
        "classify",
        help="label each sample memorized / spurious / generalized",
        description="memorized if d_train <= delta_m; else spurious if d_synth <= delta_s; else generalized "
        "(SPEC §5.3). d_* are the rank-1 distances of the neighbour tables.",
    )
    p.add_argument("--train-nn", required=True, help="neighbour table samples -> training set")
    p.add_argument("--sample-nn", required=True, help="neighbour table samples -> other samples")
    p.add_argument("--delta-m", type=float, default=None, help="memorization threshold")
    p.add_argument("--delta-s", type=float, default=None, help="spurious threshold (> 0)")
    p.add_argument("--thresholds", default=None, help="thresholds.parquet to read delta_m/delta_s from")
    p.add_argument("--K", type=int, default=None, help="K of this model (default: the tables' K column)")
    p.add_argument("--generalized-order", choices=["desc", "asc"], default="desc",
                   help="rank generalized samples by d_synth descending (code) or ascending (paper text)")
    p.add_argument("--experiment", default=None, help="experiment name written into the table")
    p.add_argument("--out", required=True, help="output parquet, one row per sample")
    p.set_defaults(func=_classify)

    p = subparsers.add_parser(
        "fractions",
        help="class fractions per K with bootstrap CIs, threshold sensitivity and histogram bins",
        description="Aggregate per-K class tables into fractions (percentile bootstrap CIs), a sensitivity "
        "table (each threshold scaled) and log-distance histogram bins.",
    )
    p.add_argument("--classes", nargs="+", required=True, help="classes.parquet of each K")
    p.add_argument("--out", required=True, help="fractions parquet")
    p.add_argument("--sensitivity-out", default=None, help="sensitivity parquet")
    p.add_argument("--histograms-out", default=None, help="histogram bins parquet")
    p.add_argument("--scales", nargs="+", type=float, default=[0.8, 1.2], help="threshold scale factors")
    p.add_argument("--sweep-out", default=None, help="delta-sweep parquet (both thresholds scaled together)")
    p.add_argument("--sweep", nargs="+", type=float, default=[0.5, 0.75, 1.0, 1.25, 1.5],
                   help="scale factors of the delta sweep")
    p.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--bins", type=int, default=60, help="histogram bins")
    p.add_argument("--floor", type=float, default=1e-4, help="distance floor before log10")
    p.add_argument("--experiment", default=None, help="experiment name")
    p.set_defaults(func=_fractions)

    p = subparsers.add_parser(
        "classify-figure",
        help="Fig 3 histograms, Fig 4A fractions vs K and Fig 1B example grids",
        description="Draw the classification figures of one experiment (PNG + PDF).",
    )
    p.add_argument("--experiment", required=True, help="experiment name (used in file names)")
    p.add_argument("--fractions", required=True, help="fractions parquet")
    p.add_argument("--histograms", required=True, help="histogram bins parquet")
    p.add_argument("--thresholds", required=True, help="thresholds parquet")
    p.add_argument("--sweep", default=None, help="delta-sweep parquet (band on the fractions)")
    p.add_argument("--band", nargs=2, type=float, default=[0.8, 1.2], help="sweep factors of the band")
    p.add_argument("--null", default=None, help="pool null parquet (drawn on the histograms)")
    p.add_argument("--classes", nargs="+", required=True, help="classes parquet per K")
    p.add_argument("--train-nn", nargs="+", required=True, help="training neighbour table per K")
    p.add_argument("--sample-nn", nargs="+", required=True, help="sample neighbour table per K")
    p.add_argument("--samples", nargs="+", required=True, help="samples .npy per K")
    p.add_argument("--pool", required=True, help="training pool .npy (subset K = first K rows)")
    p.add_argument("--critical-k", nargs="*", type=int, default=[], help="paper K1, K2 to mark")
    p.add_argument("--per-class", type=int, default=1, help="examples per class")
    p.add_argument("--dpi", type=int, default=150, help="PNG resolution")
    p.add_argument("--k-log", type=lambda s: s.lower() == "true", default=True, help="log-scale K axis (true/false)")
    p.add_argument("--style", default="default", help="matplotlib style")
    p.add_argument("--out-dir", required=True, help="figure folder")
    p.set_defaults(func=_figure)

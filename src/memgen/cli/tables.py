"""memgen kgrid / tables: the K grid from a sparse sweep, and the paper's Tables 1-3."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from memgen.cli.common import add_section_argument, section_arg

log = logging.getLogger("memgen.kgrid")


def _json(text: str, what: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} is not valid JSON ({err})") from err


def _kgrid(args: argparse.Namespace) -> int:
    from memgen.io import read_parquet, write_parquet
    from memgen.kgrid import KGridConfig, grid_from_table, kgrid_table

    cfg = section_arg(args, "kgrid", KGridConfig)
    df = kgrid_table(args.experiment, read_parquet(args.fractions), args.n, cfg,
                     sweep_ks=args.sweep_ks)  # fmt: skip
    grid = grid_from_table(df)
    log.info("%s: K1 = %d (%s), K2 = %d (%s), N = %d; %d models: %s", args.experiment,
             df["K1"].iloc[0], df["K1_source"].iloc[0], df["K2"].iloc[0], df["K2_source"].iloc[0],
             args.n, len(grid), grid)  # fmt: skip
    write_parquet(df, args.out, sort_by=["K"], provenance={
        "experiment": args.experiment, "kgrid": cfg.to_dict(), "fractions": str(args.fractions),
        "N": args.n, "sweep_ks": args.sweep_ks})  # fmt: skip
    if args.json_out:
        from memgen.io import atomic_path

        summary = {"experiment": args.experiment, "K1": int(df["K1"].iloc[0]),
                   "K2": int(df["K2"].iloc[0]), "N": int(args.n), "ks": grid,
                   "sweep_ks": [int(k) for k in df.loc[df["in_sweep"], "K"]]}  # fmt: skip
        with atomic_path(args.json_out, ".json") as tmp:
            tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


def _tables(args: argparse.Namespace) -> int:
    from memgen.models.unet import PRESETS
    from memgen.paper_tables import table1, table2, table3, write_table

    spec = _json(args.spec, "--spec")
    if not isinstance(spec, list) or not spec:
        raise ValueError("--spec must be a non-empty JSON list of experiment entries")
    out = Path(args.out_dir)
    paper = {name: p["paper_params"] for name, p in PRESETS.items()}
    written = []
    written += write_table(table1(spec), out / "table1_kgrid",
                           "Table 1: K1 (memorization starts to drop), K2 (it has plateaued), N")
    written += write_table(table2(spec), out / "table2_thresholds",
                           "Table 2: [min, max] over K of the thresholds delta_m and delta_s")
    written += write_table(table3(spec, paper), out / "table3_models",
                           "Table 3: networks, parameter counts and training budgets")  # fmt: skip
    log.info("wrote %s", ", ".join(map(str, written)))
    return 0


def register(subparsers) -> None:
    """Add ``kgrid`` and ``tables`` to the memgen parser."""
    p = subparsers.add_parser(
        "kgrid",
        help="K1, K2 and the dense K grid of an experiment from its sparse sweep",
        description="From the memorized fractions of the sparse-sweep models: K1 = the largest sweep "
        "K whose memorized fraction is >= k1_fraction_of_max x the maximum, K2 = the smallest sweep K "
        "above K1 within k2_above_min of the minimum (either can be fixed with k1/k2); then n_low, "
        "n_mid, n_high linearly spaced K on [k_min, K1], [K1, K2], [K2, N] with shared endpoints. "
        "Writes one row per K of the sweep or the grid (in_sweep, in_grid, sweep fractions, K1, K2, N).",
    )
    p.add_argument("--experiment", required=True, help="the experiment whose K grid this is")
    p.add_argument("--fractions", required=True, help="fractions.parquet of the sweep experiment")
    p.add_argument("--n", type=int, required=True, help="data set size N (last K of the grid)")
    p.add_argument("--sweep-ks", type=int, nargs="+", default=None,
                   help="the sweep's K; the fractions must be exactly these")  # fmt: skip
    add_section_argument(p, "kgrid", "kgrid (sparse_start, n_low, n_mid, n_high, k1, k2, ...)", False)
    p.add_argument("--out", required=True, help="output: kgrid.parquet")
    p.add_argument("--json-out", default=None,
                   help="optional output: the grid, K1, K2 and N as JSON (read by the workflow)")  # fmt: skip
    p.set_defaults(func=_kgrid)

    p = subparsers.add_parser(
        "tables",
        help="the paper's Tables 1-3 (CSV + Markdown) from a run's outputs",
        description="Table 1 (K1/K2/N), Table 2 (delta_m/delta_s ranges), Table 3 (networks, "
        "parameter counts of the saved models, batch size, iterations) as OUT_DIR/table*.{csv,md}.",
    )
    p.add_argument("--spec", required=True,
                   help="JSON list, one object per experiment: experiment, split, thresholds, "
                   "model_dir, and kgrid or critical_k, ks, width")  # fmt: skip
    p.add_argument("--out-dir", required=True, help="output folder of the tables")
    p.set_defaults(func=_tables)

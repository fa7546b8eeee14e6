"""Compare the parquet tables of two results directories (e.g. results/demo before and after a refactor).

    python benchmarks/compare_demo_tables.py BEFORE_DIR AFTER_DIR [--rtol 0] [--ignore-column NAME ...]
        [--require-same-set] [--ignore-types] [--include-scratch]

Every ``*.parquet`` file present under both directories (same relative path) is read and compared:
same columns, same column types, same number of rows, same values in the same order. Floats must be
equal exactly (``NaN`` equals ``NaN``) unless ``--rtol`` is given; list columns (e.g. an energy curve)
are compared element by element with the same rule. What is provenance only is ignored:

* the parquet schema metadata (the ``memgen`` provenance block: config, paths, seeds, code version,
  and pandas' own block), and
* timing columns, which differ between any two runs (``steps_per_s``, ``elapsed_s``, ``it_per_s``,
  plus anything named with ``--ignore-column``).

Tables under a ``scratch/`` folder (resumable state, not a declared output) are skipped unless
``--include-scratch``. A table present in only one directory is listed; it counts as a difference only
with ``--require-same-set`` (a refactor may add a table). One line per table: ``same``, or ``DIFFERENT``
with the first offending column, how many rows differ and the first differing values (and whether the
rows are only reordered). Exit status: 0 if every compared table is the same, 1 if any differs, 2 on
bad arguments (a directory that does not exist or holds no table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# Columns that measure the machine, not the result: they differ between any two runs of the same code.
TIMING_COLUMNS = ("steps_per_s", "elapsed_s", "it_per_s")


def find_tables(root: Path, include_scratch: bool) -> dict[str, Path]:
    tables = {}
    for path in sorted(root.rglob("*.parquet")):
        rel = path.relative_to(root)
        if not include_scratch and "scratch" in rel.parts[:-1]:
            continue
        tables[rel.as_posix()] = path
    return tables


def _is_float(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "fc"


def _equal_scalars(a: np.ndarray, b: np.ndarray, rtol: float) -> np.ndarray:
    """Element-wise equality of two 1-D arrays of one column (NaN/None equal NaN/None)."""
    if _is_float(a) and _is_float(b):
        both_nan = np.isnan(a) & np.isnan(b)
        if rtol > 0:
            return np.isclose(a, b, rtol=rtol, atol=0.0) | both_nan
        return (a == b) | both_nan
    out = np.empty(len(a), dtype=bool)
    for i, (x, y) in enumerate(zip(a, b)):
        out[i] = _equal_values(x, y, rtol)
    return out


def _missing(x) -> bool:
    """None, NaN, pd.NA or NaT (a scalar cell without a value)."""
    return pd.api.types.is_scalar(x) and bool(pd.isna(x))


def _equal_values(x, y, rtol: float) -> bool:
    """One cell: scalars, None/NaN, or list-like cells compared element by element."""
    x_missing, y_missing = _missing(x), _missing(y)
    if x_missing or y_missing:
        return x_missing and y_missing
    if isinstance(x, (list, tuple, np.ndarray)) or isinstance(y, (list, tuple, np.ndarray)):
        xa, ya = np.asarray(x), np.asarray(y)
        if xa.shape != ya.shape:
            return False
        if _is_float(xa) and _is_float(ya):
            return bool(_equal_scalars(xa.ravel(), ya.ravel(), rtol).all())
        return all(_equal_values(u, v, rtol) for u, v in zip(xa.ravel(), ya.ravel()))
    if isinstance(x, float) and isinstance(y, float) and rtol > 0:
        return bool(np.isclose(x, y, rtol=rtol, atol=0.0))
    return bool(x == y)


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    col = df[name]
    if col.dtype.kind in "fc":
        return col.to_numpy(dtype=float if col.dtype.kind == "f" else complex)
    return col.to_numpy(dtype=object)


def _show(value) -> str:
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()  # plain Python repr (no np.float64(...))
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _sortable(df: pd.DataFrame) -> list[str]:
    """Columns usable as a sort key (list columns are not)."""
    keys = []
    for name in df.columns:
        sample = df[name].dropna()
        if len(sample) and isinstance(sample.iloc[0], (list, tuple, np.ndarray)):
            continue
        keys.append(name)
    return keys


def _first_difference(a: pd.DataFrame, b: pd.DataFrame, rtol: float) -> str | None:
    """None if every column is equal row by row, else a description of the first column that is not."""
    for name in a.columns:
        xa, xb = _column(a, name), _column(b, name)
        equal = _equal_scalars(xa, xb, rtol)
        if not equal.all():
            bad = np.flatnonzero(~equal)
            i = int(bad[0])
            text = (f"column {name!r}: {len(bad)} of {len(a)} rows differ "
                    f"(first at row {i}: {_show(xa[i])} vs {_show(xb[i])}")
            if _is_float(xa) and _is_float(xb):
                with np.errstate(invalid="ignore"):
                    diff = np.abs(xa[bad] - xb[bad])
                if np.isfinite(diff).any():
                    text += f"; max abs difference {np.nanmax(diff):.3g}"
            return text + ")"
    return None


def compare_tables(path_a: Path, path_b: Path, rtol: float = 0.0, ignore=(), ignore_types=False):
    """(same, message) for two parquet files; metadata is never compared."""
    ta, tb = pq.read_table(path_a), pq.read_table(path_b)
    skip = set(TIMING_COLUMNS) | set(ignore)
    names_a = [n for n in ta.schema.names if n not in skip]
    names_b = [n for n in tb.schema.names if n not in skip]
    if set(names_a) != set(names_b):
        only_a = sorted(set(names_a) - set(names_b))
        only_b = sorted(set(names_b) - set(names_a))
        return False, f"columns differ: only in first {only_a}, only in second {only_b}"
    if not ignore_types:
        types = [
            f"{n}: {ta.schema.field(n).type} vs {tb.schema.field(n).type}"
            for n in names_a
            if not ta.schema.field(n).type.equals(tb.schema.field(n).type)
        ]
        if types:
            return False, "column types differ: " + "; ".join(types)
    if ta.num_rows != tb.num_rows:
        return False, f"row counts differ: {ta.num_rows} vs {tb.num_rows}"
    a = ta.select(names_a).to_pandas()
    b = tb.select(names_a).to_pandas()  # same column order as the first table
    problem = _first_difference(a, b, rtol)
    if problem is None:
        extra = f", ignoring {sorted(skip & set(ta.schema.names))}" if skip & set(ta.schema.names) else ""
        return True, f"{ta.num_rows} rows, {len(names_a)} columns{extra}"
    keys = _sortable(a)
    if keys:
        try:
            sa = a.sort_values(keys, kind="stable").reset_index(drop=True)
            sb = b.sort_values(keys, kind="stable").reset_index(drop=True)
        except TypeError:  # mixed-type object column: no order, keep the row-wise message
            return False, problem
        if _first_difference(sa, sb, rtol) is None:
            return False, f"same rows in a different order ({problem})"
    return False, problem


def compare_dirs(dir_a: Path, dir_b: Path, rtol=0.0, ignore=(), require_same_set=False,
                 ignore_types=False, include_scratch=False, out=sys.stdout) -> int:
    tables_a = find_tables(dir_a, include_scratch)
    tables_b = find_tables(dir_b, include_scratch)
    if not tables_a and not tables_b:
        print(f"error: no parquet tables under {dir_a} or {dir_b}", file=sys.stderr)
        return 2
    common = sorted(set(tables_a) & set(tables_b))
    n_diff = 0
    for rel in common:
        try:
            same, message = compare_tables(tables_a[rel], tables_b[rel], rtol, ignore, ignore_types)
        except (pa.ArrowInvalid, OSError) as err:
            same, message = False, f"unreadable: {err}"
        n_diff += not same
        print(f"{'same' if same else 'DIFFERENT':9} {rel}: {message}", file=out)
    only = [(rel, "first") for rel in sorted(set(tables_a) - set(tables_b))]
    only += [(rel, "second") for rel in sorted(set(tables_b) - set(tables_a))]
    for rel, where in only:
        print(f"{'MISSING' if require_same_set else 'only':9} {rel}: only in the {where} directory",
              file=out)
    n_missing = len(only) if require_same_set else 0
    tol = f"rtol {rtol:g}" if rtol > 0 else "exact floats"
    print(f"{len(common)} tables compared ({tol}): {len(common) - n_diff} same, {n_diff} different; "
          f"{len(only)} in one directory only", file=out)
    return 1 if n_diff or n_missing else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Compare every parquet table present in two results directories: same columns, "
        "types, rows and values (provenance metadata and timing columns ignored). Exit 1 on any "
        "difference.",
    )
    ap.add_argument("first", type=Path, help="results directory, e.g. a baseline results/demo")
    ap.add_argument("second", type=Path, help="results directory to compare with it")
    ap.add_argument("--rtol", type=float, default=0.0,
                    help="relative tolerance for floats (default 0: exactly equal)")
    ap.add_argument("--ignore-column", action="append", default=[], metavar="NAME",
                    help="also ignore this column in every table (repeatable); timing columns "
                    f"{', '.join(TIMING_COLUMNS)} are always ignored")
    ap.add_argument("--require-same-set", action="store_true",
                    help="a table present in only one directory counts as a difference")
    ap.add_argument("--ignore-types", action="store_true",
                    help="compare values only, not the parquet column types (e.g. string vs large_string)")
    ap.add_argument("--include-scratch", action="store_true",
                    help="also compare tables under scratch/ folders (resumable state)")
    args = ap.parse_args(argv)
    if args.rtol < 0:
        ap.error(f"--rtol must be >= 0, got {args.rtol}")
    for d in (args.first, args.second):
        if not d.is_dir():
            print(f"error: {d} is not a directory", file=sys.stderr)
            return 2
    return compare_dirs(args.first, args.second, args.rtol, args.ignore_column,
                        args.require_same_set, args.ignore_types, args.include_scratch)


if __name__ == "__main__":
    sys.exit(main())

"""One driver for the per-class analyses of one (experiment, K): basins, curvature and energy.

All three look at the same points (:mod:`memgen.selection`): the training points and the
top-ranked samples of each class. A class too small to analyse is *skipped*, encoded one way in
every table: one row with ``skipped = True``, its ``reason`` (a string; ``""`` on computed rows,
never null) and null in every per-point column.

Every table has ONE explicit pyarrow schema (:class:`TableSpec`): the common columns, the stage's
per-table constants (same value on every row, skipped rows included) and its per-point columns.
The per-K files of one table therefore have identical column types, also when a class is skipped or
a table is empty, and a multi-file scan (pyarrow.dataset, polars, duckdb) reads them as one table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from memgen.selection import AnalysisConfig, ClassPoints, select_points

# Columns of every per-class table, in this order, never null.
COMMON_FIELDS = (
    pa.field("experiment", pa.string(), nullable=False),
    pa.field("K", pa.int64(), nullable=False),
    pa.field("class", pa.string(), nullable=False),  # training | memorized | spurious | generalized
    pa.field("source", pa.string(), nullable=False),  # pool (training points) | samples
    pa.field("class_size", pa.int64(), nullable=False),  # members of the class before the caps
    pa.field("skipped", pa.bool_(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),  # why the class was skipped; "" otherwise
)


@dataclass(frozen=True)
class TableSpec:
    """The schema of one per-class table: common columns + ``constants`` + ``per_point``."""

    name: str
    constants: tuple[pa.Field, ...]
    per_point: tuple[pa.Field, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                *COMMON_FIELDS,
                *(f.with_nullable(False) for f in self.constants),
                *(f.with_nullable(True) for f in self.per_point),
            ]
        )

    @property
    def point_columns(self) -> list[str]:
        return [f.name for f in self.per_point]


PointRows = Callable[[ClassPoints], pd.DataFrame]


def per_class_table(
    spec: TableSpec,
    classes: pd.DataFrame,
    k: int,
    acfg: AnalysisConfig,
    limit: int | None,
    constants: Mapping[str, Any],
    point_rows: PointRows,
) -> pd.DataFrame:
    """The rows of one (E, K) of a per-class table.

    For each class of ``select_points`` (training first): a skipped class gives its one marker
    row; otherwise ``point_rows(points)`` computes the stage's per-point columns (exactly
    ``spec.per_point``) and the common and constant columns are added. ``constants`` holds
    ``experiment``, ``K`` is ``k``; the rest are the stage's constants.
    """
    names = {f.name for f in spec.constants} | {"experiment"}
    if set(constants) != names:
        raise RuntimeError(
            f"{spec.name}: constants {sorted(constants)} do not match the schema's {sorted(names)}"
        )
    schema = spec.schema
    parts = []
    for sel in select_points(classes, k, acfg, limit=limit):
        head = {
            **constants,
            "K": int(k),
            "class": sel.name,
            "source": sel.source,
            "class_size": int(sel.class_size),
            "skipped": sel.skipped,
            "reason": sel.reason or "",
        }
        if sel.skipped:
            row = {**head, **{c: None for c in spec.point_columns}}
            parts.append(pa.Table.from_pylist([row], schema=schema))
            continue
        if len(sel.index) == 0:  # nothing selected (n_train_points 0): no rows, nothing to run
            continue
        rows = point_rows(sel)
        if list(rows.columns) != spec.point_columns:
            raise RuntimeError(
                f"{spec.name}: the stage returned columns {list(rows.columns)}, "
                f"expected {spec.point_columns}"
            )
        frame = rows.reset_index(drop=True).assign(**head)
        parts.append(table_from_frame(frame, schema))
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    return frame_from_table(table, schema)


def table_from_frame(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``df`` (exactly the schema's columns) as a pyarrow table of ``schema``; a null in a
    never-null column is an error."""
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    return table.replace_schema_metadata(None)


def frame_from_table(table: pa.Table, schema: pa.Schema | None = None) -> pd.DataFrame:
    """A pandas frame of a per-class table. Integer and boolean columns that may be null (the
    per-point columns) become pandas' nullable Int64 / boolean, so a skipped class's null does not
    turn a point index into a float."""
    schema = schema or table.schema
    df = table.to_pandas()
    for field in schema:
        if not field.nullable or field.name not in df:
            continue
        col = table.column(field.name).combine_chunks()
        mask = np.asarray(col.is_null(), dtype=bool)
        if pa.types.is_integer(field.type):
            values = np.asarray(col.fill_null(0), dtype=np.int64)
            df[field.name] = pd.arrays.IntegerArray(values, mask)
        elif pa.types.is_boolean(field.type):
            values = np.asarray(col.fill_null(False), dtype=bool)
            df[field.name] = pd.arrays.BooleanArray(values, mask)
    return df


def read_tables(paths: Sequence[str | os.PathLike], spec: TableSpec) -> pd.DataFrame:
    """The per-K files of one per-class table, scanned as one dataset with the table's schema."""
    import pyarrow.dataset as ds

    paths = [str(p) for p in paths]
    for path in paths:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{spec.name} table not found: {path}")
    schema = spec.schema
    # Older files may lack a column of the schema (filled with null): read them as nullable.
    lenient = pa.schema([f.with_nullable(True) for f in schema])
    table = ds.dataset(paths, schema=lenient, format="parquet").to_table()
    return frame_from_table(table, schema)


def concat_frames(frames: Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Per-point frames of one class (batches, references) as one frame; empty when none."""
    frames = list(frames)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def load_inputs(
    classes: str | os.PathLike, pool: str | os.PathLike, samples: str | os.PathLike, k: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The classes table, training pool and samples of one (E, K), checked against each other
    before any (slow) model load, so a missing or mismatched file fails fast and names itself."""
    from memgen.data import load_image_array
    from memgen.io import read_parquet

    if not os.path.exists(classes):
        raise FileNotFoundError(f"classes table not found: {classes} (run the classify stage first)")
    table = read_parquet(classes)
    pool_arr = load_image_array(
        pool, what="training pool", hint="run the split stage first", images=True
    )
    sample_arr = load_image_array(
        samples, what="samples", hint="run the sample stage first", images=True
    )
    if k > pool_arr.shape[0]:
        raise ValueError(f"K={k} exceeds the pool size {pool_arr.shape[0]} of {pool}")
    if len(table) and table["sample"].max() >= sample_arr.shape[0]:
        raise ValueError(
            f"{classes} refers to sample {table['sample'].max()} but {samples} has "
            f"{sample_arr.shape[0]}; were they made from the same synthetic set?"
        )
    return table, pool_arr, sample_arr

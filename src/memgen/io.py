"""Atomic writers and provenance-carrying readers.

Every file the pipeline produces goes through one of these helpers: the data is written to a
temporary file in the same directory and then ``os.replace``-d onto the target, so a job killed
mid-write (SIGKILL, SLURM timeout, preemption) never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from memgen.plots import use_style  # noqa: F401  (figure code imported it from here)

PROVENANCE_KEY = b"memgen"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(RuntimeError):
    """A write failed because the file system (or the user's quota) is full."""


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` as the process umask would leave it for a newly created file or directory."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def is_disk_full(err: BaseException) -> bool:
    """True for a write error caused by a full file system or quota (also when a library such as
    safetensors reports the OS error only in its message)."""
    seen = set()
    while err is not None and id(err) not in seen:  # torch re-raises ENOSPC as a RuntimeError
        seen.add(id(err))
        if isinstance(err, DiskFullError) or (isinstance(err, OSError) and err.errno in DISK_FULL):
            return True
        text = str(err)
        if "No space left on device" in text or "StorageFull" in text or "quota exceeded" in text:
            return True
        err = err.__cause__ or err.__context__
    return False


def disk_full_error(err: BaseException, target: str | os.PathLike) -> DiskFullError:
    """The one-line error for a write that hit a full file system or quota."""
    where = Path(target).parent
    try:
        free = f"{shutil.disk_usage(where).free / 2**20:.0f} MiB free"
    except OSError:
        free = "free space unknown"
    return DiskFullError(
        f"no space left on {where} ({free}) while writing {Path(target).name}: free some space "
        "(or point the results at a larger file system) and rerun; finished outputs are kept"
    )


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it onto ``target``.

    On any exception the temporary file is removed and ``target`` is left untouched.
    ``suffix`` keeps extension-sensitive writers (``np.save``, matplotlib) happy. A full file
    system or quota becomes :class:`DiskFullError` ("no space left on <folder>").
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give results the usual umask-based mode so collaborators can read them.
        os.chmod(tmp_path, umask_mode(0o666))
        os.replace(tmp_path, target)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise disk_full_error(err, target) from err
        raise


def preallocate(path: str | os.PathLike) -> None:
    """Reserve the disk blocks of a file created sparse (``np.lib.format.open_memmap``).

    Writing into a memory map on a full file system kills the process with SIGBUS; reserving the
    blocks first turns that into :class:`DiskFullError` before any work is done.
    """
    size = os.path.getsize(path)
    try:
        with open(path, "rb+") as fh:
            os.posix_fallocate(fh.fileno(), 0, size)
    except OSError as err:
        if err.errno in DISK_FULL:
            raise disk_full_error(err, path) from err
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    except AttributeError:  # no posix_fallocate (macOS): write and hope
        pass


def set_aside(path: str | os.PathLike, reason: str) -> Path:
    """Rename an unusable scratch file to ``<name>.corrupt`` (kept for inspection), warning why."""
    path = Path(path)
    bad = path.with_name(path.name + ".corrupt")
    os.replace(path, bad)
    logging.getLogger(__name__).warning("%s; set aside as %s", reason, bad)
    return bad


def config_hash(cfg: Any) -> str:
    """Short stable hash of a JSON-serialisable config (sorted keys)."""
    blob = json.dumps(cfg, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def write_parquet(
    df: pd.DataFrame,
    path: str | os.PathLike,
    provenance: Mapping[str, Any] | None = None,
    sort_by: list[str] | None = None,
    schema: pa.Schema | None = None,
) -> Path:
    """Write ``df`` atomically as parquet (no pandas index), with provenance in the metadata.

    ``provenance`` (experiment, K, config, seed, ...) is stored as JSON under the ``memgen`` key
    of the parquet schema metadata; read it back with :func:`read_provenance`. ``schema``: the
    table's explicit column types (the frame's columns must be exactly its fields), so every file
    of one table has the same types, whatever its rows; without it they are inferred from ``df``.
    """
    if sort_by:
        df = df.sort_values(sort_by, kind="stable")
    df = df.reset_index(drop=True)
    if schema is not None:
        missing = [n for n in schema.names if n not in df.columns]
        extra = [c for c in df.columns if c not in schema.names]
        if missing or extra:
            raise ValueError(
                f"{Path(path).name}: columns differ from the table's schema: missing {missing}, "
                f"extra {extra}"
            )
        table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    else:
        table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    if provenance is not None:
        meta[PROVENANCE_KEY] = json.dumps(dict(provenance), sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path, ".parquet") as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    return pq.read_table(path).to_pandas()


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}


def save_npy(array: np.ndarray, path: str | os.PathLike) -> Path:
    with atomic_path(path, ".npy") as tmp:
        np.save(tmp, array)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)


def torch_save(obj: Any, path: str | os.PathLike) -> Path:
    import torch

    # Through a Python file object: a full disk then raises OSError(ENOSPC) (a path makes torch's
    # C++ writer fail with an opaque "unexpected pos" instead).
    with atomic_path(path, ".pt") as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)
    return Path(path)


def save_figure(fig, stem: str | os.PathLike, dpi: int | None = None) -> list[Path]:
    """Save a matplotlib figure as ``<stem>.png`` and ``<stem>.pdf`` atomically.

    ``dpi`` defaults to the ``plots`` section the command applied (``memgen.plots.use_plots``).
    """
    from memgen.plots import active_plots

    dpi = dpi or active_plots().dpi
    stem = Path(stem)
    out = []
    for ext in (".png", ".pdf"):
        target = stem.with_suffix(ext)
        with atomic_path(target, ext) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=ext[1:])
        out.append(target)
    return out


def write_text(text: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)

"""Reading and writing torch checkpoints without ever running pickled code.

Every ``torch.load`` of the pipeline goes through :func:`load_tensors`, i.e. ``weights_only=True``:
a file may hold tensors and plain containers (dict, list, tuple, str, numbers, None) only, so a
model or checkpoint file from someone else cannot execute code when it is read. NumPy arrays are
accepted too (plain numeric data, no code); older checkpoints stored NumPy's RNG state that way.

Resumable scratch checkpoints (:func:`save_resumable`, :func:`load_resumable`) keep the previous
good checkpoint next to the newest one; a checkpoint that cannot be read is set aside (renamed
``*.corrupt``) with a warning naming it, and training falls back to the previous one or restarts.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memgen.io import set_aside, torch_save

log = logging.getLogger(__name__)


class UnsafeFileError(ValueError):
    """The file holds pickled objects other than tensors and plain containers."""


class CorruptFileError(ValueError):
    """The file is truncated or otherwise unreadable."""


def _numpy_globals() -> list:
    # What torch needs to rebuild a plain NumPy array (no code runs: the unpickler only
    # calls these allow-listed constructors).
    from numpy._core.multiarray import _reconstruct

    return [_reconstruct, np.ndarray, np.dtype, *{type(np.dtype(t)) for t in "?bBhHiIlLqQefdg"}]


def load_tensors(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; errors name the file and what to do.

    Raises :class:`UnsafeFileError` for pickled code/objects and :class:`CorruptFileError` for
    a truncated or unreadable file (both ``ValueError``: one line from the CLI).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        last = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UnsafeFileError(
            f"refusing to load {path}: it contains pickled objects other than tensors and plain "
            f"containers, which could run code when read ({last}); recreate it with memgen "
            "(delete it and rerun the stage that writes it)"
        ) from err
    except Exception as err:  # torch reports truncation as OSError, RuntimeError, EOFError, ...
        raise CorruptFileError(
            f"{path} is truncated or corrupt ({type(err).__name__}: {str(err)[:160] or 'no detail'}); "
            "delete it and rerun the stage that writes it"
        ) from err


def previous_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _next_path(path: Path) -> Path:
    # Complete once it exists (written atomically); only seen if a kill fell between two renames.
    return path.with_name(f".{path.name}.next")


def save_resumable(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Atomically write ``state`` to ``path``, keeping the checkpoint it replaces as ``*.prev.pt``."""
    path = Path(path)
    tmp_target = _next_path(path)
    torch_save(state, tmp_target)  # complete and fsynced before anything is renamed
    if path.exists():
        os.replace(path, previous_path(path))
    os.replace(tmp_target, path)
    return path


def load_resumable(path: str | os.PathLike) -> dict[str, Any] | None:
    """The newest readable checkpoint of ``path`` (or its ``*.prev.pt``), else None.

    Unreadable or unsafe files are set aside with a warning naming them; never raises for them.
    """
    path = Path(path)
    for candidate in (path, _next_path(path), previous_path(path)):
        if not candidate.exists():
            continue
        try:
            state = load_tensors(candidate)
        except (UnsafeFileError, CorruptFileError) as err:
            set_aside(candidate, f"checkpoint not used: {err}")
            continue
        if not isinstance(state, dict):
            set_aside(candidate, f"checkpoint not used: {candidate} does not hold a dict")
            continue
        if candidate != path:
            log.warning("resuming from the previous checkpoint %s", candidate)
        return state
    return None


def discard_previous(path: str | os.PathLike) -> None:
    """Remove the ``*.prev.pt`` of ``path`` (once the run is finished it is no longer needed)."""
    previous_path(Path(path)).unlink(missing_ok=True)

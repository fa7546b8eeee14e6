"""Config sections handed to a stage as JSON: one check for unknown keys, shared by every stage.

The workflow validates config.yaml against its JSON schemas first; this second check guards the CLI and
the Python API, where a misspelt key would otherwise be ignored silently and the paper default used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any


def check_keys(section: str, cfg: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise ValueError naming the unknown keys of ``cfg`` and the known ones."""
    known = set(known)
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"unknown {section} config keys {unknown}; known: {sorted(known)}")


def dataclass_fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}

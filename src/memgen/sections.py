"""Config sections: the one contract between config.yaml, the CLI and the Python API.

Each section of the workflow's JSON schemas (``images.<E>.train``, ``circle.sample``, ``plots``, ...)
has exactly one frozen dataclass in the stage module that uses it. Its field defaults are the only
defaults in Python; ``tests/test_config_contract.py`` checks them against the schema. Dataclasses are
registered with :func:`section` under their schema path so the check (and the docs) can find them.

The workflow validates config.yaml against the schemas first; :meth:`Section.from_dict` checks again
for the CLI and the Python API, where a misspelt key would otherwise be ignored silently and the paper
default used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

# schema path ("images.*.train", "circle.sample", "plots", ...) -> its dataclass
SECTIONS: dict[str, type] = {}

T = TypeVar("T")


def check_keys(section: str, cfg: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise ValueError naming the unknown keys of ``cfg`` and the known ones."""
    known = set(known)
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"unknown {section} config keys {unknown}; known: {sorted(known)}")


def dataclass_fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


class Section:
    """Mixin of the frozen config dataclasses: construction from a (partial) mapping, checked."""

    SECTION = "section"  # the schema path, set by @section

    @classmethod
    def from_dict(cls: type[T], cfg: Mapping[str, Any] | None = None) -> T:
        cfg = dict(cfg or {})
        check_keys(cls.SECTION, cfg, dataclass_fields(cls))
        return cls(**cfg)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def section(path: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: register a config dataclass under its schema path (``images.*.train``)."""

    def register(cls: type[T]) -> type[T]:
        if path in SECTIONS and SECTIONS[path] is not cls:
            raise RuntimeError(f"config section {path!r} registered twice")
        cls.SECTION = path.replace("*.", "<E>.")
        SECTIONS[path] = cls
        return cls

    return register

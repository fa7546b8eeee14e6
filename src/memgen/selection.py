"""Which points each per-class analysis (basins, curvature, energy; paper App C–E, docs/method.md §6–8) runs on.

Shared by the three analyses so they all look at the same points:
- ``training``: the first ``n_train_points`` rows of the K-subset (subset order, docs/method.md §11);
- ``memorized`` / ``spurious`` / ``generalized``: samples of that class ranked as docs/method.md §5.5
  (memorized by d_train ascending, spurious by d_synth ascending, generalized by d_synth
  descending = most generalized first, as the official code; configurable), top ``max_per_class``.
A sample class smaller than ``min_class_frac`` x |S| is skipped (paper: "drop a class at K if
its size is below X % of |S|", X = 1 by docs/method.md §11) and carries a reason string instead of points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from memgen.classes import CLASSES, TRAINING
from memgen.sections import Section, check_keys, dataclass_fields, section

# docs/method.md §5.5 ranking: class -> (column, ascending). Generalized descending follows the official code (docs/method.md §10.9).
DEFAULT_RANKING = {
    "memorized": {"by": "d_train", "ascending": True},
    "spurious": {"by": "d_synth", "ascending": True},
    "generalized": {"by": "d_synth", "ascending": False},
}


@section("images.*.analysis")
@dataclass(frozen=True)
class AnalysisConfig(Section):
    """The ``analysis`` config section (defaults = paper / docs/method.md §11).

    A partial ``ranking`` (one class, or only ``ascending``) is merged into the default ranking.
    """

    n_train_points: int = 512
    max_per_class: int = 512
    min_class_frac: float = 0.01
    ranking: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_RANKING))
    impl_version: int = 1

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> AnalysisConfig:
        check_keys(cls.SECTION, cfg, dataclass_fields(cls))
        cfg = dict(cfg)
        ranking = {k: dict(v) for k, v in DEFAULT_RANKING.items()}
        for name, rule in (cfg.pop("ranking", None) or {}).items():
            if name not in CLASSES:
                raise ValueError(
                    f"analysis.ranking: unknown class {name!r}; use {list(CLASSES)}"
                )
            check_keys(f"{cls.SECTION}.ranking.{name}", rule, ("by", "ascending"))
            ranking[name].update(rule)
        return cls(ranking=ranking, **cfg)


@dataclass
class ClassPoints:
    """The selected points of one class: ``index`` into the pool (training) or the samples."""

    name: str
    source: str  # "pool" | "samples"
    index: np.ndarray
    class_size: int
    reason: str | None = None  # set when the class is skipped

    @property
    def skipped(self) -> bool:
        return self.reason is not None


def select_points(
    classes: pd.DataFrame, k: int, cfg: AnalysisConfig, limit: int | None = None
) -> list[ClassPoints]:
    """Points per class (training first) from the classes table of one (E, K).

    ``classes`` needs columns sample, d_train, d_synth, class (one row per synthetic sample).
    ``limit``: a stage's own cap (its ``max_points``), applied after the ranking on top of
    ``n_train_points``/``max_per_class``.
    """

    def cap(n: int) -> int:
        return n if limit is None else min(n, int(limit))

    missing = {"sample", "d_train", "d_synth", "class"} - set(classes.columns)
    if missing:
        raise ValueError(
            f"classes table lacks columns {sorted(missing)} (needs sample, d_train, d_synth, class)"
        )
    n_total = len(classes)
    out = [ClassPoints(TRAINING, "pool", np.arange(cap(min(cfg.n_train_points, k))), k)]
    min_size = cfg.min_class_frac * n_total
    for name in CLASSES:
        members = classes[classes["class"] == name]
        size = len(members)
        if size == 0 or size < min_size:
            reason = (
                f"class size {size} < min_class_frac {cfg.min_class_frac} x |S| {n_total}"
                f" = {min_size:g}"
                if size
                else f"no {name} samples among |S| = {n_total}"
            )
            out.append(ClassPoints(name, "samples", np.zeros(0, dtype=np.int64), size, reason))
            continue
        rule = cfg.ranking[name]
        # Stable sort, ties broken by sample index, so the choice is reproducible.
        ranked = members.sort_values(
            [rule["by"], "sample"], ascending=[bool(rule["ascending"]), True], kind="stable"
        )
        idx = ranked["sample"].to_numpy(dtype=np.int64)[: cap(cfg.max_per_class)]
        out.append(ClassPoints(name, "samples", idx, size))
    return out


def gather_images(points: ClassPoints, pool: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """The (n, H, W, C) images of a selection (pool rows or sample rows)."""
    src = pool if points.source == "pool" else samples
    return np.asarray(src[points.index], dtype=np.float32)

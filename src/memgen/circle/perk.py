"""Per-K values of the circle's config sections.

A per-K key (``train.iterations``, ``sample.n_samples``, ``exact.n_samples``, ``cluster.tau``,
``energy.t``) holds a scalar (every K) or a list aligned with the experiment's ``ks``. The section
dataclass keeps the value as written (its default is the schema's); a per-K command resolves it
for its own K with :meth:`PerK.at_k`, taking ``ks`` from the split table. The workflow passes the
resolved value, so a change to one K's entry reruns that K's jobs only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any


def each(value: Any) -> list:
    """The values of a per-K entry (a scalar is one value)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


class PerK:
    """Mixin of the circle sections with per-K keys (listed in ``PER_K``)."""

    PER_K: tuple[str, ...] = ()

    def at_k(self, k: int, ks: Sequence[int]):
        """This section with every per-K key resolved to its value at training-set size ``k``."""
        ks = [int(v) for v in ks]
        changes = {}
        for name in self.PER_K:
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                continue
            if len(value) != len(ks):
                raise ValueError(
                    f"per-K list {self.SECTION}.{name} = {list(value)} has {len(value)} entries but "
                    f"ks has {len(ks)} ({ks}); give one value per K or a single value"
                )
            if int(k) not in ks:
                raise ValueError(f"K={k} is not in ks {ks}; add it to circle.ks")
            changes[name] = value[ks.index(int(k))]
        return dataclasses.replace(self, **changes) if changes else self

    def check_resolved(self) -> None:
        """Raise when a per-K key still holds a list (the caller forgot :meth:`at_k`)."""
        for name in self.PER_K:
            if isinstance(getattr(self, name), (list, tuple)):
                raise ValueError(
                    f"{self.SECTION}.{name} is a per-K list {list(getattr(self, name))}; "
                    "resolve it for one K first (at_k)"
                )

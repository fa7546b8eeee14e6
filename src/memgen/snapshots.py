"""EMA snapshots of one training run at chosen steps: the time axis of the training-dynamics analysis.

How a snapshot comes to exist (docs/training_dynamics.md):

1. While a model trains, :class:`SnapshotWriter` copies the EMA weights at every requested step into
   the run's snapshot cache, ``<scratch>/snapshots/step<s>/`` (a diffusers model folder whose
   ``memgen_train.json`` records the step and the run's resume key). The copy reads the EMA weights
   only: no RNG, no optimizer state and no trained weight is touched, so the final model is the same
   with or without snapshots. The cache is written before the checkpoint of a later step, so a
   killed run that resumes from its checkpoint finds every earlier snapshot already there, and the
   ones after it are produced on the way again, identical bit for bit (training resumes exactly).
2. The ``snapshot`` stage publishes the cached folder as its declared output. When the cache has
   no such step (a step added after the run had passed it), it replays training from step 0 in a
   scratch folder of its own, to exactly that step (the same seeded loop, so on CPU the same bits),
   caches the result and publishes it. Training itself is never rerun for a snapshot.

The steps come from :class:`SnapshotConfig` (config section ``images.<E>.snapshots``): an explicit
increasing list, or ``count`` log-spaced steps from ``first`` to the end of training.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memgen.sections import Section, section

log = logging.getLogger(__name__)

CACHE_DIR = "snapshots"  # inside the training run's scratch folder


@section("images.*.snapshots")
@dataclass(frozen=True)
class SnapshotConfig(Section):
    """The ``snapshots`` section: which EMA snapshots to keep and how to analyse them.

    ``count`` = 0 and no ``steps``: no snapshots (the paper run). ``steps`` (an increasing list)
    wins over ``count`` log-spaced steps from ``first`` to the last training step.
    """

    count: int = 0
    first: int = 100
    steps: list[int] | None = None
    ks: list[int] | None = None  # K values analysed over training time (null: every K)
    sample_max: int | None = None  # synthetic set per snapshot: the sample section's size, capped
    sample_min: int = 0  # ... and raised to this (a 4K set is 8 samples at K = 2)
    agreement_samples: int = 256  # samples drawn by trained and exact model from the same noise
    level: float = 0.5  # tau_mem: first step at which the memorized fraction exceeds this
    device: str = "auto"
    impl_version: int = 1

    @property
    def enabled(self) -> bool:
        return bool(self.steps) or self.count > 0

    def resolve_steps(self, iterations: int, where: str = "images.<E>.snapshots") -> list[int]:
        """The snapshot steps of a run of ``iterations`` steps; ValueError naming the key if invalid."""
        if self.steps is not None and len(self.steps) > 0:
            steps = [int(s) for s in self.steps]
            bad = [b for a, b in zip(steps, steps[1:]) if b <= a]
            if bad:
                raise ValueError(
                    f"config key '{where}.steps' must be strictly increasing, got {steps}"
                )
            if steps[0] < 1:
                raise ValueError(f"config key '{where}.steps' must hold steps >= 1, got {steps[0]}")
            if steps[-1] > iterations:
                raise ValueError(
                    f"config key '{where}.steps' asks for step {steps[-1]}, beyond the training "
                    f"length ({iterations} iterations); drop it or raise train.iterations"
                )
            return steps
        if self.count < 0:
            raise ValueError(f"config key '{where}.count' must be >= 0, got {self.count}")
        if self.count == 0:
            return []
        if not 1 <= self.first <= iterations:
            raise ValueError(
                f"config key '{where}.first' = {self.first} must lie in [1, {iterations}] "
                "(the training length)"
            )
        return log_steps(self.first, iterations, self.count)

    def n_samples(self, final_n: int) -> int:
        """Synthetic samples per snapshot: the final set's size, capped at ``sample_max`` and
        raised to ``sample_min``."""
        n = final_n if self.sample_max is None else min(final_n, int(self.sample_max))
        return max(n, int(self.sample_min))


def log_steps(first: int, last: int, count: int) -> list[int]:
    """``count`` log-spaced integer steps from ``first`` to ``last`` (both included, deduplicated)."""
    if count == 1 or first == last:
        return [int(last)]
    ratio = math.log(last / first) / (count - 1)
    steps = sorted({int(round(first * math.exp(i * ratio))) for i in range(count)})
    steps[-1] = int(last)
    return steps


def snapshot_key(resume_key: str, step: int) -> str:
    """Identity of a snapshot: the run (model, training config without its length, K, data) + step."""
    return f"{resume_key}/step{int(step)}"


def cache_path(cache_dir: str | os.PathLike, step: int) -> Path:
    return Path(cache_dir) / f"step{int(step)}"


def cached_snapshot(cache_dir: str | os.PathLike, step: int, resume_key: str) -> Path | None:
    """The cached folder of ``step`` if it is complete and of this run, else None."""
    from memgen.train import DONE_FILE, model_is_complete

    path = cache_path(cache_dir, step)
    if not model_is_complete(path):
        return None
    info = json.loads((path / DONE_FILE).read_text())
    return path if info.get("snapshot") == snapshot_key(resume_key, step) else None


class SnapshotWriter:
    """Training hook: ``writer.save(step, ema_model, resume_key)`` at each step of ``steps``."""

    def __init__(self, steps: Iterable[int], cache_dir: str | os.PathLike, info: dict | None = None):
        self.steps = frozenset(int(s) for s in steps)
        self.cache_dir = Path(cache_dir)
        self.info = dict(info or {})
        self.saved: list[int] = []

    def save(self, step: int, ema_model, resume_key: str) -> None:
        from memgen.train import save_model_atomic

        if cached_snapshot(self.cache_dir, step, resume_key) is not None:
            return  # written before a kill: the resumed run would write the same bits
        info = {**self.info, "step": int(step), "snapshot": snapshot_key(resume_key, step)}
        save_model_atomic(ema_model, cache_path(self.cache_dir, step), info)
        self.saved.append(int(step))
        log.info("EMA snapshot of step %d saved to %s", step, cache_path(self.cache_dir, step))


def publish(src: Path, model_dir: str | os.PathLike) -> Path:
    """Copy a cached snapshot folder to ``model_dir`` atomically (temp folder, then rename)."""
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", suffix=".tmp", dir=model_dir.parent))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        from memgen.io import umask_mode

        os.chmod(tmp, umask_mode(0o777))
        if model_dir.exists():
            shutil.rmtree(model_dir)
        os.replace(tmp, model_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return model_dir


def make_snapshot(
    data,
    model_cfg: dict[str, Any],
    train_cfg,
    step: int,
    scratch_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
    provenance: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Publish the EMA snapshot of ``step`` of the run (data, model_cfg, train_cfg) to ``model_dir``.

    ``scratch_dir`` is the training run's scratch folder (its ``snapshots/`` cache is looked up
    first); a missing step is replayed from step 0 under ``scratch_dir/snapshot-replay/step<s>``
    (resumable: a killed replay continues from its own checkpoint). Returns how it was obtained.
    """
    from memgen.train import resume_key_of, train_model

    scratch_dir = Path(scratch_dir)
    if not 1 <= int(step) <= int(train_cfg.iterations):
        raise ValueError(
            f"snapshot step {step} is outside the training length [1, {train_cfg.iterations}]"
        )
    key = resume_key_of(data, model_cfg, train_cfg)
    cache = scratch_dir / CACHE_DIR
    src = cached_snapshot(cache, step, key)
    how = "cache"
    if src is None:
        how = "replay"
        log.info("step %d is not in the snapshot cache %s: replaying training to it", step, cache)
        replay = scratch_dir / "snapshot-replay" / f"step{int(step)}"
        writer = SnapshotWriter([step], cache, provenance)
        short = dataclasses.replace(train_cfg, iterations=int(step))
        # A finished replay model would make training return at once: resume from the checkpoint
        # instead, so the hook sees the step.
        shutil.rmtree(replay / "model", ignore_errors=True)
        train_model(
            data, model_cfg, short, replay / "model", replay / "train_log.parquet", replay,
            provenance=provenance, progress=progress, snapshots=writer,
        )  # fmt: skip
        src = cached_snapshot(cache, step, key)
        if src is None:  # the replay ended exactly at the step, so the hook must have run
            raise RuntimeError(f"replay to step {step} did not leave a snapshot in {cache}")
        shutil.rmtree(replay, ignore_errors=True)
    publish(src, model_dir)
    return {"step": int(step), "source": how, "snapshot": snapshot_key(key, step)}


def plan_cost(exp: dict, sample: dict, iterations, batch: int, steps_per_s: float) -> tuple[int, float]:
    """(number of snapshots, GPU-hours) of the snapshot analysis of one experiment for `memgen plan`.

    Saving during training is free; each snapshot draws its synthetic set and the agreement draws
    (a forward pass ~ 1/3 of a training step per image, as for the sample stage). The exact model's
    draws (one set per K) and replays of steps added after training are not counted.
    """
    cfg = SnapshotConfig.from_dict(exp.get("snapshots") or {})
    if not cfg.enabled:
        return 0, 0.0
    ks = list(cfg.ks or exp["ks"])
    all_ks = list(exp["ks"])
    n_snap, images = 0, 0
    for k in ks:
        iters = iterations[all_ks.index(k)] if isinstance(iterations, list) else iterations
        steps = cfg.resolve_steps(int(iters))
        n_final = min(max(round(sample["ratio"] * k), sample["min"]), sample["max"] or 10**12)
        n_snap += len(steps)
        images += len(steps) * (cfg.n_samples(n_final) + cfg.agreement_samples)
    return n_snap, images * sample["steps"] / (3 * batch * steps_per_s) / 3600

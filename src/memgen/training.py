"""What every training loop of memgen shares: batch order, RNG capture, resumable checkpoints, progress.

The image models (``memgen.train``) and the circle's score network (``memgen.circle.train``) differ in
network, noise process and optimizer, but resume the same way: a checkpoint holds the state of every
stateful part (model, EMA, optimizer, LR schedule, batch order) and of every random generator, under
a key of everything that changes the numbers, so a run killed at any step and resumed is bitwise
the uninterrupted run on CPU; a checkpoint of another config is ignored with a warning.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memgen.checkpoint import load_resumable, save_resumable

log = logging.getLogger(__name__)

BATCH_MODES = ("epoch", "replacement")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- data ordering
class BatchOrder:
    """Indices of each training batch of a K-point training set; its state is checkpointed.

    ``epoch``: shuffled passes over the K points in batches of min(B, K); with ``drop_last`` an
    incomplete last batch is skipped (the image models), else it is used (the circle, like a
    PyTorch DataLoader). ``replacement``: B indices drawn with replacement (replicates a tiny K
    into a full batch).

    ``generator``: a seed (the order owns its generator) or a generator shared with the loop.
    """

    def __init__(
        self,
        k: int,
        batch_size: int,
        mode: str,
        generator: torch.Generator | int,
        drop_last: bool = True,
    ):
        if mode not in BATCH_MODES:
            raise ValueError(f"batch order must be one of {BATCH_MODES}, got {mode!r}")
        if k < 1 or batch_size < 1:
            raise ValueError(f"batch order needs K >= 1 and a batch size >= 1 (K={k}, B={batch_size})")
        self.k, self.mode, self.drop_last = k, mode, drop_last
        self.batch = min(batch_size, k) if mode == "epoch" else batch_size
        if isinstance(generator, torch.Generator):
            self.gen = generator
        else:
            self.gen = torch.Generator().manual_seed(int(generator))
        self.perm: torch.Tensor | None = None
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.mode == "replacement":
            return torch.randint(self.k, (self.batch,), generator=self.gen)
        needed = self.batch if self.drop_last else 1
        if self.perm is None or self.pos + needed > self.k:
            self.perm, self.pos = torch.randperm(self.k, generator=self.gen), 0
        idx = self.perm[self.pos : self.pos + self.batch]
        self.pos += len(idx)
        return idx

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.gen.set_state(s["gen"])
        self.perm, self.pos = s["perm"], int(s["pos"])


# ----------------------------------------------------------------------------- RNG snapshot
def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """The global RNGs (torch CPU/CUDA, numpy, python) and the loop's own ``generators``.

    Tensors and plain tuples only, so the checkpoint loads with torch.load(weights_only=True).
    """
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
        **{key: gen.get_state() for key, gen in generators.items()},
    }


def set_rng_state(s: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    name, keys, pos, has_gauss, gauss = s["numpy"]  # keys: a tensor, or an array (older files)
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    np.random.set_state((name, keys.astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(s["python"])
    for key, gen in generators.items():
        gen.set_state(s[key])


# ------------------------------------------------------------------------------ checkpoints
class TrainingCheckpoint:
    """The resumable checkpoint of one training run.

    ``parts``: name -> object with ``state_dict``/``load_state_dict`` (model, optimizer, ...);
    ``generators``: name -> the loop's own torch generators; ``key``: a hash of everything that
    changes the numbers (a checkpoint with another key is not resumed).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        key: str,
        parts: dict[str, Any],
        generators: dict[str, torch.Generator],
    ):
        self.path, self.key = Path(path), key
        self.parts, self.generators = parts, generators

    def save(self, step: int, rows: list[dict], **extra: Any) -> None:
        state = {name: obj.state_dict() for name, obj in self.parts.items()}
        state.update(rng=rng_state(self.generators), step=step, log=rows, resume_key=self.key)
        save_resumable({**state, **extra}, self.path)

    def restore(self) -> dict[str, Any] | None:
        """Load the newest readable checkpoint of this key into the parts and generators.

        Returns the whole checkpoint (``step``, ``log`` and the extras given to :meth:`save`),
        or None (nothing to resume: no file, unreadable files set aside, or another key).
        Loaded to the CPU (RNG states must stay CPU tensors; load_state_dict moves the weights).
        """
        state = load_resumable(self.path)
        if state is None:
            return None
        if state.get("resume_key") != self.key:
            log.warning("checkpoint %s is from a different config/data: starting afresh", self.path)
            return None
        for name, obj in self.parts.items():
            obj.load_state_dict(state[name])
        set_rng_state(state["rng"], self.generators)
        log.info("resumed from %s at step %d", self.path, int(state["step"]))
        return state


def progress_bar(total: int, initial: int, enabled: bool, desc: str):
    """tqdm on stderr; in a job log (not a tty) a line every ~30 s instead of constant redraws."""
    from tqdm.auto import tqdm

    mininterval = 0.5 if os.isatty(2) else 30.0
    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, mininterval=mininterval,
                dynamic_ncols=True)  # fmt: skip

"""Per-image embeddings whose squared Euclidean distance IS the metric (docs/method.md §5.1, efficient kNN).

LPIPS(x, y) = sum_l sum_c w_lc/(H_l W_l) sum_hw (f̂_x - f̂_y)^2 with every w_lc >= 0, so with
phi(x) = concat_l vec(sqrt(w_lc/(H_l W_l)) * f̂_l(x)) we get LPIPS(x, y) = ||phi(x) - phi(y)||^2 exactly:
each image passes through the network once instead of once per pair. "l2" is the identity (flattened
[-1, 1] pixels; the reported distance is then the square root).
"""

from __future__ import annotations

import numpy as np
import torch

from .perceptual import prepare


class LpipsEmbedder:
    """phi for one lpips.LPIPS model; channels with weight 0 are dropped (AlexNet: 150 of 1,152)."""

    def __init__(self, model):
        if not model.lpips:
            raise ValueError("the embedding needs lpips=True (linear heads)")
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.keep, self.scale = [], []
        for lin in model.lins:
            w = lin.model[-1].weight.detach().flatten().double()
            if (w < 0).any():  # the identity needs w >= 0 (true for the shipped v0.1 heads)
                raise ValueError("LPIPS linear weights must be non-negative for the embedding")
            keep = torch.nonzero(w > 0).flatten()
            self.keep.append(keep.to(self.device))
            self.scale.append(w[keep].sqrt().float().to(self.device))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW float in [-1, 1] -> (N, D) float32 embeddings."""
        from lpips import normalize_tensor  # slow import (torchvision); L2-only jobs never need it

        x = prepare(x.to(self.device, torch.float32))
        feats = self.model.net.forward(self.model.scaling_layer(x))
        parts = []
        for f, keep, scale in zip(feats, self.keep, self.scale):
            f = normalize_tensor(f)[:, keep]  # eps 1e-10, as the package
            hw = f.shape[-2] * f.shape[-1]
            parts.append((f * (scale / hw**0.5)[None, :, None, None]).flatten(1))
        return torch.cat(parts, 1)

    def dim(self, height: int, width: int, channels: int = 3) -> int:
        return int(self(torch.zeros(1, channels, height, width)).shape[1])


def to_unit_block(block: np.ndarray) -> np.ndarray:
    """A block of a user array as float32 in [-1, 1] (uint8 [0, 255] mapped as torchvision does)."""
    if block.dtype == np.uint8:
        f = np.float32
        return (block.astype(f) / f(255.0) - f(0.5)) / f(0.5)
    return np.asarray(block, dtype=np.float32)


def embed_array(
    arr: np.ndarray,
    embedder: LpipsEmbedder,
    out: np.ndarray,
    batch_size: int = 256,
    progress: bool = True,
) -> np.ndarray:
    """Embed images (N, H, W, C) (memory-mapped is fine) batch by batch into ``out`` (N, D)."""
    from tqdm import tqdm

    n = arr.shape[0]
    for start in tqdm(range(0, n, batch_size), desc="embed", disable=not progress, mininterval=5):
        block = to_unit_block(arr[start : start + batch_size])
        x = torch.from_numpy(np.ascontiguousarray(block.transpose(0, 3, 1, 2)))
        out[start : start + len(block)] = embedder(x).cpu().numpy()
        _release(arr)
        _release(out)
    return out


def _release(arr) -> None:
    from .neighbors import release  # lazy: neighbors imports this module

    release(arr)

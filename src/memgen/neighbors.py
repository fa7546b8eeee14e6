"""Exact k-nearest neighbours by streamed GEMM (docs/method.md §5.2; avoids the official code's defects §10.1, §10.5, §10.7).

Candidates come from float32 blocks of ||a||^2 + ||b||^2 - 2 a.b (fast, GPU when present); every query
keeps k + margin candidates, whose distances are then recomputed exactly in float64 as sum((a - b)^2) and
ranked by (distance, reference index). So rounding in the GEMM can only matter if more than `margin`
references sit within float32 error of the k-th neighbour; exact duplicates always get equal distances
and the lower index wins, as in a stable brute-force sort. Memory is bounded by the block sizes: inputs
are memory-mapped .npy files read block by block.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .device import resolve_device
from .embeddings import LpipsEmbedder, embed_array, to_unit_block
from .io import preallocate
from .sections import Section, section

log = logging.getLogger(__name__)
from memgen.metrics import METRICS  # noqa: E402  (re-exported)

BLOCK_BYTES = 256 * 2**20  # float32 bytes per streamed block of rows (query or reference)


@section("images.*.neighbors")
@dataclass(frozen=True)
class NeighborsConfig(Section):
    """The ``neighbors`` config section: distance, neighbours kept per sample, search device."""

    metric: str = "l2"  # l2 | lpips-alex | lpips-vgg | lpips-squeeze
    k: int = 5  # neighbours stored per sample (classification uses the first)
    batch_size: int = 256  # images per LPIPS embedding batch (memory only)
    device: str = "auto"  # auto | cpu | cuda
    impl_version: int = 1

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"neighbors.metric must be one of {list(METRICS)}, got {self.metric!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"neighbors.device must be auto, cpu or cuda, got {self.device!r}")
        if self.k < 1 or self.batch_size < 1:
            raise ValueError(
                f"neighbors.k and neighbors.batch_size must be >= 1, got {self.k}, {self.batch_size}"
            )


class Rows:
    """Row access to an (N, ...) array as flat float32 vectors, block by block (memory-mapped inputs)."""

    def __init__(self, arr: np.ndarray, n: int | None = None):
        self.arr = arr
        self.n = arr.shape[0] if n is None else n
        self.dim = int(np.prod(arr.shape[1:]))

    def block(self, start: int, stop: int) -> np.ndarray:
        out = to_unit_block(self.arr[start : min(stop, self.n)]).reshape(-1, self.dim)
        if np.may_share_memory(out, self.arr):
            out = out.copy()  # own memory: torch gets a writable array, the mapping can be released
        release(self.arr)
        return out

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (any order) as float64."""
        order = np.argsort(idx, kind="stable")
        out = np.empty((len(idx), self.dim), np.float64)
        out[order] = to_unit_block(self.arr[idx[order]]).reshape(len(idx), self.dim)
        release(self.arr)
        return out


def release(arr: np.ndarray) -> None:
    """Drop the resident pages of a memory-mapped array (data stay in the file / page cache).

    Pages touched through a mapping count towards the process RSS until unmapped, so one sweep over a
    10 GB embedding file would otherwise grow RSS to 10 GB.
    """
    mm = getattr(arr, "_mmap", None)
    if mm is not None and hasattr(mm, "madvise"):
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_DONTNEED)


def _rows_per_block(dim: int, cap: int) -> int:
    return int(max(1, min(cap, BLOCK_BYTES // (4 * max(dim, 1)))))


def knn(
    queries: Rows,
    reference: Rows,
    k: int,
    exclude_self: bool = False,
    device="cpu",
    query_block: int = 1024,
    ref_block: int = 4096,
    margin: int = 16,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k: (indices (Nq, k) int64, squared distances (Nq, k) float64), nearest first.

    exclude_self: queries and reference are the same set; query i never matches reference i.
    """
    from tqdm import tqdm

    nq, nr = queries.n, reference.n
    if queries.dim != reference.dim:
        raise ValueError(f"queries have dimension {queries.dim}, reference {reference.dim}")
    if exclude_self and nq != nr:
        raise ValueError(
            f"--exclude-self needs queries and reference to be one set; got {nq} vs {nr} rows"
        )
    avail = nr - (1 if exclude_self else 0)
    if k < 1 or k > avail:
        raise ValueError(
            f"k = {k} but only {avail} reference rows are available"
            + (" (the query itself is excluded)" if exclude_self else "")
        )
    device = torch.device(device)
    m = min(k + margin, avail)  # candidates kept per query
    bq = _rows_per_block(queries.dim, query_block)
    br = _rows_per_block(reference.dim, ref_block)
    out_i = np.empty((nq, k), np.int64)
    out_d = np.empty((nq, k), np.float64)
    bar = tqdm(
        total=-(-nq // bq) * -(-nr // br), desc="knn blocks", disable=not progress, mininterval=5
    )
    for q0 in range(0, nq, bq):
        qb = torch.from_numpy(queries.block(q0, q0 + bq)).to(device)
        q1 = q0 + len(qb)
        qn = qb.square().sum(1, dtype=torch.float64).float()
        cand_d = torch.empty((len(qb), 0), device=device)
        cand_i = torch.empty((len(qb), 0), dtype=torch.long, device=device)
        for r0 in range(0, nr, br):
            rb = torch.from_numpy(reference.block(r0, r0 + br)).to(device)
            r1 = r0 + len(rb)
            rn = rb.square().sum(1, dtype=torch.float64).float()
            d = qn[:, None] + rn[None, :] - 2.0 * (qb @ rb.T)
            if exclude_self:  # mask the diagonal by index identity (docs/method.md §10.7), not by dropping column 0
                lo, hi = max(q0, r0), min(q1, r1)
                if lo < hi:
                    diag = torch.arange(lo, hi, device=device)
                    d[diag - q0, diag - r0] = float("inf")
            # stable sorts keep lower indices first among equal values (earlier blocks come first)
            d_sorted, order = torch.sort(d, dim=1, stable=True)
            take = min(m, d.shape[1])
            cand_d = torch.cat([cand_d, d_sorted[:, :take]], 1)
            cand_i = torch.cat([cand_i, order[:, :take] + r0], 1)
            cand_d, order = torch.sort(cand_d, dim=1, stable=True)
            cand_d, cand_i = cand_d[:, :m], torch.gather(cand_i, 1, order)[:, :m]
            bar.update(1)
        idx, dist = _rerank(queries, reference, q0, cand_i.cpu().numpy(), k, exclude_self)
        out_i[q0:q1], out_d[q0:q1] = idx, dist
    bar.close()
    return out_i, out_d


def _rerank(queries: Rows, reference: Rows, q0: int, cand: np.ndarray, k: int, exclude_self: bool):
    """Exact float64 distances of the candidates, ranked by (distance, index)."""
    idx = np.empty((len(cand), k), np.int64)
    dist = np.empty((len(cand), k), np.float64)
    step = max(1, (64 * 2**20) // (8 * reference.dim * cand.shape[1]))  # bounded float64 scratch
    for s in range(0, len(cand), step):
        c = cand[s : s + step]
        q = queries.take(np.arange(q0 + s, q0 + s + len(c)))
        uniq, inv = np.unique(c, return_inverse=True)
        r = reference.take(uniq)
        d = np.stack([((r[inv[i]] - q[i]) ** 2).sum(1) for i in range(len(c))])
        if exclude_self:
            d[c == np.arange(q0 + s, q0 + s + len(c))[:, None]] = np.inf
        order = np.lexsort((c, d), axis=1)[:, :k]
        idx[s : s + len(c)] = np.take_along_axis(c, order, 1)
        dist[s : s + len(c)] = np.take_along_axis(d, order, 1)
    return idx, dist


def to_frame(idx: np.ndarray, dist: np.ndarray, metric: str) -> pd.DataFrame:
    """Long table: query, rank (1 = nearest), ref_index, distance (LPIPS value, or L2 not squared)."""
    nq, k = idx.shape
    d = np.sqrt(np.maximum(dist, 0.0)) if metric == "l2" else dist
    return pd.DataFrame(
        {
            "query": np.repeat(np.arange(nq, dtype=np.int64), k),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), nq),
            "ref_index": idx.ravel(),
            "distance": d.ravel(),
        }
    )


def open_array(path: str | os.PathLike, what: str, chunk: int = 4096) -> np.ndarray:
    """Memory-map a .npy of images (N, H, W, C) or vectors (N, D), checked, in its stored dtype
    (distances are computed on the stored values); vectors may be any finite numbers."""
    from memgen.data import load_image_array

    return load_image_array(path, chunk, what=what, as_stored=True, vector_range=False)


def check_pair(ref: np.ndarray, qry: np.ndarray, metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}'; choose one of {', '.join(METRICS)}")
    if ref.shape[1:] != qry.shape[1:] or ref.dtype != qry.dtype:
        raise ValueError(
            f"reference {ref.shape[1:]} {ref.dtype} and queries {qry.shape[1:]} {qry.dtype} differ in "
            "shape or dtype; both must be the same kind of array"
        )
    if metric != "l2" and (ref.ndim != 4 or ref.shape[3] not in (1, 3)):
        raise ValueError(f"{metric} needs images (N, H, W, C) with C = 1 or 3, got {ref.shape}")


def search(
    reference: np.ndarray,
    queries: np.ndarray | None,
    metric: str,
    k: int,
    exclude_self: bool = False,
    reference_limit: int | None = None,
    device: str = NeighborsConfig.device,
    batch_size: int = NeighborsConfig.batch_size,
    pretrained_backbone: bool = True,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Nearest neighbours of ``queries`` among ``reference`` (queries=None: the reference itself).

    Returns the long table and facts for provenance. LPIPS embeddings go to a temporary memory-mapped
    .npy (TMPDIR), so a set larger than RAM works.
    """
    same = queries is None
    queries = reference if same else queries
    check_pair(reference, queries, metric)
    n_ref = reference.shape[0] if reference_limit is None else reference_limit
    if n_ref < 1 or n_ref > reference.shape[0]:
        raise ValueError(
            f"reference limit {n_ref} outside 1..{reference.shape[0]} (rows in the reference)"
        )
    if same and reference_limit is not None:
        queries = reference[:n_ref]
    dev = resolve_device(device, "neighbors device")
    facts = {
        "metric": metric,
        "k": k,
        "n_queries": int(queries.shape[0]),
        "n_reference": int(n_ref),
        "exclude_self": exclude_self,
        "device": str(dev),
    }
    with contextlib.ExitStack() as stack:
        if metric == "l2":
            q_rows, r_rows = Rows(queries), Rows(reference, n_ref)
        else:
            from .perceptual import load_lpips

            embedder = LpipsEmbedder(load_lpips(metric.split("-", 1)[1], pretrained_backbone, dev))
            _, h, w, c = reference.shape
            dim = embedder.dim(h, w, c)
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="memgen-nn-"))
            r_emb = np.lib.format.open_memmap(f"{tmp}/ref.npy", "w+", np.float32, (n_ref, dim))
            preallocate(f"{tmp}/ref.npy")  # $TMPDIR full: a clear error, not SIGBUS
            embed_array(reference[:n_ref], embedder, r_emb, batch_size, progress)
            if same:
                q_emb = r_emb
            else:
                q_emb = np.lib.format.open_memmap(
                    f"{tmp}/qry.npy", "w+", np.float32, (len(queries), dim)
                )
                preallocate(f"{tmp}/qry.npy")
                embed_array(queries, embedder, q_emb, batch_size, progress)
            q_rows, r_rows = Rows(q_emb), Rows(r_emb)
            facts["embedding_dim"] = dim
        idx, dist = knn(q_rows, r_rows, k, exclude_self, dev, progress=progress)
    return to_frame(idx, dist, metric), facts

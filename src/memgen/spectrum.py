"""Top singular values of a Jacobian that is never formed: matrix-free solvers on products J v, J^T u.

For a latent of d = 4 x 64 x 64 = 16 384 dimensions the dense Jacobian of a Stable Diffusion UNet would
need d network backward passes and 1 GB per point; its top k singular values need only a few hundred
products with J and J^T, which automatic differentiation gives without the matrix:
  J v   = forward-mode derivative (``torch.func.jvp``) of the map along v,
  J^T u = reverse-mode derivative (``torch.func.vjp``) with cotangent u.

Two solvers on the same :class:`JacobianOperator`:
- ``lanczos``: ARPACK's implicitly restarted Lanczos (``scipy.sparse.linalg.svds``) on a
  ``LinearOperator``; converges to machine precision, one product at a time.
- ``randomized``: randomized subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4): products with
  blocks of k + oversample vectors, which a GPU evaluates as one batch; accuracy set by the number of
  power iterations (a gap in the spectrum makes it converge quickly).
scipy has no block randomized SVD on an operator (sklearn's needs the matrix), hence the few lines here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

SOLVERS = ("lanczos", "randomized")


class JacobianOperator:
    """J = d f / d x at the point ``x`` (1, d) of a map f: (B, d) -> (B, d) acting row-wise.

    ``jvp_fn``/``vjp_fn`` default to torch.func on ``f``; a caller may supply its own (e.g. to switch the
    attention kernel for forward mode). Products take and return (b, d) blocks: b tangents are evaluated as
    one batch of b copies of ``x`` (rows of f are independent, so row i of the result is J v_i).
    """

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 1,
                 jvp_fn=None, vjp_fn=None):  # fmt: skip
        if x.dim() != 2 or x.shape[0] != 1:
            raise ValueError(f"the point must be one flat row (1, d), got shape {tuple(x.shape)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.f, self.x, self.d, self.batch_size = f, x.detach(), int(x.shape[1]), int(batch_size)
        self._jvp = jvp_fn or (lambda xs, vs: torch.func.jvp(f, (xs,), (vs,))[1])
        self._vjp = vjp_fn or (lambda xs, us: torch.func.vjp(f, xs)[1](us)[0])
        self.n_products = 0

    def _blocks(self, fn, vectors: torch.Tensor) -> torch.Tensor:
        out = []
        for s in range(0, vectors.shape[0], self.batch_size):
            v = vectors[s : s + self.batch_size].to(self.x.dtype)
            xs = self.x.expand(v.shape[0], -1).clone()  # own memory: autograd writes into it
            out.append(fn(xs, v).detach())
            self.n_products += v.shape[0]
        return torch.cat(out)

    def matmat(self, v: torch.Tensor) -> torch.Tensor:
        """J v_i for the rows v_i of v (b, d)."""
        return self._blocks(self._jvp, v)

    def rmatmat(self, u: torch.Tensor) -> torch.Tensor:
        """J^T u_i for the rows u_i of u (b, d)."""
        return self._blocks(self._vjp, u)


def lanczos_topk(op: JacobianOperator, k: int, tol: float = 0.0, seed: int = 0) -> np.ndarray:
    """Top-k singular values (descending) by ARPACK on J^T J (scipy svds, LinearOperator)."""
    from scipy.sparse.linalg import LinearOperator, svds

    _check_k(k, op.d, "lanczos")
    dev = op.x.device

    def to_t(v):
        return torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(1, -1), device=dev)

    def matvec(v):
        return op.matmat(to_t(v)).double().cpu().numpy().ravel()

    def rmatvec(v):
        return op.rmatmat(to_t(v)).double().cpu().numpy().ravel()

    lin = LinearOperator((op.d, op.d), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
    rng = np.random.default_rng(seed)
    vals = svds(lin, k=k, tol=tol, return_singular_vectors=False, v0=rng.standard_normal(op.d))
    return np.sort(vals)[::-1]


def randomized_topk(op: JacobianOperator, k: int, oversample: int = 16, power_iterations: int = 4,
                    seed: int = 0) -> np.ndarray:  # fmt: skip
    """Top-k singular values (descending) by randomized subspace iteration on blocks of k + p vectors."""
    _check_k(k, op.d, "randomized")
    m = min(op.d, k + max(0, int(oversample)))
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    omega = torch.randn((m, op.d), generator=gen, dtype=torch.float64).to(op.x.device)
    # Rows are vectors: Y = (J Omega)^T; orthonormalise in float64 (QR of the d x m block).
    q = _orth(op.matmat(omega))
    for _ in range(int(power_iterations)):
        q = _orth(op.rmatmat(q))
        q = _orth(op.matmat(q))
    b = op.rmatmat(q).double()  # rows: J^T q_i, i.e. B^T with B = Q^T J (m x d)
    return torch.linalg.svdvals(b).cpu().numpy()[:k]


def _orth(rows: torch.Tensor) -> torch.Tensor:
    q, _ = torch.linalg.qr(rows.double().T)
    return q.T.contiguous()


def _check_k(k: int, d: int, solver: str) -> None:
    if not 0 < k < d:
        raise ValueError(
            f"top_k must be in [1, d - 1] = [1, {d - 1}] for the {solver} solver, got {k}; "
            "lower top_k (the dense SVD is affordable only for small d)"
        )


def topk_singular_values(op: JacobianOperator, k: int, solver: str = "lanczos", **kw) -> np.ndarray:
    """Dispatch to :func:`lanczos_topk` or :func:`randomized_topk` (``kw``: that solver's options)."""
    if solver == "lanczos":
        return lanczos_topk(op, k, tol=kw.get("tol", 0.0), seed=kw.get("seed", 0))
    if solver == "randomized":
        return randomized_topk(op, k, kw.get("oversample", 16), kw.get("power_iterations", 4),
                               kw.get("seed", 0))  # fmt: skip
    raise ValueError(f"unknown spectrum solver {solver!r}; choose one of {', '.join(SOLVERS)}")

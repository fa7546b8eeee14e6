"""Curvature of the learned energy: singular values of the score Jacobian (docs/method.md §7, App D).

Three estimators, all on the score s(x, t) = -eps(x, t) / sqrt(1 - abar_t) of an EpsModel:
- ``score_matrix_spectrum`` (Alg 2, paper default): M forward-process perturbations of x0 at index t,
  rows s_i stacked into S (M x d); singular values of S / (sqrt(M) sigma_t) ~ singular values of J.
  M = min(m_factor * d, m_max): the paper's M = d for 28x28 and 32x32 images and M = 4096 for 64x64.
  Tolerance: with M = m_factor * d the Marchenko-Pastur spread of the noise matrix puts a block of equal
  singular values anywhere in [1 - sqrt(d/M), 1 + sqrt(d/M)] times its value (M = d: ~0 to 2x; M = 4d: +-50 %),
  plus one extra component from the constant row s(x0) unless ``center`` removes the mean row.
- ``jacobian_spectra`` (Alg 3, exact): J = ds/dx at sqrt(abar_t) x0 for a batch of points by reverse mode
  (torch.func.jacrev of the batch-summed score: points are independent, so one forward and d vmapped VJPs give
  every point's Jacobian); singular values in fp64.
- ``lanczos_topk``: top-k singular values via scipy.sparse.linalg.svds on a LinearOperator whose products are
  torch.func.jvp / vjp, for dimensions where a d x d Jacobian does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from memgen.per_class import TableSpec, per_class_table
from memgen.schedules import DDPMSchedule
from memgen.sections import Section, section


def sigma_t(schedule: DDPMSchedule, t: int) -> float:
    return float(schedule.sigmas[t])


def score_fn(model, t: int, schedule: DDPMSchedule, shape: tuple[int, ...]):
    """s(X) for flat points X (B, d) -> (B, d) at fixed index t."""
    sig = sigma_t(schedule, t)

    def f(xf: torch.Tensor) -> torch.Tensor:
        x = xf.reshape(xf.shape[0], *shape)
        tt = torch.full((xf.shape[0],), t, dtype=torch.long, device=xf.device)
        return (-model(x, tt) / sig).reshape(xf.shape[0], -1)

    return f


def _svdvals(mat: torch.Tensor) -> torch.Tensor:
    # fp64 where affordable (docs/method.md §7: d <= 3072) so tiny singular values are not lost to rounding.
    dtype = torch.float64 if mat.shape[-1] <= 3072 else torch.float32
    return torch.linalg.svdvals(mat.to(dtype))


@torch.no_grad()
def score_matrix_spectrum(
    model,
    x0: torch.Tensor,
    t: int,
    schedule: DDPMSchedule,
    m: int,
    generator: torch.Generator | None = None,
    center: bool = False,
    batch_size: int = 256,
) -> np.ndarray:
    """Alg 2 at one point x0 (C, H, W): singular values of S / (sqrt(M) sigma_t), descending."""
    shape = tuple(x0.shape)
    f = score_fn(model, t, schedule, shape)
    abar = float(schedule.alphas_cumprod[t])
    rows = []
    for start in range(0, m, batch_size):
        n = min(batch_size, m - start)
        noise = torch.randn((n, *shape), generator=generator, dtype=x0.dtype).to(x0.device)
        xt = abar**0.5 * x0[None] + (1 - abar) ** 0.5 * noise
        rows.append(f(xt.reshape(n, -1)).double())
    s = torch.cat(rows)
    if center:
        s = s - s.mean(0, keepdim=True)
    return (_svdvals(s) / (m**0.5 * sigma_t(schedule, t))).cpu().numpy()


def jacobian_batch(model, x0: torch.Tensor, t: int, schedule: DDPMSchedule) -> torch.Tensor:
    """Score Jacobians (B, d, d) at sqrt(abar_t) x0 for x0 (B, C, H, W), batched with torch.func."""
    b = x0.shape[0]
    f = score_fn(model, t, schedule, tuple(x0.shape[1:]))
    x = (float(schedule.alphas_cumprod[t]) ** 0.5 * x0).reshape(b, -1)
    jac = torch.func.jacrev(lambda z: f(z).sum(0))(
        x
    )  # (d_out, B, d_in): rows of every point at once
    return jac.permute(1, 0, 2)


def jacobian_batch_loop(model, x0: torch.Tensor, t: int, schedule: DDPMSchedule) -> torch.Tensor:
    """Same as jacobian_batch with a Python loop over the d rows (benchmark baseline only)."""
    b = x0.shape[0]
    f = score_fn(model, t, schedule, tuple(x0.shape[1:]))
    x = (float(schedule.alphas_cumprod[t]) ** 0.5 * x0).reshape(b, -1).detach().requires_grad_(True)
    out = f(x)
    rows = [
        torch.autograd.grad(out[:, i].sum(), x, retain_graph=True)[0] for i in range(out.shape[1])
    ]
    return torch.stack(rows, dim=1)


def jacobian_spectra(
    model, x0: torch.Tensor, t: int, schedule: DDPMSchedule, batch_size: int = 16
) -> np.ndarray:
    """Alg 3: singular values (B, d) of the exact score Jacobian, descending, in batches of points."""
    out = []
    for start in range(0, x0.shape[0], batch_size):
        jac = jacobian_batch(model, x0[start : start + batch_size], t, schedule).detach()
        out.append(_svdvals(jac).cpu().numpy())
    return np.concatenate(out)


def lanczos_topk(model, x0: torch.Tensor, t: int, schedule: DDPMSchedule, k: int) -> np.ndarray:
    """Top-k singular values (descending) of J at one point (C, H, W) by Lanczos (ARPACK) on jvp/vjp."""
    from scipy.sparse.linalg import LinearOperator, svds

    f = score_fn(model, t, schedule, tuple(x0.shape))
    x = (float(schedule.alphas_cumprod[t]) ** 0.5 * x0).reshape(1, -1)
    d = x.shape[1]
    if not 0 < k < d:
        raise ValueError(f"lanczos top_k must be in [1, d-1] = [1, {d - 1}], got {k}")
    _, vjp_fn = torch.func.vjp(f, x)

    def as_t(v):
        return torch.as_tensor(np.asarray(v).reshape(1, -1), dtype=x.dtype, device=x.device)

    def matvec(v):
        return torch.func.jvp(f, (x,), (as_t(v),))[1].detach().double().cpu().numpy().ravel()

    def rmatvec(v):
        return vjp_fn(as_t(v))[0].detach().double().cpu().numpy().ravel()

    op = LinearOperator((d, d), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
    vals = svds(op, k=k, return_singular_vectors=False, random_state=0)
    return np.sort(vals)[::-1]


METHODS = ("score_matrix", "jacobian", "lanczos")


@section("images.*.curvature")
@dataclass(frozen=True)
class CurvatureConfig(Section):
    """The ``curvature`` config section (defaults = the paper's: Alg 2 with M = d at t = 10)."""

    enabled: bool = True
    method: str = "score_matrix"  # score_matrix (Alg 2) | jacobian (Alg 3) | lanczos (top_k)
    t: int = 10
    m_factor: float = 1  # an int like the schema default (the same JSON in job fingerprints)
    m_max: int | None = 4096
    center: bool = False
    drop_top: int = 5  # figure: leading singular values not plotted
    figure_ks: str | list[int] = "auto"  # figure: K values of the fixed-K class panels
    top_k: int = 256
    max_points: int = 512
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"
    impl_version: int = 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"curvature.method must be score_matrix, jacobian or lanczos, got {self.method!r}"
            )
        if isinstance(self.figure_ks, str) and self.figure_ks != "auto":
            raise ValueError(
                f"curvature.figure_ks must be 'auto' or a list of K, got {self.figure_ks!r}"
            )


def perturbation_count(cfg: CurvatureConfig, d: int) -> int:
    """Alg 2's M for dimension d: round(m_factor * d), capped at m_max (paper: d, or 4096 for 64x64)."""
    m = max(1, int(round(float(cfg.m_factor) * d)))
    return m if cfg.m_max is None else min(m, int(cfg.m_max))


def point_spectra(
    model, x0: torch.Tensor, cfg: CurvatureConfig, schedule: DDPMSchedule, generator
) -> np.ndarray:
    """(n, r) singular values of the n points x0 (n, C, H, W) by the configured method."""
    t, method = int(cfg.t), cfg.method
    if method == "jacobian":
        return jacobian_spectra(model, x0, t, schedule, batch_size=int(cfg.batch_size))
    d = int(np.prod(x0.shape[1:]))
    if method == "lanczos":
        return np.stack(
            [lanczos_topk(model, x, t, schedule, min(int(cfg.top_k), d - 1)) for x in x0]
        )
    m = perturbation_count(cfg, d)
    return np.stack(
        [
            score_matrix_spectrum(
                model,
                x,
                t,
                schedule,
                m,
                generator,
                bool(cfg.center),
                batch_size=max(64, int(cfg.batch_size) * 16),
            )
            for x in x0
        ]
    )


CURVATURE = TableSpec(
    "curvature",
    constants=(
        pa.field("method", pa.string()),
        pa.field("t", pa.int64()),
        pa.field("sigma_t", pa.float64()),
        # Perturbations per point (Alg 2 only; 0 otherwise): spectra compare only at equal (M, t).
        pa.field("m", pa.int64()),
    ),
    per_point=(
        pa.field("point", pa.int64()),
        pa.field("rank", pa.int64()),
        pa.field("singular_value", pa.float64()),
    ),
)


def curvature_table(
    model,
    pool_k: np.ndarray,
    samples: np.ndarray,
    classes,
    k: int,
    experiment: str,
    acfg,
    cfg: CurvatureConfig,
    schedule: DDPMSchedule | None = None,
    device: str | torch.device = "cpu",
):
    """Long table (class, point, rank, singular_value, ...) of the selected points of one (E, K)
    (schema ``CURVATURE``)."""
    import pandas as pd

    from memgen.data import to_nchw
    from memgen.selection import gather_images

    schedule = schedule or DDPMSchedule()
    gen = torch.Generator().manual_seed(int(cfg.seed))

    def point_rows(sel) -> pd.DataFrame:
        x0 = torch.as_tensor(to_nchw(gather_images(sel, pool_k, samples))).float().to(device)
        sv = point_spectra(model, x0, cfg, schedule, gen)
        n, r = sv.shape
        return pd.DataFrame(
            {
                "point": np.repeat(sel.index, r),
                "rank": np.tile(np.arange(r), n),
                "singular_value": sv.ravel(),
            }
        )

    d = int(np.prod(pool_k.shape[1:]))
    constants = {
        "experiment": experiment,
        "method": cfg.method,
        "t": int(cfg.t),
        "sigma_t": sigma_t(schedule, int(cfg.t)),
        "m": perturbation_count(cfg, d) if cfg.method == "score_matrix" else 0,
    }
    return per_class_table(CURVATURE, classes, k, acfg, int(cfg.max_points), constants, point_rows)

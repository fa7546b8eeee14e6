"""Matrix-free top-k singular values (memgen.spectrum) against the dense SVD of the same Jacobian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memgen.spectrum import JacobianOperator, lanczos_topk, randomized_topk, topk_singular_values


def _mlp_score(d=48, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(d, 64), torch.nn.Tanh(), torch.nn.Linear(64, d))
    net.requires_grad_(False)
    return net, torch.randn(1, d)


def _dense(f, x):
    return torch.func.jacrev(lambda z: f(z)[0])(x)[:, 0, :]


def test_lanczos_and_randomized_match_the_dense_svd():
    f, x = _mlp_score()
    want = torch.linalg.svdvals(_dense(f, x).double()).numpy()[:8]
    op = JacobianOperator(f, x, batch_size=7)
    np.testing.assert_allclose(lanczos_topk(op, 8), want, rtol=1e-4)
    np.testing.assert_allclose(randomized_topk(op, 8, oversample=24, power_iterations=8), want, rtol=1e-4)
    assert op.n_products > 0


def test_exact_empirical_score_jacobian():
    """The score of the exact empirical model near a training point: Lanczos agrees with the dense SVD."""
    from memgen.curvature import score_fn
    from memgen.models.empirical import EmpiricalEpsModel
    from memgen.schedules import DDPMSchedule

    sched = DDPMSchedule()
    train = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    f = score_fn(EmpiricalEpsModel(train), 50, sched, (1, 4, 4))
    x = (float(sched.alphas_cumprod[50]) ** 0.5 * (train[0] + 0.05)).reshape(1, -1).double()
    g = lambda z: f(z.float()).double()  # noqa: E731
    want = torch.linalg.svdvals(_dense(g, x)).numpy()[:4]
    got = topk_singular_values(JacobianOperator(g, x), 4, "lanczos")
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_bad_arguments_are_named():
    f, x = _mlp_score(d=8)
    with pytest.raises(ValueError, match="top_k must be in"):
        lanczos_topk(JacobianOperator(f, x), 8)
    with pytest.raises(ValueError, match="unknown spectrum solver"):
        topk_singular_values(JacobianOperator(f, x), 2, "power")
    with pytest.raises(ValueError, match="one flat row"):
        JacobianOperator(f, torch.zeros(2, 8))

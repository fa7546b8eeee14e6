"""The training loops' lean optimizer steps are bitwise torch.optim's, and so is the digits loop."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from memgen.models import build_model
from memgen.optim import FusedAdamStep, clip_grad_norm_
from memgen.schedules import DDPMSchedule
from memgen.train import EMA, TrainConfig, train_model
from memgen.training import BatchOrder, seed_everything

torch.set_num_threads(1)


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.LayerNorm(16), nn.SiLU(), nn.Linear(16, 3))


def _set_grads(net: nn.Module, step: int, scale: float = 1.0) -> None:
    g = torch.Generator().manual_seed(100 + step)
    for p in net.parameters():
        p.grad = torch.randn(p.shape, generator=g) * scale


def test_fused_adam_step_is_bitwise_torch_adam_including_after_resume():
    ref, fast = _net(), _net()
    kw = dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.01, fused=True)
    opt_ref = torch.optim.Adam(ref.parameters(), **kw)
    opt_fast = torch.optim.Adam(fast.parameters(), **kw)
    step = FusedAdamStep(opt_fast)
    for s in range(6):
        _set_grads(ref, s), _set_grads(fast, s)
        opt_ref.step()
        step.step()
        if s == 2:  # resume: a new optimizer loads the state dict (new state tensors)
            state = opt_fast.state_dict()
            opt_fast = torch.optim.Adam(fast.parameters(), **kw)
            opt_fast.load_state_dict(state)
            step = FusedAdamStep(opt_fast)
    for a, b in zip(ref.parameters(), fast.parameters()):
        assert torch.equal(a, b)
    sa, sb = opt_ref.state_dict()["state"], opt_fast.state_dict()["state"]
    for i in sa:
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(sa[i][key], sb[i][key]), (i, key)


def test_fused_adam_step_follows_the_lr_of_a_schedule_and_of_a_loaded_state():
    # Built before a resume (as the training loops do), then the optimizer's state is loaded and an
    # LR schedule rewrites the group's lr: every step must use the optimizer's current lr.
    ref, fast = _net(), _net()
    kw = dict(lr=1e-2, fused=True)
    opt_ref = torch.optim.Adam(ref.parameters(), **kw)
    decay = lambda s: 0.5**s  # noqa: E731
    sched_ref = torch.optim.lr_scheduler.LambdaLR(opt_ref, decay)
    for s in range(3):
        _set_grads(ref, s)
        opt_ref.step()
        sched_ref.step()
    fast.load_state_dict(ref.state_dict())  # resume after three steps: model, optimizer, schedule
    resumed = torch.optim.Adam(fast.parameters(), **kw)
    sched_fast = torch.optim.lr_scheduler.LambdaLR(resumed, decay)
    step = FusedAdamStep(resumed)  # before the load, like the loops
    resumed.load_state_dict(copy.deepcopy(opt_ref.state_dict()))  # as from a file: no shared tensors
    sched_fast.load_state_dict(sched_ref.state_dict())
    assert resumed.param_groups[0]["lr"] == opt_ref.param_groups[0]["lr"] == 1e-2 * 0.5**3
    for s in range(3, 6):
        _set_grads(ref, s), _set_grads(fast, s)
        opt_ref.step()
        sched_ref.step()
        step.step()
        sched_fast.step()
    for a, b in zip(ref.parameters(), fast.parameters()):
        assert torch.equal(a, b)


def test_fused_adam_step_rejects_what_it_does_not_implement():
    net = _net()
    with pytest.raises(ValueError, match="fused=True"):
        FusedAdamStep(torch.optim.Adam(net.parameters(), lr=1e-3))
    with pytest.raises(ValueError, match="amsgrad"):
        FusedAdamStep(torch.optim.Adam(net.parameters(), lr=1e-3, fused=True, amsgrad=True))


@pytest.mark.parametrize("scale", [1e-3, 10.0])  # below and above the clipping norm
def test_clip_grad_norm_is_bitwise_torch(scale):
    ref, fast = _net(), _net()
    _set_grads(ref, 0, scale), _set_grads(fast, 0, scale)
    n_ref = nn.utils.clip_grad_norm_(list(ref.parameters()), 1.0, foreach=True)
    n_fast = clip_grad_norm_([p.grad for p in fast.parameters()], 1.0)
    assert torch.equal(n_ref, n_fast)
    for a, b in zip(ref.parameters(), fast.parameters()):
        assert torch.equal(a.grad, b.grad)
    if scale > 1:
        total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in fast.parameters()]))
        assert abs(float(total) - 1.0) < 1e-5


def _plain_loop(data: torch.Tensor, model_cfg: dict, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The digits training loop written with plain torch.optim calls (the previous implementation)."""
    seed_everything(cfg.seed)
    net = build_model(model_cfg, tuple(data.shape[1:]))
    ema = EMA(net, cfg.ema_decay, cfg.ema_warmup)
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2),
                           eps=cfg.adam_eps, weight_decay=0.0, fused=True)  # fmt: skip
    mode = "epoch" if cfg.batching == "epochs" else cfg.batching
    order = BatchOrder(len(data), cfg.batch_size, mode, cfg.seed + 1, drop_last=True)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    abar = DDPMSchedule().alphas_cumprod
    net.train()
    for step in range(cfg.iterations):
        x0 = data[order.next()]
        t = torch.randint(0, 1000, (x0.shape[0],), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        a = abar[t].view(-1, 1, 1, 1)
        loss = torch.mean((noise - net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t)) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, cfg.grad_clip, foreach=True)
        opt.step()
        ema.update(params, step)
    return ema.model.state_dict()


@pytest.mark.parametrize("batching", ["replacement", "epochs"])
def test_train_model_weights_are_bitwise_the_plain_torch_loop(tmp_path, batching):
    data = torch.as_tensor(
        np.random.default_rng(0).uniform(-1, 1, (12, 1, 4, 4)), dtype=torch.float32
    )
    model_cfg = {"kind": "mlp", "width": 32, "blocks": 2}
    cfg = TrainConfig(iterations=60, batch_size=8, lr=2e-3, ema_decay=0.99, ema_warmup=True,
                      batching=batching, grad_clip=0.5, checkpoint_every=25, log_every=10,
                      device="cpu", seed=5)  # fmt: skip
    ref = _plain_loop(data, model_cfg, cfg)
    train_model(data, model_cfg, cfg, tmp_path / "m", tmp_path / "log.parquet", tmp_path / "s",
                progress=False)  # fmt: skip
    got = load_file(tmp_path / "m" / "diffusion_pytorch_model.safetensors")
    assert got.keys() == ref.keys()
    for key, value in got.items():
        assert torch.equal(value, ref[key]), key


@pytest.mark.parametrize("impl_version", [1, 2])  # 1: single-tensor Adam, 2: fused Adam
@pytest.mark.filterwarnings("error::UserWarning")  # e.g. torch's LR-scheduler call-order check
def test_circle_train_weights_are_bitwise_the_plain_torch_loop(impl_version):
    """The circle loop (VE process, shared batch order) against its earlier plain-torch form."""
    import math

    from memgen.circle.model import CircleModelConfig
    from memgen.circle.model import build_model as build_circle
    from memgen.circle.train import CircleTrainConfig, _lr_lambda, train

    points = np.array([[1.0, 0.0], [0.0, 1.0], [-0.6, -0.8]])
    mcfg = CircleModelConfig(width=32, encoder_blocks=1, decoder_blocks=1, fourier_features=8)
    for batching, t_sampling in (("replacement", "log_uniform"), ("epoch", "uniform")):
        cfg = CircleTrainConfig(iterations=40, lr=1e-3, batch_size=2, batch_sampling=batching,
                                t_sampling=t_sampling, lr_schedule="cosine", log_every=10,
                                device="cpu", impl_version=impl_version)  # fmt: skip
        net = build_circle(mcfg, cfg.seed)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=impl_version == 2)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
        gen = torch.Generator().manual_seed(cfg.seed)
        x_all = torch.tensor(points, dtype=torch.float32)
        order, pos = torch.empty(0, dtype=torch.long), 0
        for _ in range(cfg.iterations):
            if batching == "replacement":
                idx = torch.randint(len(points), (cfg.batch_size,), generator=gen)
            else:  # shuffled epochs keeping the short last batch (3 points: 2, 1, 2, 1, ...)
                if pos >= len(order):
                    order, pos = torch.randperm(len(points), generator=gen), 0
                idx = order[pos : pos + cfg.batch_size]
                pos += len(idx)
            u = torch.rand(len(idx), generator=gen)
            if t_sampling == "uniform":
                t = cfg.t_eps + (1.0 - cfg.t_eps) * u
            else:
                t = torch.exp(math.log(cfg.t_eps) * (1.0 - u))
            z = torch.randn((len(idx), 2), generator=gen)
            st = torch.sqrt(t)[:, None]
            loss = ((net(x_all[idx] + st * z, t) * st + z) ** 2).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        got, _ = train(points, mcfg, cfg, progress=False)
        for (key, a), b in zip(net.state_dict().items(), got.state_dict().values()):
            assert torch.equal(a, b), (batching, key)

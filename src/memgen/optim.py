"""Per-step optimizer work of the training loops, without torch.optim's per-call bookkeeping.

On the small CPU networks of the demos a training step is a few milliseconds, and
``Optimizer.step`` / ``clip_grad_norm_`` spend a large part of theirs in Python (hooks, profiler
labels, per-parameter state checks, grouping tensors by device on every call). The functions here
issue exactly the same tensor operations in the same order, so the weights are bitwise those of the
torch.optim calls they replace (tests/test_optim.py checks this against torch itself), and the
optimizer object keeps owning its state (its ``state_dict`` is unchanged, so checkpoints are too).
"""

from __future__ import annotations

import torch


def clip_grad_norm_(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)`` for same-device grads.

    ``grads``: the existing gradients (``p.grad`` of the parameters that have one, as torch skips
    the others), all on one device and of one dtype.

    Returns the total (unclipped) L2 norm, like torch. The scale is min(max_norm / (norm + 1e-6), 1).
    """
    norms = torch._foreach_norm(grads, 2.0)
    total = torch.linalg.vector_norm(torch.stack(norms), 2.0)
    torch._foreach_mul_(grads, torch.clamp(float(max_norm) / (total + 1e-6), max=1.0))
    return total


class FusedAdamStep:
    """``opt.step()`` of a fused ``torch.optim.Adam`` with one parameter group, minus its overhead.

    The first call (and any call while a gradient is missing) goes through ``opt.step()`` itself,
    which creates the state; later calls run the same two kernels ``Adam(fused=True)`` runs
    (increment the step counters, one fused update of all tensors) on the optimizer's own state
    tensors. State and hyper-parameters (the group's ``lr``, which an LR schedule rewrites) are
    looked up afresh each call: ``opt.load_state_dict`` replaces the group dicts, so a copy kept
    from construction would go stale after a resume.
    """

    def __init__(self, opt: torch.optim.Adam):
        if not isinstance(opt, torch.optim.Adam) or len(opt.param_groups) != 1:
            raise ValueError("FusedAdamStep needs a torch.optim.Adam with one parameter group")
        group = opt.param_groups[0]
        if not group["fused"] or group["amsgrad"] or group["maximize"] or group["capturable"]:
            raise ValueError(
                "FusedAdamStep supports Adam(fused=True) without amsgrad/maximize/capturable"
            )
        if group["decoupled_weight_decay"] or group["differentiable"]:
            raise ValueError(
                "FusedAdamStep supports plain Adam (no decoupled or differentiable mode)"
            )
        self.opt, self.params = opt, list(group["params"])
        # torch's fused kernel takes one device and dtype per call (torch groups them otherwise).
        self.direct = len({(p.device, p.dtype) for p in self.params}) == 1

    @torch.no_grad()
    def step(self) -> None:
        params, state, g = self.params, self.opt.state, self.opt.param_groups[0]
        grads = [p.grad for p in params]
        if not self.direct or any(x is None for x in grads) or any(p not in state for p in params):
            self.opt.step()
            return
        states = [state[p] for p in params]
        steps = [s["step"] for s in states]
        beta1, beta2 = g["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [],
            steps, amsgrad=False, lr=g["lr"], beta1=float(beta1), beta2=float(beta2),
            weight_decay=g["weight_decay"], eps=g["eps"], maximize=False, grad_scale=None,
            found_inf=None,
        )  # fmt: skip

"""Circle score networks (docs/method.md §3.2)."""

import pytest
import torch

from memgen.circle.model import CircleModelConfig, build_model

torch.set_num_threads(1)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def test_paper_arch_size_and_sqrt_t_scaling():
    net = build_model(CircleModelConfig(), seed=0)
    w = 256
    expected = (2 + 128) * w + w + 8 * 2 * (w * w + w) + w * 2 + 2
    assert n_params(net) == expected  # ≈ 1.09 M
    x = torch.randn(5, 2)
    t = torch.full((5,), 0.25)
    out = net(x, t)
    assert out.shape == (5, 2)
    # h_θ(x, t) / sqrt(t): undo the division through the module's own pieces
    h = net.out(net.decoder(net.encoder(net.inp(torch.cat([x, net.embed(t)], -1)))))
    torch.testing.assert_close(out, h / 0.5)


def test_official_arch_matches_code_layer_sizes():
    net = build_model(CircleModelConfig(arch="official"), seed=0)
    h = 128
    expected = 2 * (h * h + h) + (h + 2) * h + h + 3 * (h * h + h) + h * 2 + 2
    assert n_params(net) == expected


def test_init_is_seeded():
    a = build_model(CircleModelConfig(width=16, encoder_blocks=1, decoder_blocks=1), seed=3)
    b = build_model(CircleModelConfig(width=16, encoder_blocks=1, decoder_blocks=1), seed=3)
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), ka


def test_bad_arch_raises():
    with pytest.raises(ValueError, match="arch"):
        CircleModelConfig(arch="unet")

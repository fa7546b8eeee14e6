"""Model presets (Table 3 parameter counts), the residual MLP and model-directory loading."""

from __future__ import annotations

import pytest
import torch

from memgen.models import build_model, load_eps_model
from memgen.models.unet import PRESET_SHAPES, PRESETS, build_unet, preset_kwargs

torch.set_num_threads(1)

# Table 3 (paper, docs/method.md §4.3) and the recount of the official code's layer list (docs/method.md §12).
RECOUNTED = {
    "mnist": 24_515_585, "fmnist": 24_515_585,
    "cifar10_64": 8_952_067, "cifar10_96": 20_118_915, "cifar10_128": 35_746_307,
    "church_64": 27_460_355, "church_96": 61_745_283, "church_128": 109_733_379,
}  # fmt: skip


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_parameter_count_matches_table3(preset):
    with torch.device("meta"):  # no memory, no init time
        net = build_unet(preset_kwargs(preset))
    n = sum(p.numel() for p in net.parameters())
    assert abs(n / PRESETS[preset]["paper_params"] - 1) < 0.01
    assert n == RECOUNTED[preset]


def test_attention_placement_follows_resolution_16():
    kw = preset_kwargs("cifar10_128")
    assert kw["down_block_types"] == (
        "DownBlock2D",
        "AttnDownBlock2D",
        "DownBlock2D",
        "DownBlock2D",
    )
    assert kw["up_block_types"] == ("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D")
    assert set(preset_kwargs("mnist")["down_block_types"]) == {"DownBlock2D"}  # mid-block only
    church = preset_kwargs("church_64")["down_block_types"]
    assert church.index("AttnDownBlock2D") == 2 and church.count("AttnDownBlock2D") == 1
    assert PRESET_SHAPES["church_64"] == (3, 64, 64)


def test_config_overrides_preset_and_unknown_kind_is_rejected():
    with torch.device("meta"):
        net = build_model({"kind": "unet", "preset": "cifar10_128", "nf": 64}, (3, 32, 32))
    assert sum(p.numel() for p in net.parameters()) == RECOUNTED["cifar10_64"]
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model({"kind": "transformer"}, (1, 8, 8))
    with pytest.raises(ValueError, match="unknown UNet preset"):
        build_model({"kind": "unet", "preset": "imagenet"}, (3, 32, 32))


def test_small_unet_forward_and_eps_interface(tmp_path):
    cfg = {
        "kind": "unet",
        "nf": 32,
        "ch_mult": [1, 2],
        "attn_resolutions": [8],
        "layers_per_block": 1,
    }
    net = build_model(cfg, (1, 16, 16))
    net.save_pretrained(tmp_path / "m")
    eps = load_eps_model(tmp_path / "m")
    x, t = torch.randn(3, 1, 16, 16), torch.tensor([0, 500, 999])
    with torch.no_grad():
        assert torch.equal(eps(x, t), net.eval()(x, t).sample)
    assert eps(x, 7).shape == x.shape  # a scalar t is broadcast over the batch


def test_mlp_roundtrip_identical_outputs_and_gradients_flow(tmp_path):
    net = build_model({"kind": "mlp", "width": 32, "blocks": 2}, (1, 8, 8))
    assert type(net).__name__ == "ResidualMLP"
    net.save_pretrained(tmp_path / "mlp")
    eps = load_eps_model(tmp_path / "mlp")
    x = torch.randn(5, 1, 8, 8, requires_grad=True)
    t = torch.randint(0, 1000, (5,))
    out = eps(x, t)
    assert torch.equal(out, net.eval()(x, t))
    out.sum().backward()  # analyses (curvature, energy) differentiate through the EpsModel
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert not any(p.requires_grad for p in eps.parameters())


def test_mlp_directory_layout_and_no_diffusers_import(tmp_path):
    """diffusers' layout (config.json + safetensors); loading an MLP never imports diffusers (~2.5 s/job)."""
    import json
    import subprocess
    import sys

    net = build_model({"kind": "mlp", "width": 16, "blocks": 1, "dropout": 0.1}, (3, 4, 4))
    net.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["_class_name"] == "ResidualMLP" and cfg["sample_shape"] == [3, 4, 4] and cfg["dropout"] == 0.1
    assert (tmp_path / "m" / "diffusion_pytorch_model.safetensors").is_file()
    code = (
        "import sys, torch; from memgen.models import load_eps_model; "
        f"m = load_eps_model({str(tmp_path / 'm')!r}); m(torch.zeros(1, 3, 4, 4), 3); "
        "print(m.net.config['width'], 'diffusers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["16", "False"]


def test_missing_or_incomplete_model_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="model directory not found"):
        load_eps_model(tmp_path / "nope")
    build_model({"kind": "mlp", "width": 16, "blocks": 1}, (1, 8, 8)).save_pretrained(
        tmp_path / "m"
    )
    (tmp_path / "m" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"incomplete model directory .*safetensors"):
        load_eps_model(tmp_path / "m")


@pytest.mark.parametrize(
    "preset, scale, channels",
    [("cifar10_64", 0.125, (8, 16, 16, 16)), ("church_96", 0.125, (12, 12, 24, 24, 48, 48)),
     ("mnist", 0.25, (32, 64, 64))],
)  # fmt: skip
def test_width_scale_narrows_channels_and_groups_only(preset, scale, channels):
    from memgen.models import model_kwargs

    full = model_kwargs({"kind": "unet", "preset": preset}, PRESET_SHAPES[preset])
    narrow = model_kwargs({"kind": "unet", "preset": preset, "width_scale": scale}, PRESET_SHAPES[preset])
    assert narrow["block_out_channels"] == channels and narrow["norm_num_groups"] == 32 * scale
    changed = {k for k in full if full[k] != narrow[k]}
    assert changed == {"block_out_channels", "norm_num_groups"}  # levels, attention, dropout kept
    with torch.device("meta"):
        build_unet(narrow)  # GroupNorm accepts the narrowed widths


def test_width_scale_rejects_fractional_widths():
    from memgen.models import model_kwargs

    with pytest.raises(ValueError, match="width_scale 0.1 gives non-integer widths"):
        model_kwargs({"kind": "unet", "preset": "cifar10_128", "width_scale": 0.1}, (3, 32, 32))

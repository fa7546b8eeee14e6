"""A user's diffusers checkpoint as memgen's epsilon-model and noise schedule, checked before any work.

Accepted layouts (local folders written by ``save_pretrained``, or a snapshot already in the Hugging Face
cache, looked up by repository id with ``local_files_only``: nothing is downloaded):
- a network folder: ``config.json`` (a ``UNet2DModel``, or memgen's ``ResidualMLP``) + weights
  (``diffusion_pytorch_model.safetensors`` or ``.bin``) + ``scheduler_config.json`` beside them
  (memgen's own model folders have this layout);
- a ``DDPMPipeline`` / ``DDIMPipeline`` folder: ``model_index.json``, ``unet/`` and ``scheduler/``.

The scheduler must be a discrete variance-preserving one (DDPM, DDIM and the solvers diffusers declares
compatible with them): its ``alphas_cumprod`` then defines the forward process x_t = sqrt(abar_t) x0 +
sqrt(1 - abar_t) eps that memgen's samplers, basins and curvature use. Models trained to predict
``sample`` (x0) or ``v_prediction`` are converted to the epsilon they imply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from memgen.models import WEIGHT_FILES
from memgen.noise import DDPMSchedule

# Discrete-VP schedulers (diffusers' DDPMScheduler.compatibles, without the continuous EDM ones).
VP_SCHEDULERS = (
    "DDPMScheduler", "DDIMScheduler", "PNDMScheduler", "DEISMultistepScheduler",
    "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler", "DPMSolverSDEScheduler",
    "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler",
    "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "LMSDiscreteScheduler",
    "UniPCMultistepScheduler",
)  # fmt: skip
PREDICTIONS = ("epsilon", "sample", "v_prediction")
NETWORK_CLASSES = ("UNet2DModel", "ResidualMLP")
PIPELINES = ("DDPMPipeline", "DDIMPipeline")
TRANSFORMERS_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


class CheckpointError(ValueError):
    """A checkpoint that memgen cannot use; the message names the problem and the fix."""


def resolve_local(ref: str | Path) -> Path:
    """A local folder for ``ref``: the folder itself, or a cached Hugging Face snapshot of repo id ``ref``."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"checkpoint {ref} is a file; give the folder written by save_pretrained")
    text = str(ref)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(text, local_files_only=True))
        except Exception:  # not in the cache (or no hub client): fall through to the message below
            pass
    raise FileNotFoundError(
        f"checkpoint folder not found: {ref} (give a local save_pretrained folder, or a repository id "
        "whose snapshot is already in the Hugging Face cache; nothing is downloaded)"
    )


def _has_weights(folder: Path, names=WEIGHT_FILES) -> bool:
    # sharded saves: <name>-00001-of-0000N.safetensors plus an index
    return any((folder / n).is_file() or (folder / f"{n}.index.json").is_file() for n in names)


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{what} {path} is not readable JSON ({err}); re-save the checkpoint") from err


def check_network_folder(folder: Path, what: str, classes=NETWORK_CLASSES, weights=WEIGHT_FILES) -> dict:
    """config.json (of one of ``classes``) and a weights file; returns the config."""
    missing = [n for n, ok in (("config.json", (folder / "config.json").is_file()),
                               (" or ".join(weights), _has_weights(folder, weights))) if not ok]  # fmt: skip
    if missing:
        raise CheckpointError(
            f"incomplete checkpoint: {what} folder {folder} lacks {', '.join(missing)} "
            "(an interrupted save? save the model again with save_pretrained)"
        )
    cfg = _read_json(folder / "config.json", f"{what} config")
    if classes and cfg.get("_class_name") not in classes:
        raise CheckpointError(
            f"{folder}/config.json is a {cfg.get('_class_name')!r}; memgen reads {' / '.join(classes)} here"
        )
    return cfg


def check_scheduler(folder: Path) -> dict:
    """The scheduler config of ``folder``; refuses schedulers that are not discrete-VP (DDPM/DDIM)."""
    path = Path(folder) / "scheduler_config.json"
    if not path.is_file():
        raise CheckpointError(
            f"incomplete checkpoint: no scheduler config {path}; save the scheduler the model was trained "
            "with beside it (e.g. DDPMScheduler(...).save_pretrained(folder))"
        )
    cfg = _read_json(path, "scheduler config")
    name = cfg.get("_class_name")
    if name not in VP_SCHEDULERS:
        raise CheckpointError(
            f"{path}: scheduler {name!r} is not DDPM/DDIM-compatible (memgen needs a discrete "
            f"variance-preserving schedule: {', '.join(VP_SCHEDULERS[:2])} or a solver diffusers declares "
            "compatible with them); save the model's DDPMScheduler config instead"
        )
    pred = cfg.get("prediction_type", "epsilon")
    if pred not in PREDICTIONS:
        raise CheckpointError(f"{path}: prediction_type {pred!r} is not one of {PREDICTIONS}")
    return cfg


def check_pipeline_folder(ref: str | Path, components: dict, pipeline: str | tuple) -> Path:
    """A pipeline folder whose model_index.json lists ``components`` (name -> allowed classes or None),
    each present with its files; returns the folder."""
    folder = resolve_local(ref)
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise CheckpointError(
            f"incomplete checkpoint: {folder} has no model_index.json (a {pipeline} folder written by "
            "save_pretrained has one)"
        )
    index = _read_json(index_path, "pipeline index")
    pipelines = (pipeline,) if isinstance(pipeline, str) else pipeline
    if index.get("_class_name") not in pipelines:
        raise CheckpointError(f"{index_path}: a {index.get('_class_name')!r}, expected {' or '.join(pipelines)}")
    for name, classes in components.items():
        entry = index.get(name)
        if not entry or entry[1] is None:
            raise CheckpointError(f"incomplete checkpoint: {index_path} lists no {name} component")
        if classes and entry[1] not in classes:
            raise CheckpointError(f"{index_path}: {name} is a {entry[1]!r}, expected {' or '.join(classes)}")
        sub = folder / name
        if not sub.is_dir():
            raise CheckpointError(f"incomplete checkpoint: {folder} lacks the {name}/ folder of model_index.json")
        if name == "tokenizer":
            if not ((sub / "tokenizer.json").is_file() or (sub / "vocab.json").is_file()):
                raise CheckpointError(f"incomplete checkpoint: {sub} has no tokenizer.json or vocab.json")
        elif name == "text_encoder":
            check_network_folder(sub, name, None, TRANSFORMERS_WEIGHTS)
        elif name != "scheduler":
            check_network_folder(sub, name, classes)
    return folder


@dataclass(frozen=True)
class TabulatedSchedule(DDPMSchedule):
    """A discrete-VP process given by its alpha_bar table (any beta rule diffusers' scheduler knows);
    everything else (perturbation, ancestral and DDIM steps) is memgen.noise.DDPMSchedule's."""

    table: torch.Tensor | None = field(default=None, compare=False)
    name: str = ""

    def __post_init__(self):
        if self.table is None or self.table.dim() != 1:
            raise ValueError("TabulatedSchedule needs a 1-D alpha_bar table")
        object.__setattr__(self, "num_steps", int(self.table.shape[0]))

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return self.table

    @property
    def betas(self) -> torch.Tensor:
        prev = torch.cat([self.table.new_ones(1), self.table[:-1]])
        return 1.0 - self.table / prev


def schedule_from_config(cfg: dict) -> TabulatedSchedule:
    """alpha_bar of a scheduler config, as diffusers' DDPMScheduler computes it (its own beta rules)."""
    from diffusers import DDPMScheduler

    keep = {k: v for k, v in cfg.items() if not k.startswith("_")}
    sched = DDPMScheduler.from_config(keep)
    return TabulatedSchedule(
        table=sched.alphas_cumprod.float().clone(), name=str(cfg.get("beta_schedule", ""))
    )


class PredictionToEps(torch.nn.Module):
    """eps(x, t) of a network that predicts epsilon, x0 ('sample') or v; first C channels if it also
    outputs a learned variance."""

    def __init__(self, net, prediction: str, schedule: TabulatedSchedule, channels: int):
        super().__init__()
        from memgen.models import EpsModel

        self.model = EpsModel(net)
        self.net = self.model.net
        self.prediction, self.channels = prediction, channels
        self.register_buffer("abar", schedule.alphas_cumprod.clone())

    def forward(self, x, t):
        out = self.model(x, t)[:, : self.channels]
        if self.prediction == "epsilon":
            return out
        t = torch.as_tensor(t, device=x.device).long().reshape(-1).expand(x.shape[0])
        a = self.abar.to(x.device, x.dtype)[t].view(-1, *([1] * (x.dim() - 1)))
        if self.prediction == "sample":
            return (x - a.sqrt() * out) / (1 - a).sqrt()
        return a.sqrt() * out + (1 - a).sqrt() * x  # v = sqrt(a) eps - sqrt(1 - a) x0


@dataclass
class Checkpoint:
    """What the audit needs from a checkpoint, all checked: network folder, shapes and schedule."""

    folder: Path  # the folder given
    net_folder: Path  # where config.json and the weights are
    net_config: dict
    scheduler_config: dict
    schedule: TabulatedSchedule
    layout: str  # "network" | "DDPMPipeline" | "DDIMPipeline"

    @property
    def channels(self) -> int:
        cfg = self.net_config
        if "sample_shape" in cfg:
            return int(cfg["sample_shape"][0])
        return int(cfg.get("in_channels", 3))

    @property
    def image_size(self) -> tuple[int, int] | None:
        cfg = self.net_config
        if "sample_shape" in cfg:
            return int(cfg["sample_shape"][1]), int(cfg["sample_shape"][2])
        size = cfg.get("sample_size")
        if size is None:
            return None
        return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @property
    def clip(self) -> bool:
        return bool(self.scheduler_config.get("clip_sample", True))

    def check_images(self, shape: tuple[int, ...], what: str) -> None:
        """Refuse training images (N, H, W, C) whose size or channels differ from the model's."""
        if len(shape) != 4:
            raise CheckpointError(f"{what}: shape {shape}; the audit needs images (N, H, W, C)")
        _, h, w, c = shape
        if c != self.channels:
            raise CheckpointError(
                f"channel mismatch: the model {self.net_folder} takes {self.channels} channel(s), {what} "
                f"have {c}; give the images the model was trained on (grey {h}x{w} folders load as 1 "
                "channel, colour ones as 3)"
            )
        size = self.image_size
        if size is not None and (h, w) != size:
            raise CheckpointError(
                f"image size mismatch: the model {self.net_folder} makes {size[0]}x{size[1]} images, {what} "
                f"are {h}x{w}; resize them to the model's size (folder data: `resize` option) or audit the "
                "model with the images it was trained on"
            )
        out_c = self.net_config.get("out_channels", c)
        if out_c not in (c, 2 * c):
            raise CheckpointError(f"{self.net_folder}: out_channels {out_c} fits neither {c} nor 2 x {c} channels")

    def load(self, device: str | torch.device = "cpu") -> PredictionToEps:
        """The network as an epsilon-model on ``device`` (weights frozen, eval mode)."""
        if self.net_config.get("_class_name") == "ResidualMLP":
            from memgen.models.mlp import ResidualMLP as cls
        else:
            from diffusers import UNet2DModel as cls
        try:
            net = cls.from_pretrained(self.net_folder, low_cpu_mem_usage=False)
        except Exception as err:  # damaged weights: safetensors/diffusers raise their own types
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise CheckpointError(
                f"cannot load the network in {self.net_folder} ({first}); the weights are truncated or "
                "not those of its config.json: save the model again"
            ) from err
        pred = self.scheduler_config.get("prediction_type", "epsilon")
        return PredictionToEps(net, pred, self.schedule, self.channels).to(device)


def open_checkpoint(ref: str | Path) -> Checkpoint:
    """Check a UNet folder or a DDPM/DDIM pipeline folder (no weights are loaded yet)."""
    folder = resolve_local(ref)
    if (folder / "model_index.json").is_file():
        index = _read_json(folder / "model_index.json", "pipeline index")
        layout = index.get("_class_name")
        if layout not in PIPELINES:
            raise CheckpointError(
                f"{folder}/model_index.json describes a {layout!r}; the audit reads a UNet2DModel folder or a "
                f"{' / '.join(PIPELINES)} folder (for Stable Diffusion use `memgen sd-curvature`)"
            )
        # memgen's own model folders are flat pipelines: components in the folder itself.
        net_folder = folder / "unet" if (folder / "unet").is_dir() else folder
        sched_folder = folder / "scheduler" if (folder / "scheduler").is_dir() else folder
    else:
        layout, net_folder, sched_folder = "network", folder, folder
    if not (folder / "config.json").is_file() and not net_folder.is_dir():
        raise CheckpointError(f"incomplete checkpoint: {folder} has neither config.json nor unet/")
    net_cfg = check_network_folder(net_folder, "network")
    sched_cfg = check_scheduler(sched_folder)
    schedule = schedule_from_config(sched_cfg)
    return Checkpoint(folder, net_folder, net_cfg, sched_cfg, schedule, layout)

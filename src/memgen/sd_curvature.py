"""Curvature of Stable Diffusion's learned energy at memorized, spurious and generalized candidates.

The paper's large-model case study (Section 4.2, Fig 5B, Appendix Fig 24): Stable Diffusion v1.4 generates
an image for prompts known to reproduce a training image (memorized candidates), prompts that give the same
non-training image for many seeds (spurious candidates) and ordinary prompts (generalized), with DDIM from
fixed seeds; the singular values of the score Jacobian in latent space at a small time then show how sharp
the energy minimum is: memorized and spurious candidates have fewer near-zero directions than generalized.

What is computed, per prompt and seed:
1. DDIM generation (``steps`` steps, classifier-free guidance ``guidance``) from the seed's noise; the final
   latent z0 (4 x 64 x 64 for SD v1 at 512 px) is kept, and decoded for the figure.
2. The latent score s(z) = -eps(z, t, c) / sigma_t with the prompt's text embedding c (guidance
   ``jacobian_guidance``: 1 = the conditional score) at z = sqrt(abar_t) z0, the same convention as the
   image experiments' exact Jacobian.
3. Its top ``top_k`` singular values by a matrix-free solver (memgen.spectrum): Jacobian-vector products
   with the UNet, never the d x d matrix. This is an exact-Jacobian substitute for the paper's own
   estimator, whose parameters are not published; the tables say so (column ``estimator``).

Nothing is downloaded: the model is a local ``save_pretrained`` folder (or a snapshot already in the
Hugging Face cache, found with ``local_files_only``).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from memgen.sections import Section, section

log = logging.getLogger(__name__)

CANDIDATES = ("memorized", "spurious", "generalized")
ESTIMATOR = "exact latent score Jacobian, matrix-free top-k (substitute for the paper's estimator)"
SD_COMPONENTS = {
    "unet": ("UNet2DConditionModel",),
    "vae": ("AutoencoderKL",),
    "text_encoder": ("CLIPTextModel",),
    "tokenizer": ("CLIPTokenizer", "CLIPTokenizerFast"),
    "scheduler": None,  # any discrete-VP scheduler (checked by memgen.diffusers_checkpoint)
}


@section("sd_curvature.*.options")
@dataclass(frozen=True)
class SDCurvatureConfig(Section):
    """Generation and spectrum settings of the Stable Diffusion case study (defaults: the paper's)."""

    steps: int = 50  # DDIM steps of the generation
    guidance: float = 7.5  # classifier-free guidance of the generation
    seeds: int = 4  # noise vectors per prompt: seeds seed, seed + 1, ...
    seed: int = 0
    height: int | None = None  # image size (None: the UNet's sample_size x the VAE factor, 512 for SD v1)
    t: int = 10  # time index of the Jacobian (0-based, of the model's 1000 training steps)
    jacobian_guidance: float = 1.0  # 1 = conditional score
    top_k: int = 256
    solver: str = "lanczos"  # lanczos | randomized
    tol: float = 0.0  # lanczos: ARPACK tolerance (0 = machine precision)
    oversample: int = 16  # randomized: extra block vectors
    power_iterations: int = 4  # randomized
    batch_size: int = 1  # tangents per UNet call (randomized solver; more is faster on a GPU)
    skip_top: int = 50  # figure: first singular values left out (the paper skips 50)
    ylim: float | None = 1500.0  # figure: y-axis limit (the paper's 1500); None = automatic
    device: str = "auto"
    impl_version: int = 1

    def __post_init__(self):
        from memgen.spectrum import SOLVERS

        if self.solver not in SOLVERS:
            raise ValueError(f"sd_curvature solver must be one of {SOLVERS}, got {self.solver!r}")
        for name in ("steps", "seeds", "top_k", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"sd_curvature {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= int(self.t) < 1000:
            raise ValueError(f"sd_curvature t must be a time index in [0, 999], got {self.t}")


# ------------------------------------------------------------------------------------------- inputs
def read_prompts(path: str | Path) -> pd.DataFrame:
    """The prompt list: CSV/TSV or YAML/JSON list with ``prompt``, ``candidate`` (memorized | spurious |
    generalized) and optionally ``training_image`` (a path, relative to the list's folder) and ``name``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt list not found: {path} (a CSV with columns prompt, candidate)")
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        import yaml

        rows = yaml.safe_load(path.read_text()) or []
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a list of {{prompt, candidate, ...}} entries")
        df = pd.DataFrame(rows)
    else:
        df = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    missing = {"prompt", "candidate"} - set(df.columns)
    if missing or df.empty:
        raise ValueError(f"{path}: needs rows with columns prompt and candidate (missing {sorted(missing)})")
    bad = sorted(set(df["candidate"]) - set(CANDIDATES))
    if bad:
        raise ValueError(f"{path}: candidate must be one of {CANDIDATES}, got {bad}")
    if "training_image" not in df.columns:
        df["training_image"] = None
    df["training_image"] = [
        None if (v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == "") else str(path.parent / str(v))
        for v in df["training_image"]
    ]
    for img in df["training_image"].dropna():
        if not Path(img).is_file():
            raise FileNotFoundError(f"{path}: training image {img} not found (paths are relative to the list)")
    if "name" not in df.columns:
        df["name"] = [f"{c}_{i}" for i, c in enumerate(df["candidate"])]
    df.insert(0, "prompt_id", np.arange(len(df), dtype=np.int64))
    return df[["prompt_id", "name", "prompt", "candidate", "training_image"]]


def load_sd_pipeline(model: str | Path, device: torch.device):
    """The StableDiffusionPipeline of a local folder, its scheduler replaced by DDIM (eta 0)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from memgen.diffusers_checkpoint import check_pipeline_folder, check_scheduler

    folder = check_pipeline_folder(model, SD_COMPONENTS, "StableDiffusionPipeline")
    check_scheduler(folder / "scheduler")
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            folder, safety_checker=None, requires_safety_checker=False, local_files_only=True
        )
    except Exception as err:  # diffusers/transformers raise many types for damaged files
        raise ValueError(f"cannot load the Stable Diffusion folder {folder}: {err}".splitlines()[0]) from err
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    for part in (pipe.unet, pipe.vae, pipe.text_encoder):
        part.eval().requires_grad_(False)
    return pipe.to(device)


# --------------------------------------------------------------------------------------- generation
def generate(pipe, prompt: str, seed: int, cfg: SDCurvatureConfig) -> tuple[torch.Tensor, np.ndarray]:
    """DDIM latent z0 (1, 4, h, w) and the decoded image (H, W, 3) in [-1, 1] of one prompt and seed."""
    device = pipe.unet.device
    gen = torch.Generator(device=device).manual_seed(int(seed))
    size = cfg.height or pipe.unet.config.sample_size * pipe.vae_scale_factor
    with torch.no_grad():
        z0 = pipe(prompt, height=size, width=size, num_inference_steps=cfg.steps, guidance_scale=cfg.guidance,
                  generator=gen, output_type="latent", eta=0.0).images  # fmt: skip
        img = pipe.vae.decode(z0 / pipe.vae.config.scaling_factor).sample
    return z0.float(), img[0].permute(1, 2, 0).clamp(-1, 1).float().cpu().numpy()


def text_embeddings(pipe, prompt: str, guidance: float) -> torch.Tensor:
    """(1 or 2, L, D) text embeddings: the prompt's, preceded by the empty prompt's when guidance != 1."""
    prompts = [prompt] if guidance == 1.0 else ["", prompt]
    ids = pipe.tokenizer(prompts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids  # fmt: skip
    with torch.no_grad():
        return pipe.text_encoder(ids.to(pipe.unet.device))[0]


@contextlib.contextmanager
def plain_attention(unet):
    """Run the UNet with the reference attention (no fused kernel): forward-mode AD needs it, since
    PyTorch's fused scaled-dot-product kernels have no forward derivative."""
    from diffusers.models.attention_processor import AttnProcessor

    saved = unet.attn_processors
    unet.set_attn_processor(AttnProcessor())
    try:
        yield
    finally:
        unet.set_attn_processor(saved)


def latent_score(unet, emb: torch.Tensor, t: int, sigma: float, shape, guidance: float):
    """s(Z) for flat latents Z (B, d): -eps(z, t, c) / sigma_t, guided with ``guidance`` if != 1."""

    def f(zf: torch.Tensor) -> torch.Tensor:
        b = zf.shape[0]
        z = zf.reshape(b, *shape)
        tt = torch.full((b,), int(t), dtype=torch.long, device=zf.device)
        if guidance == 1.0:
            eps = unet(z, tt, encoder_hidden_states=emb.expand(b, -1, -1)).sample
        else:
            zz = torch.cat([z, z])
            c = torch.cat([emb[:1].expand(b, -1, -1), emb[1:].expand(b, -1, -1)])
            eu, ec = unet(zz, torch.cat([tt, tt]), encoder_hidden_states=c).sample.chunk(2)
            eps = eu + guidance * (ec - eu)
        return (-eps / sigma).reshape(b, -1)

    return f


def jacobian_operator(pipe, z0: torch.Tensor, emb: torch.Tensor, cfg: SDCurvatureConfig):
    """The score Jacobian at sqrt(abar_t) z0 as a matrix-free operator, and sigma_t."""
    from memgen.spectrum import JacobianOperator

    abar = float(pipe.scheduler.alphas_cumprod[int(cfg.t)])
    sigma = (1.0 - abar) ** 0.5
    shape = tuple(z0.shape[1:])
    f = latent_score(pipe.unet, emb, cfg.t, sigma, shape, float(cfg.jacobian_guidance))
    x = (abar**0.5 * z0).reshape(1, -1).float()

    def jvp(xs, vs):
        with plain_attention(pipe.unet):
            return torch.func.jvp(f, (xs,), (vs,))[1]

    def vjp(xs, us):
        return torch.func.vjp(f, xs)[1](us)[0]

    return JacobianOperator(f, x, cfg.batch_size, jvp_fn=jvp, vjp_fn=vjp), sigma


def spectra_table(pipe, prompts: pd.DataFrame, cfg: SDCurvatureConfig, progress=None):
    """Long table (prompt_id, seed, rank, singular_value, ...), latents (P, S, 4, h, w), images."""
    import time

    from memgen.spectrum import topk_singular_values

    frames, latents, images = [], [], []
    for row in prompts.itertuples():
        emb = text_embeddings(pipe, row.prompt, float(cfg.jacobian_guidance))
        z_row, img_row = [], []
        for j in range(cfg.seeds):
            seed = int(cfg.seed) + j
            z0, img = generate(pipe, row.prompt, seed, cfg)
            op, sigma = jacobian_operator(pipe, z0, emb, cfg)
            t0 = time.perf_counter()
            sv = topk_singular_values(op, int(cfg.top_k), cfg.solver, tol=cfg.tol, oversample=cfg.oversample,
                                      power_iterations=cfg.power_iterations, seed=seed)  # fmt: skip
            secs = time.perf_counter() - t0
            log.info("prompt %d (%s) seed %d: top singular value %.4g, %d Jacobian products, %.1fs",
                     row.prompt_id, row.candidate, seed, sv[0], op.n_products, secs)  # fmt: skip
            frames.append(pd.DataFrame({
                "prompt_id": np.int64(row.prompt_id), "name": row.name, "prompt": row.prompt,
                "candidate": row.candidate, "seed": np.int64(seed), "rank": np.arange(len(sv), dtype=np.int64),
                "singular_value": sv.astype(np.float64), "t": np.int64(cfg.t), "sigma_t": float(sigma),
                "solver": cfg.solver, "products": np.int64(op.n_products), "seconds": float(secs),
                "estimator": ESTIMATOR,
            }))  # fmt: skip
            z_row.append(z0[0].cpu().numpy())
            img_row.append(img)
            if progress is not None:
                progress()
        latents.append(np.stack(z_row))
        images.append(np.stack(img_row))
    return pd.concat(frames, ignore_index=True), np.stack(latents), np.stack(images)


def run(model: str | Path, prompts_path: str | Path, cfg: SDCurvatureConfig, out_dir: str | Path,
        name: str = "sd") -> dict[str, Path]:  # fmt: skip
    """The whole case study: check inputs, generate, spectra; write spectra.parquet, latents.npy, images.npy,
    prompts.parquet (atomically, into ``out_dir``). Nothing is written if an input is refused."""
    from memgen.io import save_npy, write_json, write_parquet
    from memgen.train import resolve_device

    prompts = read_prompts(prompts_path)
    device = resolve_device(cfg.device)
    pipe = load_sd_pipeline(model, device)
    table, latents, images = spectra_table(pipe, prompts, cfg)
    out = Path(out_dir)
    prov = {"experiment": name, "model": str(model), "prompts": str(prompts_path), "config": cfg.to_dict(),
            "estimator": ESTIMATOR, "device": str(device)}  # fmt: skip
    paths = {
        "spectra": write_parquet(table, out / "spectra.parquet", provenance=prov,
                                 sort_by=["prompt_id", "seed", "rank"]),  # fmt: skip
        "prompts": write_parquet(prompts, out / "prompts.parquet", provenance=prov),
        "latents": save_npy(latents.astype(np.float32), out / "latents.npy"),
        "images": save_npy(images.astype(np.float32), out / "images.npy"),
    }
    paths["provenance"] = write_json(prov, out / "sd_curvature.json")
    return paths

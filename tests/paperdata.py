"""Miniature copies of the paper's inputs, in the exact on-disk formats the real ones come in.

``write_paper_data(root)`` fills a ``data_root`` with tiny data sets that memgen's readers
(``memgen.data``) read through the same code as the real downloads:

- ``MNIST/raw/train-images-idx3-ubyte.gz``: gzipped idx3-ubyte, 28x28 grey (torchvision's layout);
- ``FashionMNIST/raw/train-images-idx3-ubyte``: the same format, not compressed;
- ``cifar-10-batches-py/data_batch_1..5`` + ``batches.meta``: python pickle batches, bytes keys, rows
  of R(1024) G(1024) B(1024) as in ``cifar-10-python.tar.gz``;
- ``church_outdoor_train_lmdb/``: an lmdb whose values are webp images of non-square sizes (some
  with a short side >= 128, so the ADM crop both halves with BOX and resizes bicubically to 64x64),
  keyed by 40-hex-digit strings like the LSUN release;
- ``pngs/``: a folder of RGB PNG files (the ``folder`` reader).

``write_backbones(torch_home)`` writes random-weight ImageNet backbones under
``<torch_home>/hub/checkpoints/`` with the file names torchvision's hub cache uses for
``AlexNet_Weights.IMAGENET1K_V1`` and ``VGG16_Weights.IMAGENET1K_V1``, so that ``lpips.LPIPS``
(with its shipped v0.1 linear heads) loads them through torchvision exactly as it loads the real
weights, offline. Each file is a complete state dict of the torchvision model (every key and shape,
loaded with ``strict=True``); the convolutional ``features`` that LPIPS uses are random
(He-normal, seeded), the fully connected classifier that LPIPS never evaluates is stored as a
broadcast zero (stride 0), which keeps the VGG16 file at 59 MB instead of 528 MB.

Images are smooth random fields (bilinearly upsampled noise), so distances between them vary as
between natural images rather than collapsing as for white noise. Everything is seeded: the same
call writes the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
from pathlib import Path

import numpy as np

# Pool sizes of the miniature data sets (every K grid of tests/configs/paper_mini.yaml fits).
N_MNIST = 24
N_FMNIST = 24
N_CIFAR_PER_BATCH = 5  # x 5 batches = 25
N_LSUN = 24
N_PNG = 12
# (width, height) of the LSUN records: portrait, landscape, short side above and below 128.
LSUN_SIZES = [(96, 80), (80, 112), (300, 200), (140, 260), (64, 90), (257, 129)]


def smooth_images(rng: np.random.Generator, n: int, h: int, w: int, c: int) -> np.ndarray:
    """uint8 (n, h, w, c): coarse noise upsampled bilinearly (natural-looking low-frequency content)."""
    import torch
    import torch.nn.functional as F

    coarse = torch.as_tensor(rng.random((n, c, max(2, h // 6), max(2, w // 6))), dtype=torch.float32)
    fine = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (fine.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def idx3_bytes(images: np.ndarray) -> bytes:
    """The idx3-ubyte encoding of uint8 (N, H, W): magic 0x00000803, three big-endian sizes, pixels."""
    header = bytes([0, 0, 0x08, 3]) + np.array(images.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(images, dtype=np.uint8).tobytes()


def write_idx(folder: Path, images: np.ndarray, gz: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    blob = idx3_bytes(images[..., 0])
    path = folder / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    if gz:
        # mtime=0: the same images give the same bytes (the split rule hashes the data files).
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
            fh.write(blob)
    else:
        path.write_bytes(blob)
    return path


def write_cifar(folder: Path, images: np.ndarray, per_batch: int) -> None:
    """data_batch_1..5 and batches.meta as in cifar-10-python.tar.gz (bytes keys, uint8 rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # R(1024) G(1024) B(1024)
    for b in range(5):
        part = rows[b * per_batch : (b + 1) * per_batch]
        batch = {
            b"batch_label": f"training batch {b + 1} of 5".encode(),
            b"labels": [int(i % 10) for i in range(len(part))],
            b"data": np.ascontiguousarray(part, dtype=np.uint8),
            b"filenames": [f"img_{b}_{i}.png".encode() for i in range(len(part))],
        }
        with open(folder / f"data_batch_{b + 1}", "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    meta = {
        b"num_cases_per_batch": per_batch,
        b"label_names": [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer",
                                              "dog", "frog", "horse", "ship", "truck")],
        b"num_vis": 3072,
    }  # fmt: skip
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump(meta, fh, protocol=2)


def write_lsun(folder: Path, rng: np.random.Generator, n: int) -> None:
    """An LSUN-style lmdb: 40-hex-digit keys, webp-encoded RGB images of mixed non-square sizes."""
    import lmdb
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(folder), map_size=64 << 20, subdir=True)
    with env.begin(write=True) as txn:
        for i in range(n):
            w, h = LSUN_SIZES[i % len(LSUN_SIZES)]
            img = smooth_images(rng, 1, h, w, 3)[0]
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="WEBP", quality=90)
            key = hashlib.sha1(f"church-{i}".encode()).hexdigest().encode()
            txn.put(key, buf.getvalue())
    env.close()


def write_pngs(folder: Path, images: np.ndarray) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"img_{i:03d}.png")


def write_paper_data(root: Path, seed: int = 0) -> None:
    """Write every miniature data set under ``root`` (a ``data_root``); see the module docstring."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    write_idx(root / "MNIST" / "raw", smooth_images(rng, N_MNIST, 28, 28, 1), gz=True)
    write_idx(root / "FashionMNIST" / "raw", smooth_images(rng, N_FMNIST, 28, 28, 1), gz=False)
    write_cifar(
        root / "cifar-10-batches-py",
        smooth_images(rng, 5 * N_CIFAR_PER_BATCH, 32, 32, 3),
        N_CIFAR_PER_BATCH,
    )
    write_lsun(root / "church_outdoor_train_lmdb", rng, N_LSUN)
    write_pngs(root / "pngs", smooth_images(rng, N_PNG, 32, 32, 3))


# torchvision's hub-cache file names of the IMAGENET1K_V1 weights that lpips' backbones load.
BACKBONES = {"alexnet": "alexnet-owt-7be5be79.pth", "vgg16": "vgg16-397923af.pth"}


def _random_state_dict(arch: str, seed: int) -> dict:
    import torch
    import torchvision

    with torch.device("meta"):  # shapes only: no 138 M-parameter initialisation
        shapes = {k: v.shape for k, v in getattr(torchvision.models, arch)().state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if not key.startswith("features."):
            out[key] = torch.zeros(1).expand(shape)  # classifier: never used by LPIPS
        elif key.endswith("weight"):
            fan_out = shape[0] * int(np.prod(shape[2:]))
            out[key] = torch.randn(shape, generator=gen) * (2.0 / fan_out) ** 0.5
        else:
            out[key] = torch.zeros(shape)
    return out


def write_backbones(torch_home: Path, seed: int = 0) -> Path:
    """Random AlexNet + VGG16 checkpoints in ``<torch_home>/hub/checkpoints``; returns that folder."""
    import torch

    folder = Path(torch_home) / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (arch, name) in enumerate(BACKBONES.items()):
        tmp = folder / f".{name}.tmp"
        torch.save(_random_state_dict(arch, seed + i), tmp)
        os.replace(tmp, folder / name)
    return folder

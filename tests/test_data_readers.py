"""Data readers on tiny files written in each real on-disk format (idx, CIFAR pickles, LSUN lmdb, folder)."""

from __future__ import annotations

import gzip
import io
import os
import pickle

import lmdb
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from memgen.data import (
    DataFormatError,
    data_files,
    load_dataset,
    load_image_array,
    load_raw,
    to_nchw,
    to_nhwc,
)
from memgen.data.crop import adm_center_crop

torch.set_num_threads(1)
RNG = np.random.default_rng(0)


def torchvision_norm(raw_hwc: np.ndarray) -> np.ndarray:
    """Reference normalisation: torchvision ToTensor + Normalize(0.5, 0.5), back to HWC."""
    out = [
        TF.normalize(TF.to_tensor(img), [0.5] * img.shape[2], [0.5] * img.shape[2])
        for img in raw_hwc
    ]
    return torch.stack(out).permute(0, 2, 3, 1).numpy()


# ---------------------------------------------------------------- idx (MNIST / Fashion-MNIST)


def idx_bytes(images: np.ndarray, magic=(0, 0, 8, 3)) -> bytes:
    return bytes(magic) + np.array(images.shape, ">u4").tobytes() + images.tobytes()


def write_idx(folder, images, gz: bool, name="train-images-idx3-ubyte", **kw):
    os.makedirs(folder, exist_ok=True)
    blob = idx_bytes(images, **kw)
    path = os.path.join(folder, name + (".gz" if gz else ""))
    with gzip.open(path, "wb") if gz else open(path, "wb") as fh:
        fh.write(blob)
    return path


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fmnist", "FashionMNIST")])
def test_idx_torchvision_layout_read_back_exactly(tmp_path, gz, name, folder):
    images = RNG.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / folder / "raw", images, gz)
    x = load_dataset(name, tmp_path)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(load_raw(name, tmp_path)[..., 0], images)
    np.testing.assert_array_equal(x, torchvision_norm(images[..., None]))  # bit-identical
    assert load_dataset(name, tmp_path, limit=3).shape == (3, 28, 28, 1)


def test_idx_direct_folder_and_file(tmp_path):
    images = RNG.integers(0, 256, (4, 5, 6), dtype=np.uint8)  # non-square: H, W kept apart
    path = write_idx(tmp_path / "mine", images, gz=False)
    np.testing.assert_array_equal(load_raw("mnist", tmp_path, "mine")[..., 0], images)
    np.testing.assert_array_equal(
        load_raw("mnist", tmp_path, "mine/train-images-idx3-ubyte")[..., 0], images
    )
    assert data_files("mnist", tmp_path, "mine") == [tmp_path / "mine" / "train-images-idx3-ubyte"]
    assert os.path.exists(path)


def test_idx_missing_names_expected_path_and_format(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("fmnist", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte") in msg
    assert "idx" in msg and ".gz" in msg


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
def test_idx_truncated(tmp_path, gz):
    images = RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    blob = idx_bytes(images)[:-100]
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    name = folder / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    with gzip.open(name, "wb") if gz else open(name, "wb") as fh:
        fh.write(blob)
    with pytest.raises(DataFormatError, match="truncated"):
        load_dataset("mnist", tmp_path)


def test_idx_truncated_gzip_stream(tmp_path):
    path = write_idx(
        tmp_path / "MNIST" / "raw", RNG.integers(0, 256, (50, 28, 28), dtype=np.uint8), True
    )
    blob = open(path, "rb").read()
    open(path, "wb").write(blob[: len(blob) // 2])
    with pytest.raises(DataFormatError, match="decompress"):
        load_dataset("mnist", tmp_path)


def test_idx_wrong_magic_number(tmp_path):
    labels = np.zeros(3, np.uint8)  # the labels file (0x00000801) put where the images belong
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte").write_bytes(
        bytes([0, 0, 8, 1]) + np.array([3], ">u4").tobytes() + labels.tobytes()
    )
    with pytest.raises(DataFormatError, match="magic number 0x00000801"):
        load_dataset("mnist", tmp_path)


def test_idx_trailing_bytes(tmp_path):
    images = RNG.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte").write_bytes(idx_bytes(images) + b"xx")
    with pytest.raises(DataFormatError, match="trailing bytes"):
        load_dataset("mnist", tmp_path)


# ---------------------------------------------------------------- CIFAR-10 pickle batches


def write_cifar(folder, n_per_batch=3, bytes_keys=True):
    """Five batches in the official layout: dict with 'data' (n, 3072) uint8 rows R|G|B (1024 each)."""
    folder.mkdir(parents=True, exist_ok=True)
    hwc = RNG.integers(0, 256, (5 * n_per_batch, 32, 32, 3), dtype=np.uint8)
    for b in range(5):
        part = hwc[b * n_per_batch : (b + 1) * n_per_batch]
        rows = part.transpose(0, 3, 1, 2).reshape(len(part), 3072)
        key = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
        entry = {
            key("batch_label"): key(f"training batch {b + 1} of 5"),
            key("labels"): [0] * len(part),
            key("data"): rows,
        }
        with open(folder / f"data_batch_{b + 1}", "wb") as fh:
            pickle.dump(entry, fh, protocol=2)
    return hwc


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_cifar_batches_read_back_exactly(tmp_path, bytes_keys):
    hwc = write_cifar(tmp_path / "cifar-10-batches-py", bytes_keys=bytes_keys)
    np.testing.assert_array_equal(load_raw("cifar10", tmp_path), hwc)
    x = load_dataset("cifar10", tmp_path, "cifar-10-batches-py")
    np.testing.assert_array_equal(x, torchvision_norm(hwc))
    assert load_raw("cifar10", tmp_path, limit=4).shape == (4, 32, 32, 3)
    assert len(data_files("cifar10", tmp_path)) == 5


def test_cifar_missing_batch_named(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.*python batches"):
        load_dataset("cifar10", tmp_path)


def test_cifar_pickle_cannot_run_code(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    with open(tmp_path / "cifar-10-batches-py" / "data_batch_2", "wb") as fh:
        pickle.dump({"data": Evil()}, fh)
    with pytest.raises(DataFormatError, match="not a CIFAR-10 python pickle"):
        load_dataset("cifar10", tmp_path)
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- ADM centre crop and LSUN lmdb


def encode(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_adm_crop_on_block_image_matches_known_result():
    # 4x4 constant blocks: both BOX halvings are exact, then the short side is already 64
    # (bicubic resize to the same size is the identity) and the crop drops (80 - 64) / 2 columns each side.
    base = RNG.integers(0, 256, (64, 80, 3), dtype=np.uint8)  # H=64, W=80
    big = np.kron(base, np.ones((4, 4, 1), np.uint8))  # 256 x 320
    out = adm_center_crop(Image.fromarray(big), 64)
    np.testing.assert_array_equal(out, base[:, 8:72])


def test_adm_crop_sizes_rounding_and_offsets():
    arr = RNG.integers(0, 256, (130, 200, 3), dtype=np.uint8)  # W=200, H=130 >= 128: one halving
    img = Image.fromarray(arr)
    # By hand: halve to 100x65; scale 64/65 -> (round(98.46)=98, 64); left = (98-64)//2 = 17.
    ref = np.asarray(img.resize((100, 65), Image.BOX).resize((98, 64), Image.BICUBIC))[:, 17:81]
    np.testing.assert_array_equal(adm_center_crop(img, 64), ref)
    flat = np.full((90, 150, 3), 77, np.uint8)  # short side < 64*2: no halving, bicubic upscale
    np.testing.assert_array_equal(
        adm_center_crop(Image.fromarray(flat), 64), np.full((64, 64, 3), 77)
    )


def write_lmdb(folder, values: list[bytes]):
    env = lmdb.open(str(folder), map_size=1 << 24, subdir=True)
    with env.begin(write=True) as txn:
        for i, v in enumerate(values):
            txn.put(f"{i:040x}".encode(), v)  # LSUN keys are 40-char hex strings
    env.close()


def test_lsun_lmdb_decodes_webp_png_jpeg_and_crops(tmp_path):
    base = RNG.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    block = np.kron(base, np.ones((4, 4, 1), np.uint8))  # 256 x 320, crop known exactly
    small = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    grey = RNG.integers(0, 256, (150, 100), dtype=np.uint8)  # portrait, grey -> RGB
    jpeg = encode(RNG.integers(0, 256, (96, 120, 3), dtype=np.uint8), "JPEG", quality=90)
    values = [
        encode(block, "PNG"),
        encode(np.kron(small, np.ones((2, 2, 1), np.uint8)), "WEBP", lossless=True),
        jpeg,
        encode(grey, "PNG"),
    ]
    write_lmdb(tmp_path / "church_outdoor_train_lmdb", values)
    x = load_raw("lsun_church", tmp_path)
    assert x.shape == (4, 64, 64, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0], base[:, 8:72])
    np.testing.assert_array_equal(x[1], small)
    ref_jpeg = adm_center_crop(Image.open(io.BytesIO(jpeg)).convert("RGB"), 64)
    np.testing.assert_array_equal(x[2], ref_jpeg)
    g = np.asarray(Image.fromarray(grey).resize((64, 96), Image.BICUBIC))[
        16:80
    ]  # W=100 -> 64, H=150 -> 96, top 16
    np.testing.assert_array_equal(x[3], np.repeat(g[..., None], 3, axis=2))
    np.testing.assert_array_equal(
        load_dataset("lsun_church", tmp_path, limit=2), torchvision_norm(x[:2])
    )


def test_lsun_missing_and_bad_record(tmp_path):
    with pytest.raises(FileNotFoundError, match="church_outdoor_train_lmdb/data.mdb"):
        load_dataset("lsun_church", tmp_path)
    write_lmdb(
        tmp_path / "church_outdoor_train_lmdb",
        [encode(np.zeros((70, 70, 3), np.uint8), "PNG"), b"not an image"],
    )
    with pytest.raises(DataFormatError, match="record 1 .*not an encoded image"):
        load_dataset("lsun_church", tmp_path)


# ---------------------------------------------------------------- folder of images


def test_folder_sorted_png_jpg(tmp_path):
    imgs = RNG.integers(0, 256, (3, 12, 10, 3), dtype=np.uint8)
    for name, im in zip(["b.png", "a.png", "c.PNG"], imgs):
        Image.fromarray(im).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("ignored")
    x = load_raw("folder", tmp_path)
    np.testing.assert_array_equal(x, imgs[[1, 0, 2]])  # sorted file names: a, b, c
    Image.fromarray(imgs[0]).save(tmp_path / "d.jpg", quality=95)
    assert load_raw("folder", tmp_path).shape == (4, 12, 10, 3)


def test_folder_grey_gives_one_channel(tmp_path):
    g = RNG.integers(0, 256, (2, 8, 8), dtype=np.uint8)
    for i, im in enumerate(g):
        Image.fromarray(im).save(tmp_path / f"{i}.png")
    np.testing.assert_array_equal(load_raw("folder", tmp_path)[..., 0], g)


def test_folder_mixed_sizes_and_resize(tmp_path):
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(
        DataFormatError, match=r"different sizes: 10x12 \(e.g. a.png\), 30x20 \(e.g. b.png\)"
    ):
        load_raw("folder", tmp_path)
    assert load_raw("folder", tmp_path, resize=8).shape == (2, 8, 8, 3)


def test_folder_empty_and_missing(tmp_path):
    with pytest.raises(DataFormatError, match="no .png/.jpg images"):
        load_raw("folder", tmp_path)
    with pytest.raises(DataFormatError, match="not a directory"):
        load_raw("folder", tmp_path, "nope")


# ---------------------------------------------------------------- digits, user arrays, layout helpers


def test_digits_scaling():
    from sklearn.datasets import load_digits

    x = load_dataset("digits", "unused")
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0], load_digits().images / 8 - 1)
    assert x.min() == -1 and x.max() == 1


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        load_dataset("svhn", ".")


def test_load_image_array_uint8_float_and_errors(tmp_path):
    u8 = RNG.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    np.save(tmp_path / "u8.npy", u8)
    np.testing.assert_array_equal(load_image_array(tmp_path / "u8.npy"), torchvision_norm(u8))
    f = RNG.uniform(-1, 1, (5, 7)).astype(np.float32)  # vectors (N, D)
    np.save(tmp_path / "f.npy", f)
    got = load_image_array(tmp_path / "f.npy")
    assert isinstance(got, np.memmap)  # no copy for float32 input
    np.testing.assert_array_equal(got, f)
    bad = f.copy()
    bad[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataFormatError, match="NaN or inf values .*row 3"):
        load_image_array(tmp_path / "nan.npy")
    np.save(tmp_path / "range.npy", f * 2)
    with pytest.raises(DataFormatError, match=r"must lie in \[-1, 1\]"):
        load_image_array(tmp_path / "range.npy")
    np.save(tmp_path / "3d.npy", u8[..., 0])
    with pytest.raises(DataFormatError, match="channel axis"):
        load_image_array(tmp_path / "3d.npy")
    with pytest.raises(FileNotFoundError, match="no such .npy"):
        load_image_array(tmp_path / "missing.npy")


def test_layout_helpers_numpy_and_torch():
    x = RNG.standard_normal((2, 5, 6, 3)).astype(np.float32)
    assert to_nchw(x).shape == (2, 3, 5, 6)
    np.testing.assert_array_equal(to_nhwc(to_nchw(x)), x)
    t = torch.from_numpy(x)
    assert torch.equal(to_nchw(t), t.permute(0, 3, 1, 2))
    assert torch.equal(to_nhwc(to_nchw(t)), t)


def test_resize_only_for_folders(tmp_path):
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['resize'\]"):
        load_raw("digits", tmp_path, resize=8)

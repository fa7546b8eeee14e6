"""Exact kNN (docs/method.md §5.1-5.2): LPIPS embedding identity, brute-force agreement, self-exclusion, CLI errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.cli import main as memgen_main
from memgen.embeddings import LpipsEmbedder
from memgen.neighbors import Rows, knn, search
from memgen.perceptual import backbone_checkpoint, load_lpips, lpips_distance, prepare

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)  # random backbones (pnet_rand=True), shipped v0.1 linear heads
    return {n: load_lpips(n, pretrained_backbone=False) for n in ("alex", "vgg", "squeeze")}


def _images(n, c, s, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, s, s, generator=g) * 2 - 1


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
@pytest.mark.parametrize("size,channels", [(8, 1), (28, 1), (32, 3), (64, 3)])
def test_lpips_embedding_equals_package(nets, net, size, channels):
    n = 2 if (net == "vgg" and size == 64) else 4  # keep vgg at 64x64 cheap
    x, y = _images(n, channels, size, 1), _images(n, channels, size, 2)
    y[0] = x[0]  # identical pair: both give 0
    model = nets[net]
    ref = model(prepare(x), prepare(y)).flatten()  # the lpips package itself
    emb = LpipsEmbedder(model)
    ours = ((emb(x) - emb(y)) ** 2).sum(1)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=0), (ours, ref)
    assert ref[1:].min() > 1e-3  # non-trivial distances were compared
    assert torch.allclose(lpips_distance(x, y, model), ref)


def test_prepare_grey_upsampling():
    x = _images(2, 1, 8, 3)
    p = prepare(x)
    assert p.shape == (2, 3, 32, 32)
    assert torch.equal(p[:, 0], p[:, 2])
    assert torch.equal(p[:, 0, ::4, ::4], x[:, 0])  # nearest-exact: every 4x4 block is one pixel


def test_missing_backbone_names_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="alexnet-owt-7be5be79.pth"):
        load_lpips("alex")
    assert str(backbone_checkpoint("alex")).startswith(str(tmp_path))


def test_lpips_knn_matches_pairwise_brute_force(nets, monkeypatch):
    monkeypatch.setattr("memgen.perceptual.load_lpips", lambda net, pb, dev: nets[net])
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (300, 12, 12, 3), dtype=np.uint8)
    qry = rng.integers(0, 256, (8, 12, 12, 3), dtype=np.uint8)
    df, facts = search(ref, qry, "lpips-alex", 5, device="cpu", progress=False)
    # brute force: the lpips package on every (query, reference) pair
    to_t = lambda a: torch.from_numpy(a.astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2)  # noqa: E731
    rq, rr = to_t(qry), to_t(ref)
    d = torch.stack(
        [
            lpips_distance(rq[i].expand(len(rr), -1, -1, -1), rr, nets["alex"])
            for i in range(len(rq))
        ]
    )
    brute = np.argsort(d.numpy(), axis=1, kind="stable")[:, :5]
    got = df.pivot(index="query", columns="rank", values="ref_index").to_numpy()
    assert (got == brute).all()
    dist = df.pivot(index="query", columns="rank", values="distance").to_numpy()
    assert np.allclose(dist, np.take_along_axis(d.numpy(), brute, 1), atol=1e-5)


def test_l2_neighbours_are_nearest_not_farthest():
    rng = np.random.default_rng(1)
    ref = rng.uniform(-1, 1, (400, 8, 8, 1)).astype(np.float32)
    qry = rng.uniform(-1, 1, (50, 8, 8, 1)).astype(np.float32)
    qry[:5] = ref[[3, 99, 150, 200, 399]] + 0.01  # planted near-copies
    df, _ = search(ref, qry, "l2", 3, device="cpu", progress=False)
    D = np.sqrt(
        ((qry.reshape(50, -1)[:, None].astype(np.float64) - ref.reshape(400, -1)[None]) ** 2).sum(
            -1
        )
    )
    first = df[df["rank"] == 1].sort_values("query")
    assert (first["ref_index"].to_numpy() == D.argmin(1)).all()  # the official code's inverted L2 (docs/method.md §10.1) would give argmax
    assert np.allclose(first["distance"], D.min(1), rtol=1e-9)
    assert list(first["ref_index"][:5]) == [3, 99, 150, 200, 399]
    assert (
        np.diff(df.pivot(index="query", columns="rank", values="distance").to_numpy(), axis=1) >= 0
    ).all()


def test_exclude_self_with_duplicates_small_blocks():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (250, 6, 6, 1)).astype(np.float32)
    x[[10, 20, 30]] = x[20]
    x[40:45] = x[40]  # five identical samples
    rows = Rows(x)
    # small blocks force streaming over several query and reference blocks
    idx, d = knn(rows, rows, 4, exclude_self=True, query_block=32, ref_block=50, progress=False)
    assert not (idx == np.arange(250)[:, None]).any()
    flat = x.reshape(250, -1).astype(np.float64)
    D = ((flat[:, None] - flat[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    assert (idx == np.argsort(D, 1, kind="stable")[:, :4]).all()
    assert list(idx[20, :2]) == [10, 30] and d[20, 0] == 0.0
    assert list(idx[42]) == [40, 41, 43, 44] and (d[42] == 0).all()


def test_exclude_self_all_identical():
    x = np.zeros((40, 4), np.float32)  # every row a duplicate: ties everywhere
    idx, d = knn(Rows(x), Rows(x), 5, exclude_self=True, ref_block=7, progress=False)
    assert not (idx == np.arange(40)[:, None]).any() and (d == 0).all()


def test_cli_writes_table(tmp_path):
    rng = np.random.default_rng(3)
    np.save(tmp_path / "train.npy", rng.integers(0, 256, (60, 5, 5, 1), dtype=np.uint8))
    np.save(tmp_path / "s.npy", rng.integers(0, 256, (20, 5, 5, 1), dtype=np.uint8))
    out = tmp_path / "nn.parquet"
    rc = memgen_main(
        [
            "neighbors",
            "--reference",
            str(tmp_path / "train.npy"),
            "--queries",
            str(tmp_path / "s.npy"),
            "--neighbors-config",
            '{"k": 3}',
            "--reference-limit",
            "30",
            "--experiment",
            "e",
            "--k",
            "30",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    df = pd.read_parquet(out)
    assert list(df.columns[:4]) == ["query", "rank", "ref_index", "distance"]
    assert len(df) == 60 and df["ref_index"].max() < 30 and set(df["K"]) == {30}


def _bad(tmp_path, capsys, args, match):
    out = tmp_path / "out.parquet"
    rc = memgen_main(["neighbors", "--experiment", "e", "--k", "10", *args, "--out", str(out)])
    assert rc == 2 and match in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))


def test_cli_bad_inputs(tmp_path, capsys):
    rng = np.random.default_rng(4)
    a = rng.uniform(-1, 1, (10, 4, 4, 1)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "shape.npy", a[:, :, :3])
    np.save(tmp_path / "dtype.npy", a.astype(np.float64))
    nan = a.copy()
    nan[3, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    inf = a.reshape(10, -1).copy()
    inf[9, 0] = np.inf
    np.save(tmp_path / "inf.npy", inf)
    ref = ["--reference", str(tmp_path / "a.npy")]
    _bad(
        tmp_path,
        capsys,
        [*ref, "--queries", str(tmp_path / "shape.npy")],
        "differ in shape or dtype",
    )
    _bad(
        tmp_path,
        capsys,
        [*ref, "--queries", str(tmp_path / "dtype.npy")],
        "differ in shape or dtype",
    )
    _bad(tmp_path, capsys, [*ref, "--queries", str(tmp_path / "nan.npy")], "NaN or inf")
    _bad(tmp_path, capsys, ["--reference", str(tmp_path / "inf.npy")], "NaN or inf")
    _bad(tmp_path, capsys, [*ref, "--neighbors-config", '{"k": 11}'], "k = 11")
    _bad(tmp_path, capsys, [*ref, "--neighbors-config", '{"k": 10}', "--exclude-self"],
         "query itself is excluded")  # fmt: skip
    # the count of one job may only lower the section's k (fewer neighbours exist), never raise it
    _bad(tmp_path, capsys, [*ref, "--n-neighbors", "6"], "--n-neighbors must lie in [1, neighbors.k = 5]")
    # an unknown metric is refused by the section, before any array is read
    _bad(tmp_path, capsys, [*ref, "--neighbors-config", '{"metric": "lpips-foo"}'], "'lpips-foo'")
    _bad(tmp_path, capsys, [*ref, "--neighbors-config", '{"metrc": "l2"}'],
         "unknown images.<E>.neighbors config keys ['metrc']")  # fmt: skip
    with pytest.raises(ValueError, match="unknown metric"):
        search(a, None, "cosine", 1)

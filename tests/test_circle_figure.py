"""Fig 2 draws what its tables say: centre energies from the centre table, one colour scale only
at one temperature, copy statistics per model, and a dense training set that does not hide the
ring. Inputs are planted (exact score, closed-form energies), no trained network."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from memgen.circle.cluster import CircleClusterConfig, cluster_samples
from memgen.circle.copies import copy_summary
from memgen.circle.data import make_pool, make_split, train_points
from memgen.circle.exact import ExactScore, circle_energy, circle_score, energy_grid, finite_energy
from memgen.circle.sampler import euler_maruyama
from memgen.figures.circle import CircleTables, centre_energies, circle_figure
from memgen.io import read_parquet, write_parquet

torch.set_num_threads(1)
KS = (2, 9, 1000)
T_E = 0.05
T_END = 2e-3  # 500 steps: dt = t_end, the last step denoises (demo settings)


def _grid_table(energy, score, grid, t_e=None, beta=None):
    n = int(round(np.sqrt(len(grid))))
    df = pd.DataFrame(
        {
            "i": np.repeat(np.arange(n), n),
            "j": np.tile(np.arange(n), n),
            "x": grid[:, 0],
            "y": grid[:, 1],
            "energy": energy,
            "energy_rel": energy - energy.min(),
            "score_x": score[:, 0],
            "score_y": score[:, 1],
        }
    )
    if t_e is not None:
        df["t_E"] = t_e
    if beta is not None:
        df["beta"] = beta
    return df


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    d = tmp_path_factory.mktemp("fig2")
    split = make_split(make_pool(60000, 9), list(KS), 42)
    write_parquet(split, d / "split.parquet", provenance={})
    grid = energy_grid(20, 1.5)
    beta = 1 / (2 * T_E)
    paths = {name: {} for name in ("samples", "clusters", "energy", "centres")}
    rng = np.random.default_rng(0)
    for k in KS:
        pts = train_points(split, k)
        if k == 1000:  # a generalizing stand-in: fresh points on the circle
            phi = rng.uniform(0, 2 * np.pi, 1500)
            x = np.c_[np.cos(phi), np.sin(phi)] * (1 + 0.01 * rng.normal(size=(1500, 1)))
        else:
            x = euler_maruyama(
                ExactScore(pts), 600, 500, T_END, 1.0, 0, dtype=torch.float64, progress=False
            )
        cfg = CircleClusterConfig(tau={2: 3.0, 9: 2.0, 1000: 0.45}[k])
        per_sample, cl = cluster_samples(x, pts, cfg, T_END)
        cl["members"] = [
            per_sample.loc[per_sample.cluster == c, "sample"].to_numpy() for c in cl.cluster
        ]
        for name, value in copy_summary(x, pts, cfg.criterion(pts, T_END)).items():
            cl[name] = value
        write_parquet(
            pd.DataFrame({"sample": np.arange(len(x)), "x": x[:, 0], "y": x[:, 1]}),
            d / f"samples{k}.parquet",
            provenance={},
        )
        write_parquet(cl, d / f"clusters{k}.parquet", provenance={})
        e = finite_energy(grid, pts, beta)
        write_parquet(
            _grid_table(e, np.zeros_like(grid), grid, t_e=T_E),
            d / f"energy{k}.parquet",
            provenance={},
        )
        ec = finite_energy(cl[["cx", "cy"]].to_numpy(), pts, beta)
        # stored in reverse cluster order: the figure must match by cluster id
        write_parquet(
            pd.DataFrame({"cluster": cl["cluster"][::-1], "energy": ec[::-1]}),
            d / f"centres{k}.parquet",
            provenance={},
        )
        for name, ext in (
            ("samples", "samples"),
            ("clusters", "clusters"),
            ("energy", "energy"),
            ("centres", "centres"),
        ):
            paths[name][k] = str(d / f"{ext}{k}.parquet")
    for b in (beta, 20.0):
        r = np.linalg.norm(grid, axis=1)
        write_parquet(
            _grid_table(circle_energy(r, b), circle_score(grid, b), grid, beta=b),
            d / f"exact_beta{b:g}.parquet",
            provenance={},
        )

    def tables(name, ks):
        return {k: read_parquet(paths[name][k]) for k in ks}

    def inputs(beta_exact):
        return CircleTables(
            split=read_parquet(d / "split.parquet"),
            ks=list(KS),
            samples_net=tables("samples", KS),
            clusters_net=tables("clusters", KS),
            energy=tables("energy", KS),
            energy_centres=tables("centres", KS),
            exact_ks=[2, 9],
            samples_exact=tables("samples", [2, 9]),
            clusters_exact=tables("clusters", [2, 9]),
            energy_exact=read_parquet(d / f"exact_beta{beta_exact:g}.parquet"),
            max_points=3000,
        )

    return inputs, paths


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_one_temperature_one_colour_scale_and_centre_energies(planted):
    inputs, paths = planted
    fig = circle_figure(inputs(1 / (2 * T_E)))
    try:
        assert "one temperature" in fig._suptitle.get_text()
        bars = _colorbars(fig)
        assert len(bars) == 1 and "β = 10" in bars[0].get_ylabel()
        axes = np.array(fig.axes[:9]).reshape(3, 3)
        # K = 9 energy panel: annotations are the centre table's energies, min-subtracted
        cl = pd.read_parquet(paths["clusters"][9])
        want = centre_energies(cl, pd.read_parquet(paths["centres"][9]))
        got = [float(t) for t in _texts(axes[1, 1])]
        np.testing.assert_allclose(got, np.round(want, 2))
        assert min(got) == 0.0
        # copy statistics: exact-score samples are all copies; K = 1000 reports ring statistics
        assert any(t.startswith("100 % copies") for t in _texts(axes[2, 0]))
        assert any(t.startswith("100 % copies") for t in _texts(axes[2, 1]))
        assert any(t.startswith("ring:") for t in _texts(axes[0, 2]))
        # K = 1000: the training ring and the many centres are small and UNDER the samples
        samples_layer = max(
            c.get_zorder() for c in axes[0, 2].collections if len(c.get_offsets()) >= 1500
        )
        small = [c for c in axes[0, 2].collections if len(c.get_offsets()) < 1500]
        assert small and all(c.get_zorder() < samples_layer for c in small)
        assert all(np.max(c.get_sizes()) <= 10 for c in small)
    finally:
        plt.close(fig)


def test_different_temperatures_get_separate_colour_scales(planted):
    inputs, _ = planted
    fig = circle_figure(inputs(20.0))  # the official code's beta = 20, i.e. t = 0.025 != t_E
    try:
        assert "separate colour scales" in fig._suptitle.get_text()
        assert len(_colorbars(fig)) == 4  # 3 learned panels + the closed form
        titles = [ax.get_title() for ax in fig.axes]
        assert any("β = 20" in t and "0.025" in t for t in titles)
        assert sum("β = 10" in t for t in titles) == 3
    finally:
        plt.close(fig)

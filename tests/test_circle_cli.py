"""circle-* subcommands end to end on tiny settings: files, columns, provenance, --help."""

import numpy as np
import pytest
import torch

from memgen.cli import build_parser, main
from memgen.io import read_parquet, read_provenance

torch.set_num_threads(1)
COMMANDS = [
    "circle-data",
    "circle-train",
    "circle-sample",
    "circle-cluster",
    "circle-energy",
    "circle-energy-centres",
    "circle-energy-exact",
    "circle-figure",
]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([cmd, "--help"])
    assert exc.value.code == 0
    assert "--" in capsys.readouterr().out


def test_tiny_pipeline(tmp_path):
    r = tmp_path / "circle"
    split = str(r / "split.parquet")
    assert (
        main(
            [
                "circle-data",
                "--pool-size",
                "500",
                "--ks",
                "2",
                "9",
                "--pool-out",
                str(r / "pool.parquet"),
                "--split-out",
                split,
            ]
        )
        == 0
    )
    for k in (2, 9):
        d = r / f"K{k}"
        assert (
            main(
                [
                    "circle-train",
                    "--split",
                    split,
                    "--k",
                    str(k),
                    "--width",
                    "16",
                    "--encoder-blocks",
                    "1",
                    "--decoder-blocks",
                    "1",
                    "--fourier-features",
                    "4",
                    "--iterations",
                    "20",
                    "--log-every",
                    "10",
                    "--no-progress",
                    "--model-out",
                    str(d / "model.pt"),
                    "--log-out",
                    str(d / "train_log.parquet"),
                ]
            )
            == 0
        )
        for kind in ("net", "exact"):
            extra = ["--checkpoint", str(d / "model.pt")] if kind == "net" else []
            assert (
                main(
                    [
                        "circle-sample",
                        "--model",
                        kind,
                        "--split",
                        split,
                        "--k",
                        str(k),
                        "--n-samples",
                        "100",
                        "--steps",
                        "20",
                        "--t-end",
                        "0.05",
                        "--no-progress",
                        "--out",
                        str(d / f"samples_{kind}.parquet"),
                        *extra,
                    ]
                )
                == 0
            )
            assert (
                main(
                    [
                        "circle-cluster",
                        "--split",
                        split,
                        "--k",
                        str(k),
                        "--samples",
                        str(d / f"samples_{kind}.parquet"),
                        "--tau",
                        "2.0",
                        "--out",
                        str(d / f"clusters_{kind}.parquet"),
                    ]
                )
                == 0
            )
        assert (
            main(
                [
                    "circle-energy",
                    "--split",
                    split,
                    "--k",
                    str(k),
                    "--checkpoint",
                    str(d / "model.pt"),
                    "--grid",
                    "4",
                    "--rtol",
                    "1e-3",
                    "--atol",
                    "1e-3",
                    "--out",
                    str(d / "energy_grid.parquet"),
                ]
            )
            == 0
        )
        assert (
            main(
                [
                    "circle-energy-centres",
                    "--split",
                    split,
                    "--k",
                    str(k),
                    "--checkpoint",
                    str(d / "model.pt"),
                    "--clusters",
                    str(d / "clusters_net.parquet"),
                    "--rtol",
                    "1e-3",
                    "--atol",
                    "1e-3",
                    "--out",
                    str(d / "energy_centres.parquet"),
                ]
            )
            == 0
        )
    assert (
        main(["circle-energy-exact", "--grid", "5", "--out", str(r / "energy_exact.parquet")]) == 0
    )
    fig = tmp_path / "figures" / "fig2_circle.png"
    assert (
        main(
            [
                "circle-figure",
                "--split",
                split,
                "--ks",
                "2",
                "9",
                "--samples-net",
                *[str(r / f"K{k}/samples_net.parquet") for k in (2, 9)],
                "--clusters-net",
                *[str(r / f"K{k}/clusters_net.parquet") for k in (2, 9)],
                "--energy",
                *[str(r / f"K{k}/energy_grid.parquet") for k in (2, 9)],
                "--energy-centres",
                *[str(r / f"K{k}/energy_centres.parquet") for k in (2, 9)],
                "--exact-ks",
                "2",
                "--samples-exact",
                str(r / "K2/samples_exact.parquet"),
                "--clusters-exact",
                str(r / "K2/clusters_exact.parquet"),
                "--energy-exact",
                str(r / "energy_exact.parquet"),
                "--out",
                str(fig),
            ]
        )
        == 0
    )
    assert fig.exists() and fig.with_suffix(".pdf").exists()
    tables = [r / "pool.parquet", r / "split.parquet", r / "energy_exact.parquet"] + [
        r / f"K{k}/{n}.parquet"
        for k in (2, 9)
        for n in (
            "train_log",
            "samples_net",
            "samples_exact",
            "clusters_net",
            "clusters_exact",
            "energy_grid",
            "energy_centres",
        )
    ]
    for path in tables:
        df = read_parquet(path)
        assert {"experiment", "K", "seed"} <= set(df.columns), path
        assert (df["experiment"] == "circle").all()
        assert read_provenance(path)["experiment"] == "circle"
    split_df = read_parquet(split)
    p2 = split_df[split_df.K == 2].sort_values("position")["index"].to_numpy()
    p9 = split_df[split_df.K == 9].sort_values("position")["index"].to_numpy()
    np.testing.assert_array_equal(p9[:2], p2)
    eg = read_parquet(r / "K9/energy_grid.parquet")
    assert len(eg) == 16 and eg["energy_rel"].min() == 0.0
    cl = read_parquet(r / "K2/clusters_exact.parquet")
    assert sum(len(m) for m in cl["members"]) == 100
    # the copy criterion follows the sampler's end time, read from the samples' provenance
    assert (cl["t_end"] == 0.05).all()
    assert cl["sample_copy_radius"].iloc[0] == pytest.approx(np.sqrt(-2 * 0.05 * np.log(1e-3)))
    ec = read_parquet(r / "K9/energy_centres.parquet")
    cn = read_parquet(r / "K9/clusters_net.parquet")
    assert list(ec["cluster"]) == list(cn["cluster"])
    np.testing.assert_allclose(ec[["cx", "cy"]].to_numpy(), cn[["cx", "cy"]].to_numpy())
    assert ec["energy_rel"].min() == 0.0 and np.isfinite(ec["energy"]).all()


def test_sample_net_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    split = str(tmp_path / "split.parquet")
    main(
        [
            "circle-data",
            "--pool-size",
            "50",
            "--ks",
            "2",
            "--pool-out",
            str(tmp_path / "pool.parquet"),
            "--split-out",
            split,
        ]
    )
    assert (
        main(
            [
                "circle-sample",
                "--model",
                "net",
                "--split",
                split,
                "--k",
                "2",
                "--out",
                str(tmp_path / "s.parquet"),
            ]
        )
        == 2
    )
    assert "--checkpoint" in capsys.readouterr().err

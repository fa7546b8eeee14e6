"""circle-* subcommands end to end on tiny settings: files, columns, provenance, --help."""

import json

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


def _json(**section) -> str:
    return json.dumps(section)


def test_tiny_pipeline(tmp_path):
    r = tmp_path / "circle"
    split = str(r / "split.parquet")
    data = _json(pool_size=500, ks=[2, 9])
    assert main(["circle-data", "--circle-config", data, "--pool-out", str(r / "pool.parquet"),
                 "--split-out", split]) == 0  # fmt: skip
    model = _json(width=16, encoder_blocks=1, decoder_blocks=1, fourier_features=4)
    # per-K lists are aligned with the split's ks and resolved for --k
    train = _json(iterations=[20, 30], log_every=10, device="cpu")
    sample = _json(n_samples=[100, 120], steps=20, t_end=0.05, device="cpu")
    exact = _json(n_samples=100, steps=20)
    energy = _json(grid=4, rtol=1e-3, atol=1e-3, device="cpu")
    for k in (2, 9):
        d = r / f"K{k}"
        assert main(["circle-train", "--split", split, "--k", str(k), "--model-config", model,
                     "--train-config", train, "--no-progress", "--model-out", str(d / "model.pt"),
                     "--log-out", str(d / "train_log.parquet")]) == 0  # fmt: skip
        for kind in ("net", "exact"):
            extra = ["--checkpoint", str(d / "model.pt")] if kind == "net" else []
            assert main(["circle-sample", "--model", kind, "--split", split, "--k", str(k),
                         "--sample-config", sample, "--exact-config", exact, "--no-progress",
                         "--out", str(d / f"samples_{kind}.parquet"), *extra]) == 0  # fmt: skip
            assert main(["circle-cluster", "--split", split, "--k", str(k),
                         "--samples", str(d / f"samples_{kind}.parquet"),
                         "--cluster-config", _json(tau=2.0),
                         "--out", str(d / f"clusters_{kind}.parquet")]) == 0  # fmt: skip
        assert main(["circle-energy", "--split", split, "--k", str(k), "--checkpoint",
                     str(d / "model.pt"), "--energy-config", energy,
                     "--out", str(d / "energy_grid.parquet")]) == 0  # fmt: skip
        assert main(["circle-energy-centres", "--split", split, "--k", str(k), "--checkpoint",
                     str(d / "model.pt"), "--clusters", str(d / "clusters_net.parquet"),
                     "--energy-config", energy,
                     "--out", str(d / "energy_centres.parquet")]) == 0  # fmt: skip
    assert main(["circle-energy-exact", "--energy-config", _json(grid=5),
                 "--out", str(r / "energy_exact.parquet")]) == 0  # fmt: skip
    fig = tmp_path / "figures" / "fig2_circle.png"
    assert main([
        "circle-figure", "--split", split,
        "--samples-net", *[str(r / f"K{k}/samples_net.parquet") for k in (2, 9)],
        "--clusters-net", *[str(r / f"K{k}/clusters_net.parquet") for k in (2, 9)],
        "--energy", *[str(r / f"K{k}/energy_grid.parquet") for k in (2, 9)],
        "--energy-centres", *[str(r / f"K{k}/energy_centres.parquet") for k in (2, 9)],
        "--exact-config", _json(ks=[2]),
        "--samples-exact", str(r / "K2/samples_exact.parquet"),
        "--clusters-exact", str(r / "K2/clusters_exact.parquet"),
        "--energy-exact", str(r / "energy_exact.parquet"),
        "--figure-config", _json(max_points=50), "--plots-config", _json(dpi=60),
        "--out", str(fig),
    ]) == 0  # fmt: skip
    # the sections' per-K values were resolved for each K
    assert len(read_parquet(r / "K2/samples_net.parquet")) == 100
    assert len(read_parquet(r / "K9/samples_net.parquet")) == 120
    assert list(read_parquet(r / "K9/train_log.parquet")["step"]) == [10, 20, 30]
    blob = torch.load(r / "K9/model.pt", weights_only=True)
    assert blob["train_config"]["iterations"] == 30 and blob["model_config"]["width"] == 16
    assert read_provenance(r / "K9/samples_net.parquet")["sample"]["n_samples"] == 120
    # K -> inf energy at the default auto temperature 1 / (2 t_E) = 10
    assert (read_parquet(r / "energy_exact.parquet")["beta"] == 10.0).all()
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
            "--circle-config",
            _json(pool_size=50, ks=[2]),
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


def _data(tmp_path, ks) -> str:
    split = str(tmp_path / "split.parquet")
    assert main(["circle-data", "--circle-config", _json(pool_size=50, ks=ks),
                 "--pool-out", str(tmp_path / "pool.parquet"), "--split-out", split]) == 0  # fmt: skip
    return split


def test_per_k_list_of_the_wrong_length_is_a_clear_error(tmp_path, capsys):
    split = _data(tmp_path, [2, 9])
    code = main(["circle-train", "--split", split, "--k", "2",
                 "--train-config", _json(iterations=[10, 20, 30]),
                 "--model-out", str(tmp_path / "m.pt"), "--log-out", str(tmp_path / "l.parquet")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "circle.train.iterations" in err and "ks has 2 ([2, 9])" in err
    assert not (tmp_path / "m.pt").exists()


def test_unknown_section_key_is_a_clear_error(tmp_path, capsys):
    split = _data(tmp_path, [2])
    code = main(["circle-train", "--split", split, "--k", "2", "--train-config", _json(iters=5),
                 "--model-out", str(tmp_path / "m.pt"), "--log-out", str(tmp_path / "l.parquet")])  # fmt: skip
    assert code == 2 and "unknown circle.train config keys ['iters']" in capsys.readouterr().err


def test_sections_are_registered_with_schema_defaults():
    """Each circle schema section has one dataclass whose defaults are the schema's."""
    from pathlib import Path

    import yaml

    import memgen.cli.circle  # noqa: F401  (registers circle.figure)
    from memgen.sections import SECTIONS

    schema = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "workflow/schemas/circle.schema.yaml").read_text()
    )["properties"]
    names = [n for n, v in schema.items() if v.get("type") == "object"]
    assert sorted(names) == ["cluster", "energy", "exact", "figure", "model", "sample", "train"]
    for name in names:
        cls = SECTIONS[f"circle.{name}"]
        props = schema[name]["properties"]
        assert set(cls().to_dict()) == set(props), name
        for key, value in cls().to_dict().items():
            assert value == props[key]["default"], f"circle.{name}.{key}"
    data = SECTIONS["circle"]().to_dict()
    assert data == {key: schema[key]["default"] for key in data}

"""One config contract per stage: the schema's defaults are the dataclasses' defaults, and a command
run by hand without config uses exactly them.

Every section of the workflow schemas has one frozen dataclass registered with ``@section``
(memgen.sections.SECTIONS); its fields are the schema's properties and its field defaults the
schema's defaults (same values, same JSON types). Stage commands take their sections as
``--<name>-config`` and hold no defaults of their own.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import pkgutil
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import memgen
from memgen.cli import build_parser, main
from memgen.io import read_parquet, read_provenance, write_parquet
from memgen.sections import SECTIONS

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "workflow" / "schemas"

# Sections whose dataclasses the circle / analysis refactor registers; the integrator empties this.
PENDING: set[str] = set()  # sections whose dataclass is still to be written (none)
# Figure commands (and their rules) that the circle / analysis refactor switches to --plots-config,
# and the commands of those stages, whose sections are pending above.
PENDING_COMMANDS = re.compile(r"^(circle-.*|basins.*|curvature.*|energy.*)$")
PENDING_RULE_FILES = {"circle.smk", "basins.smk", "curvature.smk", "energy.smk"}
# The two identifiers of a per-K command (not config values).
# (--ks: the K of each input table, i.e. which files a command reads, not a setting.)
IDENTIFIERS = {"experiment", "k", "ks"}


def _import_all() -> None:
    """Import every memgen module so that every @section decorator has run."""
    for info in pkgutil.walk_packages(memgen.__path__, "memgen."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


_import_all()


# Top-level keys whose entries (audit.<name>) have a schema file of their own.
ENTRY_SCHEMAS = {"audit": "audit.schema.yaml", "sd_curvature": "sd_curvature.schema.yaml"}


def _load(name: str) -> dict:
    return yaml.safe_load((SCHEMAS / name).read_text())


def schema_of(path: str) -> dict:
    """The JSON schema of a section path: ``images.*.train``, ``circle.sample``, ``plots``."""
    parts = path.split(".")
    if parts[:2] == ["images", "*"] and len(parts) == 3:
        return _load(f"sections/{parts[2]}.schema.yaml")
    if parts[0] == "circle":
        node = _load("circle.schema.yaml")
        parts = parts[1:]
    elif parts[0] in ENTRY_SCHEMAS and parts[1:2] == ["*"]:
        node = _load(ENTRY_SCHEMAS[parts[0]])  # one entry of audit.<name> / sd_curvature.<name>
        parts = parts[2:]
    else:
        node = _load("config.schema.yaml")
    for part in parts:
        node = node["properties"][part]
    return node


def schema_sections() -> set[str]:
    """Every object section of the schemas that carries defaults of its own keys."""
    found = {f"images.*.{p.name.removesuffix('.schema.yaml')}"
             for p in (SCHEMAS / "sections").glob("*.schema.yaml")}  # fmt: skip
    found.add("circle")  # the circle schema's own keys (ks, seeds); its sub-sections below
    schemas = [("", _load("config.schema.yaml")), ("circle.", _load("circle.schema.yaml"))]
    schemas += [(f"{key}.*.", _load(name)) for key, name in ENTRY_SCHEMAS.items()]
    for prefix, schema in schemas:
        for key, spec in schema["properties"].items():
            props = spec.get("properties", {})
            if spec.get("type") == "object" and any("default" in p for p in props.values()):
                found.add(prefix + key)
    return found


def _json(value) -> str:
    """Value and JSON type (1 and 1.0 differ: they hash differently in the job fingerprints)."""
    return json.dumps(value, sort_keys=True)


def _field_default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def schema_defaults(path: str) -> dict:
    return {
        k: p["default"]
        for k, p in schema_of(path)["properties"].items()
        if "default" in p and f"{path}.{k}" not in SECTIONS  # nested sections: their own dataclass
    }


@pytest.mark.parametrize("path", sorted(SECTIONS))
def test_dataclass_fields_and_defaults_are_the_schemas(path):
    cls = SECTIONS[path]
    # Nested sections with a dataclass of their own (circle.train inside circle) are not fields.
    props = {
        key: spec
        for key, spec in schema_of(path)["properties"].items()
        if f"{path}.{key}" not in SECTIONS
    }
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == set(props), (
        f"{cls.__name__} fields differ from {path}'s schema properties: only in the dataclass "
        f"{sorted(set(fields) - set(props))}, only in the schema {sorted(set(props) - set(fields))}"
    )
    for key, spec in props.items():
        default = _field_default(fields[key])
        if "default" not in spec:
            assert default is dataclasses.MISSING, f"{path}.{key}: default only in Python"
            continue
        assert _json(default) == _json(spec["default"]), (
            f"{path}.{key}: dataclass default {default!r} != schema default {spec['default']!r}"
        )
    # and the defaults are a valid instance, equal to the schema's defaults as a whole
    assert _json(cls().to_dict()) == _json(schema_defaults(path))


def test_every_schema_section_has_one_dataclass():
    missing = schema_sections() - set(SECTIONS) - PENDING
    assert not missing, f"schema sections without a @section dataclass: {sorted(missing)}"
    stale = set(SECTIONS) - schema_sections()
    assert not stale, f"@section paths that are no schema section: {sorted(stale)}"
    assert not PENDING & set(SECTIONS), "registered now: remove from PENDING"


def test_unknown_key_is_an_error_naming_it():
    from memgen.sample import SampleConfig

    with pytest.raises(ValueError, match=r"unknown images\.<E>\.sample config keys \['ratoi'\]"):
        SampleConfig.from_dict({"ratoi": 8})


def _subcommands():
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_stage_commands_hold_no_config_defaults_of_their_own():
    """Config values reach a command only inside its sections: no flag repeats a section key, and an
    omitted section is the empty one (= the dataclass defaults)."""
    keys = {f.name for path, cls in SECTIONS.items() if path.startswith(("images.", "plots"))
            for f in dataclasses.fields(cls)}  # fmt: skip
    checked = 0
    for name, p in _subcommands().items():
        if PENDING_COMMANDS.match(name):
            continue
        for action in p._actions:
            if not action.option_strings or action.dest == "help":
                continue
            if action.dest.endswith("_config"):
                assert action.default in (None, "{}"), (name, action.dest, action.default)
                checked += 1
            else:
                assert action.dest in IDENTIFIERS or action.dest not in keys, (
                    f"memgen {name} {action.option_strings[0]}: a config key as a flag of its own; "
                    "it belongs in the command's --<section>-config"
                )
    assert checked >= 12


def test_per_k_commands_spell_experiment_and_k_alike():
    for name in ("train", "sample", "neighbors", "classify"):
        p = _subcommands()[name]
        flags = {s for a in p._actions for s in a.option_strings}
        assert {"--experiment", "--k"} <= flags and "--K" not in flags, name


def test_no_figure_setting_travels_through_the_environment():
    for path in (REPO / "src" / "memgen").rglob("*.py"):
        assert "MEMGEN_FIGURE" not in path.read_text(), path
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        if path.name not in PENDING_RULE_FILES:
            assert "MEMGEN_FIGURE" not in path.read_text(), path


# ------------------------------------------------------------- commands run by hand, no config


@pytest.fixture(scope="module")
def mlp_dir(tmp_path_factory):
    import torch

    from memgen.models import build_model

    d = tmp_path_factory.mktemp("m") / "model"
    torch.manual_seed(0)
    build_model({"kind": "mlp", "width": 8, "blocks": 1}, (1, 4, 4)).save_pretrained(d)
    return d


def test_sample_by_hand_with_an_empty_section_uses_the_schema_defaults(mlp_dir, tmp_path):
    out, manifest = tmp_path / "s.npy", tmp_path / "s.parquet"
    rc = main(["sample", "--experiment", "e", "--k", "2", "--sample-config", "{}",
               "--model-dir", str(mlp_dir), "--out", str(out), "--manifest", str(manifest),
               "--scratch", str(tmp_path / "scratch"), "--no-progress"])  # fmt: skip
    assert rc == 0
    want = schema_defaults("images.*.sample")
    assert _json(read_provenance(manifest)["config"]) == _json(want)
    m = read_parquet(manifest)
    assert len(m) == want["ratio"] * 2 == np.load(out).shape[0]  # paper: |S| = 4 K
    assert set(m["sampler"]) == {want["sampler"]} and set(m["steps"]) == {want["steps"]}


def test_sample_by_hand_with_a_misspelt_key_fails_before_any_work(mlp_dir, tmp_path, capsys):
    rc = main(["sample", "--experiment", "e", "--k", "2", "--sample-config", '{"ratoi": 8}',
               "--model-dir", str(mlp_dir), "--out", str(tmp_path / "s.npy"),
               "--manifest", str(tmp_path / "s.parquet"), "--scratch", str(tmp_path / "scratch")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "['ratoi']" in err and "'ratio'" in err
    assert list(tmp_path.iterdir()) == []


def _classes_table(k: int, rng) -> pd.DataFrame:
    n = 4 * k
    d_train, d_synth = rng.uniform(0.1, 3.0, n), rng.uniform(0.1, 3.0, n)
    cls = np.where(d_train <= 1.0, "memorized", np.where(d_synth <= 1.0, "spurious", "generalized"))
    return pd.DataFrame({"experiment": "e", "K": k, "sample": np.arange(n), "d_train": d_train,
                         "d_synth": d_synth, "class": cls, "delta_m": 1.0, "delta_s": 1.0})  # fmt: skip


def test_fractions_by_hand_use_the_schema_factors_and_bins(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for k in (2, 8):
        paths.append(tmp_path / f"c{k}.parquet")
        write_parquet(_classes_table(k, rng), paths[-1])
    out = {n: tmp_path / f"{n}.parquet" for n in ("fractions", "sensitivity", "histograms", "sweep")}
    assert main(["fractions", "--experiment", "e", "--classes", *map(str, paths),
                 "--out", str(out["fractions"]), "--sensitivity-out", str(out["sensitivity"]),
                 "--histograms-out", str(out["histograms"]), "--sweep-out", str(out["sweep"])]) == 0  # fmt: skip
    th, cl = schema_defaults("images.*.thresholds"), schema_defaults("images.*.classify")
    assert sorted(read_parquet(out["sweep"])["scale"].unique()) == th["sweep"]
    sens = read_parquet(out["sensitivity"])
    assert sorted(sens.loc[sens["scaled"] == "delta_m", "scale"].unique()) == th["sensitivity"]
    hist = read_parquet(out["histograms"])
    assert (hist.groupby(["K", "distance"]).size() == cl["hist_bins"]).all()
    prov = read_provenance(out["fractions"])
    assert _json(prov["classify"]) == _json(cl) and _json(prov["thresholds"]) == _json(th)


def test_neighbors_by_hand_keep_the_schema_k(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "ref.npy", rng.uniform(-1, 1, (20, 4, 4, 1)).astype(np.float32))
    np.save(tmp_path / "q.npy", rng.uniform(-1, 1, (6, 4, 4, 1)).astype(np.float32))
    out = tmp_path / "nn.parquet"
    assert main(["neighbors", "--experiment", "e", "--k", "20", "--reference", str(tmp_path / "ref.npy"),
                 "--queries", str(tmp_path / "q.npy"), "--out", str(out)]) == 0  # fmt: skip
    nn, want = read_parquet(out), schema_defaults("images.*.neighbors")
    assert len(nn) == 6 * want["k"] and set(nn["metric"]) == {want["metric"]}
    assert set(nn["K"]) == {20} and set(nn["experiment"]) == {"e"}
    assert read_provenance(out)["impl_version"] == want["impl_version"]


# ------------------------------------------------------------- a key reruns only its consumers


@pytest.mark.slow  # a tiny run of its own (~90 s); make test-slow
@pytest.mark.parametrize(
    "change, want",
    [
        # figure-only keys of the thresholds and classify sections: the figure alone
        ({"thresholds": {"band": [0.7, 1.3]}}, {"classify_figure"}),
        ({"classify": {"examples_per_class": 2}}, {"classify_figure"}),
        # the sweep factors rescale the chosen thresholds downstream: fractions (+ its figure)
        ({"thresholds": {"sweep": [0.5, 1.0, 1.5]}}, {"fractions", "classify_figure"}),
    ],
    ids=["band", "examples", "sweep"],
)
def test_a_section_key_reruns_only_the_rules_that_use_it(tiny_copy, change, want):
    from conftest import DEMO, TINY, planned_jobs

    overlay = tiny_copy / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"images": {"digits": change}}))
    assert set(planned_jobs(tiny_copy, configfiles=(DEMO, TINY, overlay))) == want


def test_neighbour_count_does_not_rerun_the_pool_null(tiny_copy):
    from conftest import DEMO, TINY, planned_jobs

    overlay = tiny_copy / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"images": {"digits": {"neighbors": {"k": 3}}}}))
    jobs = planned_jobs(tiny_copy, configfiles=(DEMO, TINY, overlay))
    assert {"neighbors_train", "neighbors_synth", "thresholds", "classify"} <= set(jobs), jobs
    assert not {"pool_null", "split", "train", "sample"} & set(jobs), jobs

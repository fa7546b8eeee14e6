"""docs/config.md documents every config key; it must match the schemas it is generated from."""

from pathlib import Path

import yaml

from memgen.configdoc import render

REPO = Path(__file__).resolve().parents[1]


def test_config_reference_is_up_to_date():
    expected = render(REPO / "workflow" / "schemas")
    current = (REPO / "docs" / "config.md").read_text()
    assert current == expected, "docs/config.md is stale: run `memgen config-docs` from the repo root"


def test_every_schema_key_has_a_description():
    missing = []
    for path in (REPO / "workflow" / "schemas").rglob("*.schema.yaml"):
        schema = yaml.safe_load(path.read_text())

        def walk(props, prefix, path=path):
            for key, spec in props.items():
                if "description" not in spec:
                    missing.append(f"{path.name}: {prefix}{key}")
                if isinstance(spec, dict) and "properties" in spec:
                    walk(spec["properties"], f"{prefix}{key}.")

        walk(schema.get("properties", {}), "")
    assert not missing, missing

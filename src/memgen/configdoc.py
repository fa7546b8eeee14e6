"""Render the config schemas (workflow/schemas/) as a Markdown reference, one table per section.

`memgen config-docs` writes docs/config.md; a test keeps it in sync with the schemas, so every
config key's description and paper default is documented in one place.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

SECTION_ORDER = [
    "model",
    "train",
    "sample",
    "neighbors",
    "thresholds",
    "classify",
    "analysis",
    "basins",
    "curvature",
    "energy",
    "kgrid",
    "snapshots",
]


def _fmt(value) -> str:
    if value is None:
        return ""
    return "`" + json.dumps(value) + "`"


def _type(spec: dict) -> str:
    if "enum" in spec:
        return " \\| ".join(str(v) for v in spec["enum"])
    if "oneOf" in spec or "anyOf" in spec:
        return " or ".join(_type(s) for s in spec.get("oneOf", spec.get("anyOf")))
    t = spec.get("type", "")
    if t == "array" and isinstance(spec.get("items"), dict):
        return f"list of {_type(spec['items'])}"
    return t if isinstance(t, str) else " or ".join(t)


def _rows(props: dict, prefix: str) -> list[str]:
    rows = []
    for key, spec in props.items():
        name = f"{prefix}{key}"
        desc = " ".join(str(spec.get("description", "")).split())
        rows.append(f"| `{name}` | {_type(spec)} | {_fmt(spec.get('default'))} | {desc} |")
        if spec.get("type") == "object" and "properties" in spec:
            rows += _rows(spec["properties"], f"{name}.")
    return rows


def _table(schema: dict, prefix: str) -> str:
    head = "| key | type | default (paper) | description |\n|---|---|---|---|\n"
    return head + "\n".join(_rows(schema.get("properties", {}), prefix)) + "\n"


def render(schema_dir: str | Path) -> str:
    schema_dir = Path(schema_dir)

    def load(name):
        return yaml.safe_load((schema_dir / name).read_text())

    parts = [
        "# Configuration reference\n",
        "Generated from `workflow/schemas/` by `memgen config-docs` (do not edit by hand). Defaults are "
        "the paper's values; `config.yaml` lists only what differs per data set, and "
        "`workflow/configs/demo.yaml` the CPU demo's values.\n",
        "## Top level\n",
        _table(load("config.schema.yaml"), ""),
        "## `circle` (toy 2-D experiment)\n",
        _table(load("circle.schema.yaml"), "circle."),
        "## `images.<name>` (one image experiment)\n",
        _table(load("image.schema.yaml"), ""),
    ]
    for section in SECTION_ORDER:
        path = schema_dir / "sections" / f"{section}.schema.yaml"
        if path.exists():
            parts += [
                f"### `images.<name>.{section}`\n",
                _table(load(path.relative_to(schema_dir)), f"{section}."),
            ]
    parts += [
        "## `audit.<name>` (an audit of your own model, `memgen audit`)\n",
        _table(load("audit.schema.yaml"), ""),
        "## `sd_curvature.<name>` (Stable Diffusion case study, `memgen sd-curvature`)\n",
        _table(load("sd_curvature.schema.yaml"), ""),
    ]
    return "\n".join(parts)

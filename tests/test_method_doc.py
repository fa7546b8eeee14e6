"""docs/method.md is the method's reference: every "method.md §X" cited anywhere in the repository must
name a section (or an official-code defect, §10.n) that the page has, and the page must document the
config keys it names."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
METHOD = REPO / "docs" / "method.md"
SEARCHED = ["src", "workflow", "tests", "docs", "benchmarks", "README.md", "config.yaml", "Snakefile"]
SUFFIXES = {".py", ".smk", ".yaml", ".yml", ".md", ".rst", ""}
# "method.md §4.4", "method.md §2.1, §4.4", "method.md §6–8", "method.md §3.2-3.3"
CITATION = re.compile(r"method(?:\.md)? (§[\d.]+(?:\s*[-–]\s*[\d.]+)?(?:, §[\d.]+(?:\s*[-–]\s*[\d.]+)?)*)")


def sections() -> set[str]:
    text = METHOD.read_text()
    heads = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, flags=re.M))
    defects = set(re.findall(r"^- \*\*§(10\.\d+) ", text, flags=re.M))
    return heads | defects


def citations():
    for entry in SEARCHED:
        base = REPO / entry
        files = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for f in files:
            if not f.is_file() or f.suffix not in SUFFIXES or ".venv" in f.parts or f == METHOD:
                continue
            try:
                text = f.read_text()
            except UnicodeDecodeError:
                continue
            for i, line in enumerate(text.splitlines(), 1):
                for m in CITATION.finditer(line):
                    for ref in re.findall(r"§([\d.]+)(?:\s*[-–]\s*([\d.]+))?", m.group(1)):
                        for number in filter(None, ref):
                            yield f"{f.relative_to(REPO)}:{i}", number.rstrip(".")


def test_sections_are_numbered_and_defects_labelled():
    have = sections()
    assert {str(n) for n in range(1, 14)} <= have
    assert {f"10.{n}" for n in range(1, 16)} <= have
    assert {"2.1", "2.2", "3.4", "4.4", "5.4", "8.3", "13.2"} <= have


def test_every_method_citation_resolves():
    have = sections()
    cited = list(citations())
    assert any(where.startswith("docs/api.md") for where, _ in cited)  # the scan sees the docs
    broken = [f"{where}: §{number}" for where, number in cited if number not in have]
    assert not broken, "citations of docs/method.md sections that do not exist:\n" + "\n".join(broken)


def test_config_keys_named_in_the_method_exist():
    """Backticked dotted keys of the stage sections (`train.lr`, `basins.delta`, ...) are schema keys."""
    schemas = REPO / "workflow" / "schemas"
    known = set()

    def walk(props, prefix):
        for key, spec in props.items():
            known.add(prefix + key)
            if isinstance(spec, dict) and "properties" in spec:
                walk(spec["properties"], f"{prefix}{key}.")

    for path in schemas.rglob("*.schema.yaml"):
        schema = yaml.safe_load(path.read_text())
        name = path.name.removesuffix(".schema.yaml")
        prefix = "" if name in ("config", "image") else f"{name}."
        walk(schema.get("properties", {}), prefix)
    sections_ = {k.split(".")[0] for k in known}
    named = set(re.findall(r"`([a-z_]+(?:\.[a-z_0-9]+)+)(?::[^`]*)?`", METHOD.read_text()))
    keys = {k for k in named if k.split(".")[0] in sections_ and not k.startswith("memgen")}
    assert len(keys) > 60, sorted(keys)
    unknown = sorted(k for k in keys if k not in known)
    assert not unknown, f"docs/method.md names config keys the schemas do not have: {unknown}"


def test_memgen_names_in_the_method_exist():
    """`memgen.x.y` names (modules or functions) resolve, so the page follows renames."""
    import importlib

    names = sorted(set(re.findall(r"`(memgen(?:\.\w+)+)`", METHOD.read_text())))
    assert len(names) > 10
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            module, _, attr = name.rpartition(".")
            try:
                if not hasattr(importlib.import_module(module), attr):
                    missing.append(name)
            except ModuleNotFoundError:
                missing.append(name)
    assert not missing, f"docs/method.md names what memgen does not have: {missing}"

"""memgen subcommands that document the pipeline itself (config reference)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _config_docs(args: argparse.Namespace) -> int:
    from memgen.configdoc import render
    from memgen.io import write_text

    text = render(args.schemas)
    if args.check:
        current = Path(args.out).read_text() if Path(args.out).exists() else ""
        if current != text:
            raise ValueError(f"{args.out} is out of date with {args.schemas}; run `memgen config-docs`")
        return 0
    write_text(text, args.out)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "config-docs",
        help="write the Markdown config reference (docs/config.md) from the schemas",
        description="Render workflow/schemas/*.yaml as Markdown tables (key, type, paper default, description).",
    )
    p.add_argument("--schemas", default="workflow/schemas", help="schema folder (default: %(default)s)")
    p.add_argument("--out", default="docs/config.md", help="output Markdown file (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="only check that --out is up to date (exit 2 if not)")
    p.set_defaults(func=_config_docs)

"""The command line: every subcommand documents itself, and dispatch stays light."""

import subprocess
import sys

from memgen.cli import build_parser


def test_every_subcommand_has_help_for_every_argument():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert len(sub.choices) >= 10
    for name, p in sub.choices.items():
        assert p.description or p.format_usage(), name
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"memgen {name}: argument {action.option_strings or action.dest} has no help"


def test_building_the_parser_imports_no_heavy_library():
    # Every job pays for the imports of the dispatcher: torch/lpips/matplotlib load only when used.
    code = (
        "import sys, memgen.cli; memgen.cli.build_parser(); "
        "print(' '.join(m for m in ('torch', 'lpips', 'torchvision', 'matplotlib', 'diffusers', 'sklearn')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

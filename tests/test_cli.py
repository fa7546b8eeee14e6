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


def test_stage_command_modules_import_no_numpy_or_pandas():
    # `memgen --help` and every job's argument parsing pay for these imports (pandas alone is most of
    # a --help); commands import them when they run. The circle CLI still imports both at module
    # level: it is left out until the circle refactor makes them lazy.
    code = (
        "import argparse, sys, importlib, memgen.cli as c\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "for name in c.STAGE_MODULES:\n"
        "    if name != 'memgen.cli.circle':\n"
        "        importlib.import_module(name).register(sub)\n"
        "print(' '.join(m for m in ('numpy', 'pandas', 'scipy', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_config_key_reaches_the_user_as_one_line(capsys):
    from memgen.cli import main

    rc = main(["kgrid", "--experiment", "e", "--fractions", "f.parquet", "--n", "100",
               "--kgrid-config", '{"sparse_begin": 5}', "--out", "k.parquet"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith("memgen kgrid: error: unknown images.<E>.kgrid config keys ['sparse_begin']")

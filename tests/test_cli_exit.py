"""The ``memgen`` executable exits without the interpreter's teardown, losing no output or exit code."""

import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

# An atexit hook marks whether the interpreter's ordinary teardown ran.
PROGRAM = (
    "import atexit, logging, sys\n"
    "atexit.register(lambda: sys.stdout.write('TEARDOWN\\n'))\n"
    "from memgen.cli import console\n"
    "sys.argv = ['memgen'] + sys.argv[1:]\n"
    "console()\n"
)


def run(*args, full_exit=False):
    env = {k: v for k, v in os.environ.items() if k != "MEMGEN_FULL_EXIT"}
    if full_exit:
        env["MEMGEN_FULL_EXIT"] = "1"
    return subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True,
                          env=env)  # fmt: skip


def test_the_installed_executable_is_the_fast_exit_entry_point():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "memgen"]
    assert script.value == "memgen.cli:console"


def test_help_is_complete_and_exits_zero_without_teardown():
    out = run("--help")
    assert out.returncode == 0
    assert "usage: memgen" in out.stdout and "COMMAND" in out.stdout
    assert "TEARDOWN" not in out.stdout


def test_full_exit_on_request_runs_the_ordinary_teardown():
    out = run("--help", full_exit=True)
    assert out.returncode == 0 and "TEARDOWN" in out.stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["no-such-command"], 2, "invalid choice: 'no-such-command'"),
        # a user-facing error: one line on stderr and exit code 2
        (["kgrid", "--experiment", "e", "--fractions", "f.parquet", "--n", "100",
          "--kgrid-config", '{"sparse_begin": 5}', "--out", "k.parquet"], 2,
         "memgen kgrid: error: unknown images.<E>.kgrid config keys ['sparse_begin']"),
    ],
)  # fmt: skip
def test_errors_keep_their_message_and_exit_code(args, code, message):
    out = run(*args)
    assert out.returncode == code
    assert message in out.stderr
    assert "TEARDOWN" not in out.stdout


def test_log_lines_written_before_the_exit_reach_a_redirected_log(tmp_path):
    # Pipeline jobs redirect stdout and stderr to a log file: nothing buffered may be lost.
    program = (
        "import logging, sys\n"
        "from memgen import cli\n"
        "def fake_main(argv=None):\n"
        "    logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "    logging.getLogger('memgen.x').info('last words')\n"
        "    print('stdout line', end='')\n"
        "    return 3\n"
        "cli.main = fake_main\n"
        "cli.console()\n"
    )
    log = tmp_path / "job.log"
    with open(log, "w") as fh:
        rc = subprocess.run([sys.executable, "-c", program], stdout=fh, stderr=subprocess.STDOUT).returncode
    assert rc == 3
    text = log.read_text()
    assert "last words" in text and "stdout line" in text

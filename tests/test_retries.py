"""Only what can succeed on retry is retried: a data error fails once under the cluster profile's
retry settings, also in a rule that retries; time-outs, kills and crashes are retried with more
time and memory per attempt."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import numpy as np
import yaml
from conftest import DEMO, REPO, TINY, snakemake
from snakemake.profiles import ProfileConfigFileParser

from memgen import retry

RULES = REPO / "workflow" / "rules"


def _profile() -> dict:
    with open(REPO / "slurm" / "config.yaml") as stream:
        return dict(ProfileConfigFileParser().parse(stream))


def _profile_retries() -> int:
    return int(_profile()["retries"])


def _rule_bodies() -> dict[str, str]:
    bodies = {}
    for smk in RULES.glob("*.smk"):
        for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)*)", smk.read_text(), re.M):
            bodies[rule] = body
    return bodies


def _rules_with_retries() -> dict[str, int]:
    found = {}
    for smk in RULES.glob("*.smk"):
        for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)*)", smk.read_text(), re.M):
            m = re.search(r"^    retries: (\d+)$", body, re.M)
            if m:
                found[rule] = int(m.group(1))
    return found


def test_a_data_error_fails_once_with_the_cluster_retry_settings(tmp_path):
    data = tmp_path / "data"
    raw = data / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((20, 28, 28), np.uint8)
    header = bytes([0, 0, 8, 3]) + np.array(images.shape, ">u4").tobytes()
    (raw / "train-images-idx3-ubyte").write_bytes(header + images.tobytes()[:1000])  # truncated
    overlay = tmp_path / "mnist.yaml"
    overlay.write_text(yaml.safe_dump({"experiments": ["mnist"], "data_root": str(data),
                                       "images": {"mnist": {"ks": [2, 5]}}}))  # fmt: skip
    proc = snakemake(
        tmp_path, "--cores", "1", "--retries", str(_profile_retries()),
        "results/tiny/mnist/split.parquet", configfiles=(DEMO, TINY, overlay), check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Trying to restart job" not in out, "a deterministic data error was retried"
    assert out.count("Error in rule split:") == 1
    log = (tmp_path / "results/tiny/logs/split/mnist.log").read_text()
    assert "train-images-idx3-ubyte" in log


def test_only_rules_that_scale_with_attempt_retry():
    retried = _rules_with_retries()
    assert set(retried) == {"train", "sample", "basins"}, retried
    helpers = "\n".join(p.read_text() for p in RULES.glob("*.smk"))
    for rule in retried:
        for resource in ("runtime", "mem_mb"):
            m = re.search(rf"def {rule}_{resource}\(wildcards, attempt\):\n((?:    .*\n)+)", helpers)
            assert m, (rule, resource)
            assert f'sizing_attempt("{rule}", wildcards, attempt)' in m.group(1), (rule, resource)


def test_retried_rules_and_their_group_members_run_through_the_retry_wrapper():
    retried = set(_rules_with_retries())
    groups = dict(entry.split("=", 1) for entry in _profile()["groups"])
    members = {r for r, g in groups.items() if g in {groups.get(x) for x in retried}}
    bodies = _rule_bodies()
    wrapped = {r for r, b in bodies.items() if "python -m memgen.retry --attempt {resources.attempt}" in b}
    assert retried | members == wrapped, (retried | members) ^ wrapped
    for rule in wrapped:
        assert "attempt=attempt_number" in bodies[rule], rule
        assert "--log {log} --inputs {input} -- " in bodies[rule], rule


def _broken_pool(tmp_path):
    """A digits run whose split outputs exist but whose pool is not an array file."""
    run = tmp_path / "results" / "tiny" / "digits"
    run.mkdir(parents=True)
    (run / "train_pool.npy").write_bytes(b"not a numpy file")
    (run / "split.parquet").write_bytes(b"x")


def test_a_data_error_in_a_retried_rule_runs_once(tmp_path):
    """`train` retries (time-outs, out-of-memory), but its data error is reported, not repeated:
    the retries stop at once with the recorded error and ask for no more memory or time."""
    _broken_pool(tmp_path)
    proc = snakemake(
        tmp_path, "--cores", "1", "--retries", str(_profile_retries()),
        "results/tiny/digits/K2/train_log.parquet", check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    attempts = re.findall(r"resources: .*\battempt=(\d+)\b.*", out)
    assert attempts == ["1", "2", "3", "4"], attempts  # the rule's own retries: 3
    # every attempt asks for the first attempt's memory (2000 MB for the digits MLP)
    assert all("mem_mb=2000," in line for line in re.findall(r"resources: .*", out)), out[-3000:]
    log = (tmp_path / "results/tiny/logs/train/digits_K2.log").read_text()
    assert "attempt 4 not run" in log
    # the command itself ran once: its error is in the log once (the last attempt's) and recorded
    error = "memgen train: error: training pool results/tiny/digits/train_pool.npy: not a numeric"
    assert log.count(error) == 1, log
    record = tmp_path / "results/tiny/logs/train/digits_K2.log.user-error"
    assert record.read_text().startswith(error)


def _fake_stage(status: int, message: str) -> list[str]:
    code = f"import sys; print({message!r}, file=sys.stderr); sys.exit({status})"
    return [sys.executable, "-c", code]


def _run_logged(tmp_path, attempt, command, inputs=()):
    """memgen.retry as the rule runs it, in its own process with its output in the job log."""
    log = tmp_path / "job.log"
    argv = [sys.executable, "-m", "memgen.retry", "--attempt", str(attempt), "--log", str(log)]
    argv += ["--inputs", *map(str, inputs), "--", *command]
    with open(log, "w") as fh:
        status = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT).returncode
    return status, log.read_text()


def test_retry_wrapper_stops_a_repeat_of_a_user_error_only(tmp_path):
    user_error = _fake_stage(2, "memgen train: error: pool has 3 images, K = 8 asks for more")
    status, log = _run_logged(tmp_path, 1, user_error)
    assert status == 2 and "K = 8 asks for more" in log
    # the next attempt does not run the command: it reports the recorded error
    ran = tmp_path / "ran"
    status, log = _run_logged(tmp_path, 2, [*user_error[:2], f"open({str(ran)!r}, 'w')"])
    assert status == 2 and not ran.exists()
    assert "attempt 2 not run" in log and "K = 8 asks for more" in log
    # a crash (traceback, exit 1), an out-of-memory kill or a time-out: the retry runs
    for status_, message in ((1, "Traceback ...\nMemoryError"), (-9, ""), (0, "done")):
        command = _fake_stage(1, message) if status_ == 1 else [sys.executable, "-c", "print()"]
        if status_ == -9:
            command = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
        _run_logged(tmp_path, 1, command)
        status, log = _run_logged(tmp_path, 2, [sys.executable, "-c", f"open({str(ran)!r}, 'w')"])
        assert status == 0 and ran.exists(), (status_, log)
        ran.unlink()


def test_a_record_older_than_the_inputs_is_from_an_earlier_run(tmp_path):
    """A group member that never ran at attempt 1 (its upstream member failed) runs at attempt 2
    although an earlier run left a user-error record: its inputs were written since."""
    _run_logged(tmp_path, 1, _fake_stage(2, "memgen classify: error: bad thresholds"))
    stamp = time.time() - 60
    os.utime(retry.record_path(tmp_path / "job.log"), (stamp, stamp))
    inputs = [tmp_path / "samples.npy"]
    inputs[0].write_bytes(b"new")
    status, _ = _run_logged(tmp_path, 2, [sys.executable, "-c", "pass"], inputs)
    assert status == 0


def test_retry_wrapper_command_line(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("")
    argv = ["--attempt", "1", "--log", str(log), "--inputs", "--", sys.executable, "-c", "exit(3)"]
    assert retry.main(argv) == 3

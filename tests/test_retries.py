"""Only what can succeed on retry is retried: a data error fails once under the cluster profile's
retry settings; the rules that do retry get more time and memory per attempt."""

from __future__ import annotations

import re

import numpy as np
import yaml
from conftest import DEMO, REPO, TINY, snakemake
from snakemake.profiles import ProfileConfigFileParser

RULES = REPO / "workflow" / "rules"


def _profile_retries() -> int:
    with open(REPO / "slurm" / "config.yaml") as stream:
        return int(dict(ProfileConfigFileParser().parse(stream))["retries"])


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
    functions = "\n".join(p.read_text() for p in RULES.glob("*_functions.smk"))
    for rule in retried:
        for resource in ("runtime", "mem_mb"):
            assert re.search(rf"def {rule}_{resource}\(wildcards, attempt\)", functions), (rule, resource)

# Shared set-up: config validation, experiments and their K grids, path and model helpers,
# retries, wildcard constraints. The other helper files (included by the Snakefile) build on it:
# params.smk (config -> job parameters), resources.smk (job sizes), data_files.smk (data set
# files), targets.smk (default targets). Rule files hold rules only and call helpers by name.
import contextlib
import copy
import functools
import json
import os
import re
import sys

import jsonschema
import yaml
from snakemake.exceptions import IncompleteCheckpointException, WorkflowError
from snakemake.utils import validate

SCHEMA_DIR = os.path.join(workflow.basedir, "workflow", "schemas")
IMAGE_SECTIONS = [
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
# Pool sizes of the readers whose size is known without reading the data (paper Table 1 N).
DATASET_SIZES = {
    "digits": 1797,
    "mnist": 60000,
    "fmnist": 60000,
    "cifar10": 50000,
    "lsun_church": 126227,
}


def _schema(name):
    return os.path.join(SCHEMA_DIR, name)


_SCHEMAS = {}


def _load_schema(name):
    # Parsed once per process: the paper config validates ~100 blocks, and every SLURM job re-parses
    # the workflow, so re-reading the YAML each time dominated start-up (benchmarks/bench_dag.py).
    if name not in _SCHEMAS:
        with open(_schema(name)) as fh:
            schema = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        _SCHEMAS[name] = (schema, jsonschema.Draft202012Validator(schema))
    return _SCHEMAS[name]


def _fill_defaults(block, schema):
    """Insert schema defaults for missing keys, recursing into nested objects."""
    for key, spec in schema.get("properties", {}).items():
        if key not in block and "default" in spec:
            block[key] = copy.deepcopy(spec["default"])
        if isinstance(block.get(key), dict) and spec.get("type") == "object":
            _fill_defaults(block[key], spec)


def _check_block(block, schema_name, where):
    """Validate one config block, naming every offending key, then insert the schema defaults."""
    schema, validator = _load_schema(schema_name)
    errors = sorted(
        validator.iter_errors(block),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    if errors:
        lines = []
        for err in errors:
            key = ".".join([where] + [str(p) for p in err.absolute_path])
            lines.append(f"  config key '{key}': {err.message}")
        raise WorkflowError(
            "Invalid configuration (nothing was run):\n"
            + "\n".join(lines)
            + f"\n  (schema: {os.path.relpath(_schema(schema_name), workflow.basedir)})"
        )
    if where == "config":
        validate(
            block, _schema(schema_name)
        )  # Snakemake's own check + defaults, top level
    else:
        _fill_defaults(block, schema)


def _check_ks(ks, where, limit=None, limit_what=""):
    if any(b <= a for a, b in zip(ks, ks[1:])):
        raise WorkflowError(
            f"Invalid configuration: config key '{where}' must be strictly increasing, got {ks}"
        )
    if limit is not None and ks and ks[-1] > limit:
        raise WorkflowError(
            f"Invalid configuration: config key '{where}' asks for K = {ks[-1]}, larger than "
            f"{limit_what} ({limit})"
        )


def _validate_config():
    _check_block(config, "config.schema.yaml", "config")
    images = config.setdefault("images", {})
    for name in config["experiments"]:
        if name != "circle" and name not in images:
            raise WorkflowError(
                f"Invalid configuration: config key 'experiments' lists '{name}', which is neither "
                f"'circle' nor an experiment under 'images' ({', '.join(sorted(images))})"
            )
    if "circle" in config["experiments"] or "circle" in config:
        circle = config.setdefault("circle", {})
        _check_block(circle, "circle.schema.yaml", "circle")
        _check_ks(
            circle.get("ks", []),
            "circle.ks",
            circle.get("pool_size"),
            "the circle pool_size",
        )
    for name, exp in images.items():
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise WorkflowError(
                f"Invalid configuration: experiment name 'images.{name}' may only contain letters, "
                "digits and underscores (it becomes a path component and a wildcard)"
            )
        _check_block(exp, "image.schema.yaml", f"images.{name}")
        for section in IMAGE_SECTIONS:
            exp.setdefault(section, {})
            _check_block(
                exp[section],
                f"sections/{section}.schema.yaml",
                f"images.{name}.{section}",
            )
        reuse = exp["model"].get("reuse")
        if reuse is not None and (reuse == name or reuse not in images):
            # It becomes a path in the jobs' commands: only a defined experiment name is allowed.
            raise WorkflowError(
                f"Invalid configuration: config key 'images.{name}.model.reuse' is {reuse!r}, which "
                f"is not another experiment under 'images' ({', '.join(sorted(images))})"
            )
        if exp["ks"] != "sweep":
            _check_ks(
                exp["ks"],
                f"images.{name}.ks",
                DATASET_SIZES.get(exp["dataset"]),
                f"the {exp['dataset']} data set",
            )


# Per-K config values (a list aligned with ks); impossible when the grid comes from a sweep.
PER_K_KEYS = {
    "train": ("iterations", "batch_size", "lr", "ema_decay"),
    "basins": ("delta",),
    "thresholds": ("delta_m", "delta_s"),
}


def sparse_sweep_ks(n, start):
    """K = start * 2^j below n, plus n: the same rule as memgen.kgrid.sparse_grid (the workflow
    itself does not import memgen, which may live in the jobs' environment only)."""
    ks, k = [], start
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


def sweep_pool_size(E):
    """N of a `ks: sweep` experiment: kgrid.pool_size, else the data set's official size."""
    exp = config["images"][E]
    return exp["kgrid"].get("pool_size") or DATASET_SIZES.get(exp["dataset"])


def _add_sweep_experiments():
    """For each enabled experiment E with `ks: sweep`, add the experiment E_sweep that trains and
    classifies one model per sparse-sweep K; E's own grid is derived from it (rule kgrid).

    Returns {E: E_sweep}. The sweep copies E's settings (so its models are E's models: the dense
    grid copies the ones it shares instead of training them again) without the per-class analyses.
    """
    sweeps = {}
    images = config["images"]
    for name in [e for e in config["experiments"] if e != "circle"]:
        exp = images[name]
        if exp["ks"] != "sweep":
            continue
        where = f"images.{name}"
        kg = exp["kgrid"]
        n = sweep_pool_size(name)
        if n is None:
            raise WorkflowError(
                f"Invalid configuration: config key '{where}.ks' is 'sweep', but the size of a "
                f"'{exp['dataset']}' data set is not known before it is read; set "
                f"'{where}.kgrid.pool_size' (or list ks explicitly)"
            )
        if kg["sparse_start"] >= n:
            raise WorkflowError(
                f"Invalid configuration: config key '{where}.kgrid.sparse_start' = "
                f"{kg['sparse_start']} is not below the {exp['dataset']} data set size N = {n}; "
                f"the sweep would hold N only (choose e.g. {max(1, n // 64)})"
            )
        for key in ("k1", "k2"):
            if kg[key] is not None and not kg["k_min"] < kg[key] < n:
                raise WorkflowError(
                    f"Invalid configuration: config key '{where}.kgrid.{key}' = {kg[key]} must lie "
                    f"between kgrid.k_min = {kg['k_min']} and N = {n}"
                )
        if kg["k1"] is not None and kg["k2"] is not None and kg["k1"] >= kg["k2"]:
            raise WorkflowError(
                f"Invalid configuration: config keys '{where}.kgrid.k1' ({kg['k1']}) and "
                f"'.k2' ({kg['k2']}): K1 must be smaller than K2"
            )
        for section, keys in PER_K_KEYS.items():
            for key in keys:
                if isinstance(exp[section].get(key), list):
                    raise WorkflowError(
                        f"Invalid configuration: config key '{where}.{section}.{key}' is a per-K "
                        "list, but the K grid of this experiment comes from its sweep (ks: sweep); "
                        "give a single value"
                    )
        sweep = f"{name}_sweep"
        if sweep in images:
            raise WorkflowError(
                f"Invalid configuration: experiment name 'images.{sweep}' is reserved for the "
                f"sparse sweep of '{name}' (ks: sweep); rename it"
            )
        block = copy.deepcopy(exp)
        block["ks"] = sparse_sweep_ks(n, kg["sparse_start"])
        block["critical_k"] = []
        for section in ("basins", "curvature", "energy"):
            block[section]["enabled"] = False
        images[sweep] = block
        sweeps[name] = sweep
    # each sweep runs as an experiment of its own, listed just before the experiment it serves
    config["experiments"] = [
        x
        for e in config["experiments"]
        for x in ([sweeps[e]] if e in sweeps else []) + [e]
    ]
    return sweeps


_validate_config()
SWEEPS = _add_sweep_experiments()
if SWEEPS and workflow.is_main_process:
    # what a dry run cannot list yet: the dense grids wait for their sweeps
    for _E, _S in SWEEPS.items():
        _ks = config["images"][_S]["ks"]
        print(
            f"memgen: the K grid of {_E} comes from its sparse sweep {_S} (K = "
            f"{', '.join(map(str, _ks))}); its models are planned once the sweep is classified "
            f"and rule kgrid has written {_E}/kgrid.json",
            file=sys.stderr,
        )

RUN = f"results/{config['run_name']}"
EXPERIMENTS = list(config["experiments"])
IMAGE_EXPS = [e for e in EXPERIMENTS if e != "circle"]


def exp_cfg(E):
    """The config block of experiment E (circle or an image experiment)."""
    return config["circle"] if E == "circle" else config["images"][E]


def ks_of(E):
    """The K grid of E: from the config, or (ks: sweep) from E's kgrid checkpoint.

    For a swept experiment this raises Snakemake's incomplete-checkpoint signal until the sweep
    has been classified and `kgrid` has run; Snakemake then re-evaluates the asking job.
    """
    if E in SWEEPS:
        return list(kgrid_info(E)["ks"])
    return list(exp_cfg(E)["ks"])


_KGRID_CACHE = {}


def kgrid_info(E):
    """K1, K2, N and the dense grid of a swept experiment (its kgrid.json, read once per version)."""
    path = checkpoints.kgrid.get(E=E).output.json
    stamp = os.stat(path).st_mtime_ns
    if _KGRID_CACHE.get(path, (None,))[0] != stamp:
        with open(path) as fh:
            _KGRID_CACHE[path] = (stamp, json.load(fh))
    return _KGRID_CACHE[path][1]


def grid_pending(E):
    """True while the K grid of a swept experiment E is not known (sweep or kgrid not done)."""
    if E not in SWEEPS:
        return False
    try:
        kgrid_info(E)
    except IncompleteCheckpointException:
        return True
    return False


@contextlib.contextmanager
def known_grids_only():
    """While target lists are built: leave out of IMAGE_EXPS the experiments whose K grid is not
    known yet, and yield their kgrid.json files to request instead.

    A target rule that requests these files depends on the kgrid checkpoint, so Snakemake re-evaluates
    it once the sweep is done and then plans the dense grid; the other experiments are planned at once.
    """
    pending = [E for E in IMAGE_EXPS if grid_pending(E)]
    saved = list(IMAGE_EXPS)
    IMAGE_EXPS[:] = [E for E in saved if E not in pending]
    try:
        yield [path_of(output_pattern("kgrid", "json"), E=E) for E in pending]
    finally:
        IMAGE_EXPS[:] = saved


def critical_ks_of(E):
    """K1, K2 of E: from its kgrid (ks: sweep) or the configured critical_k (may be empty)."""
    if E in SWEEPS:
        info = kgrid_info(E)
        return [info["K1"], info["K2"]]
    return list(exp_cfg(E).get("critical_k", []))


def per_k(value, E, k, key="value"):
    """Resolve a per-K config value: a scalar applies to every K, a list is aligned with ks."""
    if not isinstance(value, list):
        return value
    ks = ks_of(E)
    if len(value) != len(ks):
        raise WorkflowError(
            f"Invalid configuration: per-K list '{key}' of experiment {E} has {len(value)} "
            f"entries but ks has {len(ks)}; give one value per K or a single value"
        )
    return value[ks.index(int(k))]


def stage_device(E, section):
    """A stage's device: its own `device` key unless that is `auto`/absent, else config.device."""
    dev = exp_cfg(E).get(section, {}).get("device", "auto")
    return config["device"] if dev in (None, "auto") else dev


def gpus_for(E, section):
    """Number of GPUs a stage's jobs request (resources: gpu=...): 1 on cuda, 0 on cpu."""
    return 1 if stage_device(E, section) == "cuda" else 0


def plot_params():
    """Figure style options (config.plots); changing them reruns only figure rules."""
    return config.get("plots", {})


# --- Paths: every output path is written once, in its rule; other rules and the targets refer to
# it as rules.<name>.output.<key> (a pattern) and fill in the wildcards with these helpers.


@functools.cache
def output_pattern(rule, key=0):
    """Output `key` (a name or an index) of `rule` as a pattern string, looked up once: a
    rules.<name>.output access builds the rule's output list anew each time."""
    files = getattr(rules, rule).output
    return str(files[key] if isinstance(key, int) else getattr(files, key))


def path_of(pattern, **wildcards):
    """The path of an output pattern, e.g. path_of(rules.split.output.pool, E="mnist"). Plain
    formatting: the patterns carry no inline constraints (those are in wildcard_constraints).
    """
    return str(pattern).format(**wildcards)


def per_k_paths(pattern, E, ks=None):
    """pattern (wildcards E and k) for every K of experiment E (or of ks), in grid order."""
    return [path_of(pattern, E=E, k=k) for k in (ks_of(E) if ks is None else ks)]


def per_k_inputs(pattern):
    """Input function: pattern for every K of the job's experiment (the per-E aggregation rules)."""

    def inputs(wildcards):
        return per_k_paths(pattern, wildcards.E)

    return inputs


def per_experiment_k(patterns, exps):
    """Every pattern for every experiment in exps and K in its grid (default targets)."""
    return [
        path_of(pattern, E=E, k=k)
        for E in exps
        for k in ks_of(E)
        for pattern in patterns
    ]


def per_experiment(patterns, exps):
    """Every pattern (wildcard E only) for every experiment in exps (default targets)."""
    return [path_of(pattern, E=E) for E in exps for pattern in patterns]


# --- Config values as params. Snakemake's lookup(dpath=...) would do, but it matches the path
# against the whole config tree on every call: ~60 % of a paper-DAG dry run.

_REQUIRED = object()


def experiment_setting(*keys, default=_REQUIRED):
    """Params function: the job's experiment's config value at keys, e.g.
    experiment_setting("neighbors", "metric") for images.<E>.neighbors.metric."""

    def setting(wildcards):
        value = exp_cfg(wildcards.E)
        for key in keys:
            if default is not _REQUIRED and key not in value:
                return default
            value = value[key]
        return value

    return setting


# --- Models: an experiment with `model.reuse: M` samples and analyses M's models (e.g. the 8 x K
# synthetic-set study reads the CIFAR-10 models).


def model_exp(E):
    """The experiment whose models E samples from and analyses: model.reuse, else E itself."""
    return exp_cfg(E)["model"].get("reuse") or E


def get_model_config(wildcards):
    return path_of(
        output_pattern("train", "config"), E=model_exp(wildcards.E), k=wildcards.k
    )


def get_model_weights(wildcards):
    return path_of(
        output_pattern("train", "weights"), E=model_exp(wildcards.E), k=wildcards.k
    )


def get_model_dir(wildcards):
    """The model folder (what `memgen` loads), the folder of the model's config.json."""
    return os.path.dirname(get_model_config(wildcards))


# --- Stage settings that every network stage shares.


def stage_gpus(section):
    """Resource function: GPUs of the job's experiment's stage (1 on cuda, 0 on cpu)."""

    def gpus(wildcards):
        return gpus_for(wildcards.E, section)

    return gpus


def get_analysis_json(wildcards):
    """The analysis section (which points basins, curvature and energy look at), as JSON."""
    return json.dumps(exp_cfg(wildcards.E).get("analysis", {}), sort_keys=True)


# --- Retries: only what can succeed on retry. Rules that may time out or run out of memory (and
# resume from their scratch state) declare `retries:` and ask for more per attempt. Their command
# runs through `python -m memgen.retry --attempt {resources.attempt} --log {log} ... --`, which
# records a configuration or data error (memgen's exit status 2: the same inputs fail the same
# way) next to the log and makes the next attempt stop at once with that error. So does every rule
# that shares a SLURM group job with a retried one (groups in slurm/config.yaml), since a group
# job is retried as a whole.


def attempt_number(wildcards, attempt):
    """Resource `attempt`: this job's attempt (1 = the first), for memgen.retry."""
    return attempt


def sizing_attempt(rule, wildcards, attempt):
    """The attempt a retried job's time and memory are scaled by: `attempt`, or 1 when the previous
    attempt ended with a configuration or data error (the retry then stops at once, and a larger
    request would only wait longer in the queue). The record is memgen.retry's `<log>.user-error`.
    """
    if attempt == 1:
        return 1
    log = path_of(getattr(rules, rule).log[0], **dict(wildcards.items()))
    return 1 if os.path.exists(log + ".user-error") else attempt


def plots_json(wildcards=None):
    """The plots section as the figure commands take it (--plots-config)."""
    return json.dumps(plot_params(), sort_keys=True)


def section_json(E, section, keys=None, **resolved):
    """JSON of experiment E's config section for a command's --<section>-config.

    ``keys``: only these keys (the ones the command uses), so that a change of another key of the
    section does not rerun the rule; ``resolved``: values the workflow decided (e.g. the device).
    """
    cfg = exp_cfg(E)[section]
    cfg = {k: cfg[k] for k in keys} if keys is not None else dict(cfg)
    cfg.update(resolved)
    return json.dumps(cfg, sort_keys=True)


wildcard_constraints:
    E="|".join(re.escape(e) for e in IMAGE_EXPS) or "NO_IMAGE_EXPERIMENT",
    k=r"\d+",

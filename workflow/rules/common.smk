# Shared set-up: config validation, constants, wildcard constraints and get_* helpers.
# The only file with workflow-level Python; rule files call these helpers by name.
import copy
import gc
import inspect
import os
import re
import types

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# Garbage collector, tuned before the DAG is built. Every full collection rescans all tracked
# objects, and the ~140 000 objects of the imports (snakemake, pandas, sqlalchemy, ...) were
# rescanned at each of the 7 full collections while the paper DAG grows and again at exit: ~1 s of
# a 6 s no-op dry run (benchmarks/bench_dag.py). gc.freeze() leaves the objects that exist now
# (modules, Snakemake's set-up, the config: alive until exit anyway) out of all collections; the
# higher thresholds scan young objects less often. Garbage is still collected; peak memory is
# unchanged (~225 MB). Once per process, and not where the embedding process froze or disabled the
# collector itself.
if gc.isenabled() and not gc.get_freeze_count():
    gc.freeze()
    gc.set_threshold(*(max(a, b) for a, b in zip(gc.get_threshold(), (10_000, 20, 20))))

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
        _check_ks(
            exp["ks"],
            f"images.{name}.ks",
            DATASET_SIZES.get(exp["dataset"]),
            f"the {exp['dataset']} data set",
        )


_validate_config()

RUN = f"results/{config['run_name']}"
EXPERIMENTS = list(config["experiments"])
IMAGE_EXPS = [e for e in EXPERIMENTS if e != "circle"]


def exp_cfg(E):
    """The config block of experiment E (circle or an image experiment)."""
    return config["circle"] if E == "circle" else config["images"][E]


def ks_of(E):
    return list(exp_cfg(E)["ks"])


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


def freeze_signatures():
    """Precompute the signature of every workflow-defined function (call once, after all includes).

    Snakemake inspects an input/params/resources function's signature on every call, to learn which
    of wildcards/input/output/threads/resources/attempt to pass (`inspect.signature`, uncached):
    about 30 000 inspections in one dry run of the paper DAG. A function's `__signature__` attribute
    is what `inspect.signature` returns first, so setting it once makes each inspection a lookup.
    It holds the function's own signature, so what Snakemake passes is unchanged.
    """
    for obj in list(globals().values()):
        if isinstance(obj, types.FunctionType) and obj.__globals__ is globals():
            obj.__signature__ = inspect.signature(obj)


def plot_params():
    """Figure style options (config.plots); changing them reruns only figure rules."""
    return config.get("plots", {})


wildcard_constraints:
    E="|".join(re.escape(e) for e in IMAGE_EXPS) or "NO_IMAGE_EXPERIMENT",
    k=r"\d+",

# Helper functions of thresholds.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
import json


def thresholds_cfg(E):
    return exp_cfg(E)["thresholds"]


def thresholds_train_nn(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/nn_train.parquet" for k in ks_of(wildcards.E)]


def thresholds_synth_nn(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/nn_synth.parquet" for k in ks_of(wildcards.E)]


def thresholds_delta(wildcards, key):
    value = thresholds_cfg(wildcards.E)[key]
    return json.dumps(value) if isinstance(value, list) else str(value)


def thresholds_delta_m(wildcards):
    return thresholds_delta(wildcards, "delta_m")


def thresholds_delta_s(wildcards):
    return thresholds_delta(wildcards, "delta_s")


def thresholds_ks(wildcards):
    return " ".join(str(k) for k in ks_of(wildcards.E))


def thresholds_method(wildcards):
    cfg = thresholds_cfg(wildcards.E)
    keys = ("method", "null_alpha", "null_duplicates", "delta_s_null")
    return {k: cfg[k] for k in keys + ("floor", "bins", "smoothing", "impl_version")}


def null_source(E):
    """Experiment whose pool null E uses: the one whose models E reuses (model.reuse, e.g. the 8 x K
    synthetic-set study) when both read the same pool with the same metric, else E itself.
    """
    if E in SWEEPS:
        # Same data set, split seed and metric as its sweep, and both grids end at N: the same pool.
        return SWEEPS[E]
    src = exp_cfg(E)["model"].get("reuse") or E
    if src == E:
        return E
    same = ("dataset", "path", "split_seed", "ks")
    mine, theirs = exp_cfg(E), exp_cfg(src)
    if all(mine.get(k) == theirs.get(k) for k in same) and (
        mine["neighbors"]["metric"] == theirs["neighbors"]["metric"]
    ):
        return src
    return E


def thresholds_null(wildcards):
    return f"{RUN}/{null_source(wildcards.E)}/pool_null.parquet"


def pool_null_impl_version(wildcards):
    # The null is the neighbour search on the pool: its numbers change with the neighbour code.
    return neighbors_cfg(wildcards.E)["impl_version"]


def pool_null_runtime(wildcards, attempt):
    """Minutes: the ladder costs about 4/3 of one pool-vs-pool search (N^2 pairs)."""
    E = wildcards.E
    n = max(ks_of(E))
    return int(min(2880, (30 + n // 100) * attempt))

# Helper functions of thresholds.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
import json


def thresholds_cfg(E):
    return exp_cfg(E)["thresholds"]


def thresholds_train_nn(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/nn_train.parquet" for k in ks_of(wildcards.E)]


def thresholds_synth_nn(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/nn_synth.parquet" for k in ks_of(wildcards.E)]


def thresholds_ks(wildcards):
    return " ".join(str(k) for k in ks_of(wildcards.E))


# Keys of the thresholds section that choose the thresholds; the sweep/band/sensitivity factors
# only rescale them downstream (rules fractions and classify_figure), so they are not params here.
THRESHOLDS_KEYS = ("delta_m", "delta_s", "method", "null_alpha", "null_duplicates",
                   "delta_s_null", "floor", "bins", "smoothing", "impl_version")  # fmt: skip


def thresholds_json(wildcards):
    return section_json(wildcards.E, "thresholds", THRESHOLDS_KEYS)


def pool_null_json(wildcards):
    """The neighbors section of the pool null: the same search, without the per-sample k."""
    E = wildcards.E
    keys = ("metric", "batch_size", "impl_version")
    return section_json(E, "neighbors", keys, device=stage_device(E, "neighbors"))


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


def pool_null_runtime(wildcards, attempt):
    """Minutes: the ladder costs about 4/3 of one pool-vs-pool search (N^2 pairs)."""
    E = wildcards.E
    n = max(ks_of(E))
    return int(min(2880, (30 + n // 100) * attempt))

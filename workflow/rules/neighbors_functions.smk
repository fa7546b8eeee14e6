# Helpers of the neighbour stage (rules in neighbors.smk): params, resources and targets.


def neighbors_cfg(E):
    return exp_cfg(E)["neighbors"]


def neighbors_k_train(wildcards):
    """k, at most K: at K = 2 (paper grid) there are only 2 training images to rank."""
    return min(neighbors_cfg(wildcards.E)["k"], int(wildcards.k))


def neighbors_k_synth(wildcards):
    """k, at most |S| - 1 (the sample itself is excluded); sample_count is from sample.smk."""
    return max(
        1,
        min(
            neighbors_cfg(wildcards.E)["k"], sample_count(wildcards.E, wildcards.k) - 1
        ),
    )


def neighbors_json(wildcards):
    """The neighbors section of the search (device resolved)."""
    E = wildcards.E
    return section_json(E, "neighbors", device=stage_device(E, "neighbors"))


def neighbors_gpus(wildcards):
    return gpus_for(wildcards.E, "neighbors")


def neighbors_mem_mb(wildcards, attempt):
    # Blocks of 256 MB (queries, reference, scores) + the LPIPS backbone; set sizes do not matter.
    return 4000 * attempt


def neighbors_runtime(wildcards, attempt):
    """Minutes; the LSUN-scale LPIPS search (~126k x 500k) is hours on one GPU."""
    return int(min(2880, (30 + int(wildcards.k) // 100) * attempt))


def neighbors_targets():
    return expand_per_k(IMAGE_EXPS, ["nn_train.parquet", "nn_synth.parquet"])

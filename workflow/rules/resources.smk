# Job sizes: SLURM runtime (minutes) and memory of the rules whose cost grows with the data. Honest
# paper-scale values, estimated from the config (a 1.5x margin); they only size SLURM requests.
# The rules that are retried (train, sample, basins: time-out, out-of-memory) ask for more per
# attempt; after a configuration or data error they do not (common.smk, "Retries").

# Seconds per training step on one V100, from the paper's reported training hours; the CPU entry
# is the digits MLP (benchmarks/RESULTS.md).
TRAIN_SEC_PER_STEP = {
    "mnist": 0.153,
    "fmnist": 0.153,
    "cifar10_64": 0.130,
    "cifar10_96": 0.144,
    "cifar10_128": 0.158,
    "church_64": 0.216,
    "church_96": 0.252,
    "church_128": 0.464,
    "mlp": 0.01,
}
MAX_RUNTIME = (
    2880  # minutes per attempt (48 h); longer jobs finish over retries, each resuming
)
# LSUN holds 1.5 GB of decoded uint8 images and decodes ~126k webp files (about 15 ms each on one
# core, ~30 min); the other data sets are small. (mem_mb, runtime) of the split jobs.
SPLIT_SIZES = {"lsun_church": (8000, 180)}
SPLIT_DEFAULT_SIZE = (2000, 30)


def train_sec_per_step(E):
    model = exp_cfg(E)["model"]
    return TRAIN_SEC_PER_STEP.get(model.get("preset") or model.get("kind"), 0.5)


def network_sec_per_image(E):
    """Seconds of one network evaluation of one image of E's model: a third of a training step
    per image (forward only), from the V100 reference above."""
    batch = exp_cfg(model_exp(E))["train"]["batch_size"]
    batch = batch if isinstance(batch, int) else max(batch)
    return train_sec_per_step(model_exp(E)) / batch / 3


def capped_minutes(minutes, attempt):
    return int(min(MAX_RUNTIME, minutes * attempt))


def split_mem_mb(wildcards):
    return SPLIT_SIZES.get(exp_cfg(wildcards.E)["dataset"], SPLIT_DEFAULT_SIZE)[0]


def split_runtime(wildcards):
    return SPLIT_SIZES.get(exp_cfg(wildcards.E)["dataset"], SPLIT_DEFAULT_SIZE)[1]


def train_runtime(wildcards, attempt):
    """Minutes for one attempt: iterations x time per step, 1.5x margin, capped at 48 h."""
    attempt = sizing_attempt("train", wildcards, attempt)
    if train_reused_from(wildcards.E, wildcards.k):
        return 10 * attempt  # a copy
    iters = train_section(wildcards.E, wildcards.k)["iterations"]
    minutes = iters * train_sec_per_step(wildcards.E) / 60 * 1.5 + 10
    return capped_minutes(minutes, attempt)


def train_mem_mb(wildcards, attempt):
    attempt = sizing_attempt("train", wildcards, attempt)
    return (2000 if exp_cfg(wildcards.E)["model"]["kind"] == "mlp" else 32000) * attempt


def sample_runtime(wildcards, attempt):
    """Minutes: N x steps network evaluations, 1.5x margin, capped at 48 h (shards resume over
    retries)."""
    attempt = sizing_attempt("sample", wildcards, attempt)
    E = wildcards.E
    evals = sample_count(E, wildcards.k) * sample_section(E)["steps"]
    return capped_minutes(evals * network_sec_per_image(E) / 60 * 1.5 + 10, attempt)


def model_mem_mb(E):
    """Memory of a job that runs E's model: the digits MLP is small, a U-Net is not."""
    return 2000 if exp_cfg(model_exp(E))["model"]["kind"] == "mlp" else 16000


def sample_mem_mb(wildcards, attempt):
    return model_mem_mb(wildcards.E) * sizing_attempt("sample", wildcards, attempt)


def neighbors_mem_mb(wildcards, attempt):
    # Blocks of 256 MB (queries, reference, scores) + the LPIPS backbone; set sizes do not matter.
    return 4000 * attempt


def neighbors_runtime(wildcards, attempt):
    """Minutes; the LSUN-scale LPIPS search (~126k x 500k) is hours on one GPU."""
    return capped_minutes(30 + int(wildcards.k) // 100, attempt)


def pool_null_runtime(wildcards, attempt):
    """Minutes: the ladder costs about 4/3 of one pool-vs-pool search (N^2 pairs)."""
    return capped_minutes(30 + max(ks_of(wildcards.E)) // 100, attempt)


def basins_runtime(wildcards, attempt):
    """Minutes: points x trials x ~300 model evaluations per search, 1.5x margin."""
    attempt = sizing_attempt("basins", wildcards, attempt)
    E = wildcards.E
    a, b = exp_cfg(E)["analysis"], basins_section(E, wildcards.k)
    per_class = min(a["max_per_class"], b["max_points"] or a["max_per_class"])
    points = min(a["n_train_points"], int(wildcards.k)) + 3 * per_class
    minutes = points * b["trials"] * 300 * network_sec_per_image(E) / 60 * 1.5 + 10
    return capped_minutes(minutes, attempt)


def basins_mem_mb(wildcards, attempt):
    return model_mem_mb(wildcards.E) * sizing_attempt("basins", wildcards, attempt)


def snapshot_runtime(wildcards, attempt):
    """Minutes: sampling the set and the agreement draws (~1/3 of a training step per image and
    sampler step), plus a replay from step 0 in the worst case (a step added after training).
    """
    sample = exp_cfg(wildcards.E)["sample"]
    cfg = snapshot_cfg(wildcards.E)
    n = min(sample_count(wildcards.E, wildcards.k), cfg.get("sample_max") or 10**12)
    n = max(n, cfg["sample_min"]) + cfg["agreement_samples"]
    batch = train_section(wildcards.E, wildcards.k)["batch_size"]
    sec = train_sec_per_step(wildcards.E)
    minutes = (n * sample["steps"] * sec / (3 * batch) + int(wildcards.s) * sec) / 60
    return capped_minutes(minutes * 1.5 + 10, attempt)

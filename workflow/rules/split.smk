# Split stage (docs/method.md §4.1, §10.15): per image experiment E, the nested-subset table and the training pool.
#   R/E/split.parquet   one row per image: index, position (subset K = position < K), content hash
#   R/E/train_pool.npy  float32 (max K, H, W, C) in [-1, 1], permutation order: subset K = rows [:K]
#   R/E/split_check.json  proof that the data on disk still hash to what the split recorded
#
# How a changed data set is noticed without retraining by accident:
# - `split` takes the data files as ancient() inputs. A copy/rsync that only changes mtimes (e.g. staging
#   the data on cluster scratch) must not rerun the split, because a new pool file would rerun every
#   training job downstream (GPU-weeks at paper scale). A different location (data_root/path, or a
#   different file such as .gz vs plain) does rerun it: another file may be other data.
#   Missing files are left out of the inputs so the job itself fails with the reader's message naming
#   the expected path and format, while other experiments go on.
# - `split_check` takes the same files as normal inputs, so any mtime change reruns this cheap job,
#   which re-hashes every image and fails, naming the changed images, if the content differs from
#   split.parquet. Its `data_stamp` param (size, mtime and ctime of each file) also reruns it when
#   a file was replaced with its old mtime kept (tar x, rsync -a, cp -p): the kernel sets ctime on
#   every change. Nothing depends on it: it can only report, never trigger retraining.
#   After an intended data change: `snakemake --forcerun split`.


rule split:
    input:
        data=split_ancient_data,
    output:
        split=f"{RUN}/{{E}}/split.parquet",
        pool=f"{RUN}/{{E}}/train_pool.npy",
    log:
        f"{RUN}/logs/split/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/split/{{E}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=split_mem_mb,
        runtime=split_runtime,
        gpu=0,
    params:
        dataset=experiment_setting("dataset"),
        data_root=config["data_root"],
        path=experiment_setting("path", default=""),
        seed=experiment_setting("split_seed"),
        max_k=split_max_k,
        impl_version=split_impl_version,
    shell:
        "memgen split --dataset {params.dataset} --data-root={params.data_root:q}"
        " --path={params.path:q} --split-seed {params.seed} --experiment {wildcards.E}"
        " --max-k {params.max_k} --out-split {output.split} --out-pool {output.pool}"
        " > {log} 2>&1"


rule split_check:
    input:
        data=split_data_files,
        split=rules.split.output.split,
    output:
        check=f"{RUN}/{{E}}/split_check.json",
    log:
        f"{RUN}/logs/split_check/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/split_check/{{E}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=split_mem_mb,
        runtime=split_runtime,
        gpu=0,
    params:
        dataset=experiment_setting("dataset"),
        data_root=config["data_root"],
        path=experiment_setting("path", default=""),
        data_stamp=split_data_stamp,
    shell:
        "memgen split-check --dataset {params.dataset} --data-root={params.data_root:q}"
        " --path={params.path:q} --split {input.split} --out {output.check} > {log} 2>&1"

# Training stage (docs/method.md §2.1, §4.3-4.4): one eps-model per (experiment E, training-set size K).
#   R/E/K{k}/model/            diffusers save_pretrained dir of the EMA weights (config.json + safetensors)
#   R/E/K{k}/train_log.parquet step, loss, lr, ema_decay, steps_per_s
#   R/E/K{k}/scratch/train/    resumable checkpoint: NOT an output, so a killed, timed-out or preempted job
#                              keeps it and the retry (or the next run) resumes from it.
# A complete model dir of the same config is not retrained (memgen train returns at once). SLURM runtime
# is capped at 48 h per attempt; longer runs (LSUN-128, ~100 GPU-h) finish over retries, each resuming.


rule train:
    input:
        pool=rules.split.output.pool,
        reuse=train_reuse_inputs,  # the same model of E's sparse sweep, copied if identical
    output:
        config=f"{RUN}/{{E}}/K{{k}}/model/config.json",
        weights=f"{RUN}/{{E}}/K{{k}}/model/diffusion_pytorch_model.safetensors",
        log=f"{RUN}/{{E}}/K{{k}}/train_log.parquet",
    log:
        f"{RUN}/logs/train/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/train/{{E}}_K{{k}}.tsv"
    retries: 3
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=stage_gpus("train"),  # also for a copy: the SLURM profile picks the partition by rule
        attempt=attempt_number,
    params:
        model=train_model_json,
        train=train_train_json,
        model_dir=get_model_dir,
        scratch=f"{RUN}/{{E}}/K{{k}}/scratch/train",
        reuse=train_reuse_params,
        snapshots=train_snapshot_steps,  # not a rerun trigger (params.smk)
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen train --pool {input.pool} --k {wildcards.k} --experiment {wildcards.E}"
        " --model-config {params.model:q} --train-config {params.train:q}"
        " --model-dir {params.model_dir} --log {output.log} --scratch {params.scratch}"
        " --reuse-model={params.reuse[model]:q} --reuse-log={params.reuse[log]:q}"
        " --snapshot-steps={params.snapshots:q}"
        " > {log} 2>&1"

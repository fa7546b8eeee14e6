# K grid from a sparse sweep: for an experiment E with `ks: sweep`, the experiment E_sweep trains and
# classifies one model per sweep K (K0 * 2^n below N, plus N); this checkpoint turns its memorized
# fractions into K1, K2 and E's dense grid. Snakemake re-evaluates E's jobs once it has run, so one
# `snakemake` call runs the sweep and then the dense grid; a dry run before the sweep is done lists the
# sweep and this step, not yet E's models (their K are not known).
#   R/E/kgrid.parquet  one row per K of the sweep or the grid: in_sweep, in_grid, sweep fractions, K1, K2, N
#   R/E/kgrid.json     the grid, K1, K2, N (what the workflow reads)


checkpoint kgrid:
    input:
        fractions=kgrid_sweep_fractions,
    output:
        table=f"{RUN}/{{E}}/kgrid.parquet",
        json=f"{RUN}/{{E}}/kgrid.json",
    log:
        f"{RUN}/logs/kgrid/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/kgrid/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        n=kgrid_n,
        sweep_ks=kgrid_sweep_ks,
        cfg=kgrid_json,
    shell:
        "memgen kgrid --experiment {wildcards.E} --fractions {input.fractions}"
        " --n {params.n} --sweep-ks {params.sweep_ks} --kgrid-config {params.cfg:q}"
        " --out {output.table} --json-out {output.json} > {log} 2>&1"

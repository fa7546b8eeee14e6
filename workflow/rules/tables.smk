# The paper's Tables 1-3 from this run's outputs, CSV + Markdown in R/tables/:
#   table1_kgrid      K1, K2, N per experiment (kgrid.json of a swept grid, else config critical_k;
#                     N = the split's pool size)
#   table2_thresholds [min, max] over K of delta_m and delta_s (thresholds.parquet), with the width
#   table3_models     network, parameter count of the saved model, batch size, iterations


rule tables:
    input:
        unpack(tables_inputs),
    output:
        report(
            multiext(f"{RUN}/tables/table1_kgrid", ".csv", ".md"),
            caption="../report/tables.rst",
            category="Tables",
            labels={"table": "Table 1 K1/K2/N"},
        ),
        report(
            multiext(f"{RUN}/tables/table2_thresholds", ".csv", ".md"),
            caption="../report/tables.rst",
            category="Tables",
            labels={"table": "Table 2 thresholds"},
        ),
        report(
            multiext(f"{RUN}/tables/table3_models", ".csv", ".md"),
            caption="../report/tables.rst",
            category="Tables",
            labels={"table": "Table 3 networks"},
        ),
    log:
        f"{RUN}/logs/tables/tables.log",
    benchmark:
        f"{RUN}/benchmarks/tables/tables.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        spec=tables_spec,
        out_dir=output_dir,
    shell:
        "memgen tables --spec {params.spec:q} --out-dir {params.out_dir} > {log} 2>&1"

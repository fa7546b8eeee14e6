# Figure aggregation: every paper figure of the enabled experiments (docs/method.md §9). The figure rules live in the
# stage files (they read that stage's tables); this file collects them into one target, `all_figures`,
# so `snakemake all_figures` regenerates every figure from finished tables.


rule all_figures:
    input:
        all_figure_files,
    localrule: True

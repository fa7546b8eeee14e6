# memgen: memorization -> spurious states -> generalization in diffusion models.
# Table of contents only: config and shared helpers (common.smk: validation, K grids, paths, models,
# retries; params.smk: config -> job parameters; resources.smk: job sizes; data_files.smk: data set
# files; targets.smk: default targets), one rule file per stage, the default target.
# Data flows config -> split -> train -> sample -> neighbors -> thresholds -> classify -> (kgrid ->
# dense grid of a `ks: sweep` experiment) -> {basins, curvature, energy} -> figures, tables -> report.
import os

from snakemake.utils import min_version

min_version("9.0")


# Relative to the Snakefile, not the working directory, so `--directory` runs (tests) find it too.
configfile: os.path.join(workflow.basedir, "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/params.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/data_files.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/circle.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/neighbors.smk"
include: "workflow/rules/thresholds.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/kgrid.smk"
include: "workflow/rules/basins.smk"
include: "workflow/rules/curvature.smk"
include: "workflow/rules/energy.smk"
include: "workflow/rules/snapshots.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/sd_curvature.smk"


rule all:
    default_target: True
    input:
        all_targets,
    localrule: True

# Helper functions of audit.smk and sd_curvature.smk: validation of the `audit` and `sd_curvature`
# config sections and what each rule reads from them.
AUDITS = config.setdefault("audit", {}) or {}
SD_CASES = config.setdefault("sd_curvature", {}) or {}


def _validate_case_blocks():
    for top, blocks, schema in (
        ("audit", AUDITS, "audit.schema.yaml"),
        ("sd_curvature", SD_CASES, "sd_curvature.schema.yaml"),
    ):
        for name, block in blocks.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise WorkflowError(
                    f"Invalid configuration: name '{top}.{name}' may only contain letters, digits "
                    "and underscores (it becomes a path component and a wildcard)"
                )
            _check_block(block, schema, f"{top}.{name}")


_validate_case_blocks()


def audit_block(A):
    return AUDITS[A]


def audit_inputs(wildcards):
    """The checkpoint folder and the image files or folders (a data root for named data sets)."""
    block = audit_block(wildcards.A)
    files = {"checkpoint": block["checkpoint"]}
    if block["dataset"] != "digits":
        files["train"] = block["train_images"]
    if block["null_images"] and block["null_dataset"] != "digits":
        files["null"] = block["null_images"]
    return files


def audit_train_images(wildcards):
    return audit_block(wildcards.A)["train_images"]


def audit_flags(wildcards):
    """The command's path flags: formats, limit and null images (only those that are set)."""
    block = audit_block(wildcards.A)
    flags = []
    for key, flag in (
        ("dataset", "--dataset"),
        ("limit", "--limit"),
        ("null_images", "--null-images"),
        ("null_dataset", "--null-dataset"),
    ):
        if block.get(key) is not None:
            flags += [flag, str(block[key])]
    return " ".join(flags)


def audit_options(wildcards):
    return json.dumps(audit_block(wildcards.A)["options"], sort_keys=True)


def audit_gpus(wildcards):
    dev = audit_block(wildcards.A)["options"].get("device", "auto")
    return 1 if (config["device"] if dev == "auto" else dev) == "cuda" else 0


def audit_targets():
    figs = ("fig1b_examples", "fig3_hist", "fig4a_fractions")
    return [
        f
        for A in AUDITS
        for f in [f"{RUN}/audit/{A}/summary.json"]
        + [f"{RUN}/audit/{A}/{fig}_{A}.{ext}" for fig in figs for ext in ("png", "pdf")]
    ]


def sd_block(S):
    return SD_CASES[S]


def sd_model(wildcards):
    return sd_block(wildcards.S)["model"]


def sd_prompts(wildcards):
    return sd_block(wildcards.S)["prompts"]


def sd_options(wildcards):
    return json.dumps(sd_block(wildcards.S)["options"], sort_keys=True)


def sd_gpus(wildcards):
    dev = sd_block(wildcards.S)["options"].get("device", "auto")
    return 1 if (config["device"] if dev == "auto" else dev) == "cuda" else 0


def sd_output_folder(wildcards, input):
    """The sd_curvature output folder, from its spectra table."""
    return os.path.dirname(input.spectra)


def sd_curvature_targets():
    return [
        f"{RUN}/figures/fig5b_sd_curvature_{S}.{ext}"
        for S in SD_CASES
        for ext in ("png", "pdf")
    ]

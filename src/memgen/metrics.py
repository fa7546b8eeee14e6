"""Names of the distance metrics (a light module: the CLI lists them without importing torch/lpips)."""

METRICS = ("l2", "lpips-alex", "lpips-vgg", "lpips-squeeze")

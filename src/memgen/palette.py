"""Colours of the classes in every figure (paper Fig 1: memorized red, spurious green, generalized blue)."""

CLASS_COLORS = {
    "memorized": "tab:red",
    "spurious": "tab:green",
    "generalized": "tab:blue",
    "training": "black",
}

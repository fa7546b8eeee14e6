"""The one place where a configured device name (``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``) becomes
a torch device. Asking for CUDA where none is visible is an error before any work, never a silent
fall-back to the CPU (a GPU job that quietly runs on the CPU would take days)."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto", what: str = "device") -> torch.device:
    """``auto`` (or None): cuda if visible, else cpu; ``cpu``; ``cuda``/``cuda:N``: checked.

    ``what`` names the config key in the error (``images.<E>.basins.device``)."""
    if isinstance(name, torch.device):
        name = str(name)
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str) or not (name == "cpu" or name.split(":")[0] == "cuda"):
        raise ValueError(f"{what} {name!r} is not a device; use auto, cpu or cuda (cuda:N)")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"{what} {name!r} is not a device; use auto, cpu or cuda (cuda:N)") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{what} is {name!r} but no CUDA device is visible; use 'auto' or 'cpu' "
                "(or run the job on a GPU node)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"{what} is {name!r} but only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
    return device

"""Where torch runs: ``device="auto"`` picks CUDA, then MPS, then the CPU."""

from __future__ import annotations

from .errors import InputError

__all__ = ["device_summary", "resolve_device"]


def resolve_device(device="auto"):
    """A :class:`torch.device` for ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Raises
    ------
    satlab.errors.InputError
        An unknown name, or a device this machine does not have.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(
            f"device: expected 'auto', 'cpu', 'cuda[:N]' or 'mps', got {device!r}"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device: 'cuda' was asked for but torch sees no CUDA device")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError("device: 'mps' was asked for but torch sees no MPS device")
    return dev


def device_summary() -> dict:
    """torch version, the device ``"auto"`` resolves to, and CPU threads."""
    import torch

    dev = resolve_device("auto")
    out = {"torch": torch.__version__, "device": str(dev), "cpu_threads": torch.get_num_threads()}
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(dev)
    return out

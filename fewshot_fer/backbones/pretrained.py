"""Loading backbone weights from a local file (nothing is ever downloaded).

Accepted: a fewshot-fer checkpoint (its backbone weights), a state dict saved by torch (``.pth`` / ``.pt`` / ``.bin``) or safetensors
(``.safetensors``), possibly wrapped in a checkpoint under ``state_dict`` / ``model``; keys in
torchvision's or timm's naming, optionally prefixed (``module.``, ``model.``, ``backbone.``,
``encoder.``). Classifier weights (``fc.``, ``classifier.``, ``head.``) are ignored. When the
file's first convolution has another input-channel count than the model (RGB weights, grayscale
faces), it is adapted: summed over RGB for one channel, spread evenly for three.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..weights import safe_torch_load, state_mismatch

PREFIXES = ("module.", "model.", "backbone.", "encoder.")
CLASSIFIER_PREFIXES = ("fc.", "classifier.", "head.", "last_linear.")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file  # installed with timm
        try:
            state = load_file(str(path))
        except Exception as err:  # SafetensorError (Rust) has no public Python base to name
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
            raise ValueError(f"{path} could not be read as a safetensors weights file: {reason}; "
                             f"is it a complete .safetensors download?") from None
    else:
        state = safe_torch_load(path, "a weights file")
    if isinstance(state, dict) and "model_config" in state and isinstance(state.get("model"), dict):
        # a fewshot-fer checkpoint (pretrain, train, selftrain): its backbone, nothing else
        return {k: v for k, v in state["model"].items() if k.startswith("backbone.")}
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors (got {type(state).__name__}).")
    return state


def normalise_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes and drop classifier weights."""
    out = {}
    for key, value in state.items():
        for prefix in PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix):]
        if not key.startswith(CLASSIFIER_PREFIXES):
            out[key] = value
    return out


def adapt_first_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """``[O, C_file, k, k]`` -> ``[O, in_chans, k, k]`` with the same response to a grey image."""
    if in_chans == 1:
        return weight.sum(1, keepdim=True)
    if weight.shape[1] == 1:
        return weight.repeat(1, in_chans, 1, 1) / in_chans
    raise ValueError(f"cannot adapt a first convolution of {weight.shape[1]} input channels to {in_chans}.")


def load_pretrained(model: nn.Module, path: str | Path, name: str, check_only: bool = False) -> None:
    """Load a local weights file into ``model``, refusing missing, unexpected or mis-shaped keys
    with a sentence naming them. Classifier weights (``CLASSIFIER_PREFIXES``) are left out on both
    sides. ``check_only``: refuse or accept the file without loading it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights for backbone {name!r} not found at {path}; download them yourself "
            f"and pass the local file with --pretrained (fewshot-fer never downloads at run time).")
    state = normalise_keys(read_state_dict(path))
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(CLASSIFIER_PREFIXES)}
    first_conv = next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    key = f"{first_conv}.weight"
    if key in state and key in own and state[key].dim() == 4 and state[key].shape[1] != own[key].shape[1]:
        state[key] = adapt_first_conv(state[key], own[key].shape[1])
    problem = state_mismatch(own, state)
    if problem:
        raise ValueError(f"weights in {path} do not fit backbone {name!r}: {problem}.")
    if not check_only:
        model.load_state_dict(state)

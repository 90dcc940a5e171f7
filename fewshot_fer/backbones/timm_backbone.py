"""Any timm model as a backbone: ``--backbone timm:NAME`` (``timm.list_models()`` names them).

The model is built with ``features_only`` and its last feature map is the backbone's output, so
every learner and the nearest-centroid head work on it unchanged. Weights are never downloaded:
``--pretrained FILE`` names a local file, either timm's own weights for that model (loaded by
timm, with its first convolution adapted to the input channels) or a fewshot-fer checkpoint of
the same backbone (``pretrain``, ``train``).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .inputs import check_input

PREFIX = "timm:"


class TimmBackbone(nn.Module):
    """Input ``[B, in_chans, H, W]`` -> the timm model's last feature map ``[B, out_channels, H / r, W / r]``
    (``r`` = ``self.reduction``, 32 for most ImageNet models).

    Args:
        model_name: a timm model name (``resnet18``, ``efficientnet_b0``, ``convnext_atto`` ...).
        in_chans: input channels (1 for grayscale faces).
        weights_file: local timm weights for ``model_name`` (``.pth``, ``.bin``, ``.safetensors``).
        **options: passed to ``timm.create_model`` (``drop_path_rate=0.1`` ...).
    """

    def __init__(self, model_name: str, in_chans: int = 1, weights_file: str | Path | None = None,
                 **options: Any) -> None:
        super().__init__()
        import timm

        if not timm.list_models(model_name):
            near = difflib.get_close_matches(model_name, timm.list_models(), n=3)
            raise ValueError(f"timm has no model {model_name!r}"
                             f"{'; did you mean ' + ', '.join(near) + '?' if near else ''} "
                             f"(timm.list_models() names them all).")
        extra = {}
        if weights_file:
            check_weights(model_name, Path(weights_file), in_chans)
            extra = {"pretrained": True, "pretrained_cfg_overlay": {"file": str(weights_file)}}
        try:
            self.net = timm.create_model(model_name, features_only=True, out_indices=(-1,), in_chans=in_chans,
                                         **extra, **options)
        except (RuntimeError, TypeError) as err:
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            what = f"with the weights in {weights_file}" if weights_file else "as a feature extractor"
            raise ValueError(f"timm model {model_name!r} could not be built {what}: {reason}") from None
        self.name, self.in_chans = PREFIX + model_name, in_chans
        self.out_channels = int(self.net.feature_info.channels()[-1])
        self.reduction = int(self.net.feature_info.reduction()[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_chans, self.reduction, self.name)
        return self.net(x)[-1]


def is_fewshot_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a fewshot-fer training checkpoint (its backbone is loaded by key)."""
    from ..weights import safe_torch_load

    if path.suffix == ".safetensors":
        return False
    state = safe_torch_load(path, "a weights file")
    return isinstance(state, dict) and "model_config" in state


def check_weights(model_name: str, path: Path, in_chans: int) -> None:
    """Refuse a weights file that does not fit timm's ``model_name`` with a sentence naming the
    first missing, unexpected or mis-shaped key (timm loads feature extractors leniently, so a
    file of another model would otherwise load in part, silently)."""
    import timm

    from .pretrained import load_pretrained

    full = timm.create_model(model_name, pretrained=False, in_chans=in_chans)
    load_pretrained(full, path, PREFIX + model_name, check_only=True)  # classifier (head) keys aside

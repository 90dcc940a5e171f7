"""``--precision``: the number format of a training step's forward pass.

``bf16`` runs convolutions and matrix products in bfloat16 under ``torch.autocast`` (weights,
optimiser and the loss stay float32) and keeps images and weights channels-last, the layout the
fast bfloat16 convolution kernels read. On CPUs with AMX or AVX-512 BF16 (Intel Sapphire Rapids
and later) a Conv-4 or ResNet-12 step is then about 2.8x faster than in float32
(``benchmarks/results/speed-precision.md``);
on older CPUs bfloat16 is emulated and slower. ``fp32``, the default, is what every run before the
flag used. Evaluation always runs in float32.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import ContextManager

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16")
PRECISION_HELP = ("number format of the training step: fp32, or bf16 (bfloat16 autocast and channels-last "
                  "layout: about 2.8x faster on CPUs with AMX or AVX-512 BF16, slower on others; "
                  "evaluation stays fp32)")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
    return precision


NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs that compute bfloat16 natively


def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether this CPU computes bfloat16 natively (AMX or AVX-512 BF16); None where it cannot be
    read (not Linux)."""
    try:
        flags = set(cpuinfo.read_text(errors="replace").split())
    except OSError:
        return None
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def prepare_model(model: nn.Module, precision: str, device: torch.device | str = "cpu") -> nn.Module:
    """Channels-last weights for ``bf16`` (4-d weights only; the values do not change); a warning
    when ``bf16`` would be emulated on this CPU."""
    if check_precision(precision) == "bf16":
        if torch.device(device).type == "cpu" and native_bf16() is False:
            warnings.warn("--precision bf16: this CPU has neither AMX nor AVX-512 BF16 (/proc/cpuinfo), so bfloat16 is "
                          "emulated and a training step is slower than in fp32, many times on some CPUs (a ResNet-12 "
                          "step took about 12x its fp32 time on an AVX2 EPYC: benchmarks/results/speed-precision.md); "
                          "train with --precision fp32 here.",
                          stacklevel=2)
        model.to(memory_format=torch.channels_last)
    return model


def prepare_input(x: torch.Tensor, precision: str) -> torch.Tensor:
    """``[B, C, H, W]`` images in the layout ``precision`` computes fastest on."""
    return x.contiguous(memory_format=torch.channels_last) if precision == "bf16" and x.dim() == 4 else x


def autocast(device: torch.device, precision: str) -> ContextManager:
    """The forward pass's context: bfloat16 autocast on ``device`` for ``bf16``, nothing for ``fp32``."""
    if check_precision(precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""Numeric precision: which autocast dtype a device runs the model in.

``auto`` picks bf16 on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX)
and on CUDA devices that support it, fp16 on other CUDA devices, and fp32
otherwise. The choice is one value (``Precision``) that training and inference
both read; the autocast context comes from it.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from geotrans.model.choices import PRECISIONS

log = logging.getLogger(__name__)

# Whether ``auto`` takes bf16 on CPUs with native bf16 for inference; set by measuring the shipped model's
# val metrics in both (README, "Precision"): bf16 must not cost more than 0.1 dB PSNR.
CPU_INFERENCE_BF16 = True  # full val: 25.755 dB in bf16 against 25.760 in fp32, 2.1x the speed
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """True where the CPU does bf16 arithmetic in hardware (AVX512-BF16 or AMX tiles)."""
    cpu = torch.cpu
    checks: list[Callable[[], bool]] = [getattr(cpu, name) for name in
                                        ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
                                        if hasattr(cpu, name)]
    return any(check() for check in checks)


@dataclass(frozen=True)
class Precision:
    """The resolved precision of one device: ``name`` is fp32, bf16 or fp16."""

    name: str
    device_type: str

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self.name]

    @property
    def reduced(self) -> bool:
        return self.name != "fp32"

    def autocast(self):
        """An autocast context for this precision; a no-op for fp32."""
        if not self.reduced:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def resolve_precision(requested: str, device: torch.device,
                      native_bf16: Optional[Callable[[], bool]] = None, cpu_bf16: bool = True) -> Precision:
    """The precision to run on ``device`` for ``requested`` (one of ``PRECISIONS``).

    ``native_bf16`` answers whether the CPU has native bf16 (for tests); it
    defaults to ``cpu_has_native_bf16``. ``cpu_bf16`` False keeps ``auto`` at
    fp32 on every CPU.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    device_type = torch.device(device).type
    if requested == "auto":
        if device_type == "cuda":
            requested = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif device_type == "cpu" and cpu_bf16 and (native_bf16 or cpu_has_native_bf16)():
            requested = "bf16"
        else:
            requested = "fp32"
    elif requested == "fp16" and device_type == "cpu":
        raise ValueError("fp16 runs on CUDA only; on the CPU use bf16 or fp32")
    return Precision(requested, device_type)

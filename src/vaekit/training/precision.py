"""Lower precision for training steps: autocast to bfloat16 or float16 where the hardware has
it. Only the training steps' forward passes run in it; every reported number (validation,
test, `vaekit eval`) is computed in float32 whatever the training precision.

    fp32  float32 throughout
    bf16  bfloat16 autocast: on CUDA GPUs that support it, and on CPUs with native bfloat16
          instructions (AVX512-BF16 or AMX-BF16), where large matrix products run several
          times faster; elsewhere float32, with a notice
    fp16  float16 autocast with a gradient scaler: CUDA GPUs only
    auto  bf16 where it is native (a CUDA GPU that supports it, or such a CPU); fp16 on other
          CUDA GPUs; else fp32
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from vaekit.errors import VaekitError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has bfloat16 instructions (from /proc/cpuinfo's flags; False where
    that file does not exist)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    flags = set(cpuinfo.split())
    return any(flag in flags for flag in CPU_BF16_FLAGS)


@dataclass(frozen=True)
class Precision:
    """What the training steps run in: `dtype` None is float32; `scaled` uses a gradient
    scaler (float16); `note` says why the request was not granted as asked."""

    name: str
    dtype: torch.dtype | None = None
    note: str | None = None

    @property
    def scaled(self) -> bool:
        return self.dtype == torch.float16

    @contextlib.contextmanager
    def autocast(self, device: torch.device) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=device.type, dtype=self.dtype):
            yield


def resolve_precision(
    requested: str, device: torch.device, cpu_bf16: bool | None = None
) -> Precision:
    """The precision the steps will run in on `device` for a `requested` one."""
    if requested not in PRECISIONS:
        raise VaekitError(f"unknown precision {requested!r}: choose from {', '.join(PRECISIONS)}")
    native = _native_bf16(device, cpu_bf16)
    if requested == "fp32":
        return Precision("fp32")
    if requested == "fp16":
        if device.type != "cuda":
            raise VaekitError("--precision fp16 is for CUDA GPUs; on this device use bf16 or fp32")
        return Precision("fp16", torch.float16)
    if requested == "bf16":
        if native:
            return Precision("bf16", torch.bfloat16)
        return Precision("fp32", note=f"{device.type} has no native bfloat16: training in fp32")
    if native:  # auto
        return Precision("bf16", torch.bfloat16)
    if device.type == "cuda":
        return Precision("fp16", torch.float16)
    return Precision("fp32")


def _native_bf16(device: torch.device, cpu_bf16: bool | None) -> bool:
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_has_native_bf16() if cpu_bf16 is None else cpu_bf16
    return False

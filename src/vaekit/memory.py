"""How much memory a device has free: for refusing work that could not fit, in one line,
before the system's out-of-memory killer ends the process without a word."""

from __future__ import annotations

import os

import torch


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """The memory available now on `device`, in bytes: a GPU's free memory, else Linux's
    MemAvailable (free memory and what the page cache would give back), else the free pages;
    None where the system does not say."""
    device = torch.device(device)
    if device.type == "cuda":
        try:  # free, and what torch's caching allocator holds unused (an earlier run's)
            cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
            return int(torch.cuda.mem_get_info(device)[0]) + int(cached)
        except (RuntimeError, AssertionError):
            return None
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None

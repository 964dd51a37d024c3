"""One line naming the machine, for benchmark output and the study's report."""

from __future__ import annotations

import os
import platform

__all__ = ["machine"]


def _cpu() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """E.g. ``"AMD EPYC 7B13, 2 logical cores, Linux x86_64"``."""
    return f"{_cpu()}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}"

"""What every benchmark script shares: the machine it ran on, and its section of RESULTS.md.

Imported as `from results import ...`: the scripts run as `python benchmarks/bench_X.py`, which
puts this folder on the import path.
"""

from __future__ import annotations

import os
import platform
import re
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine(libraries: tuple[str, ...] = ()) -> str:
    """Architecture, usable cores, CPU model, Python and the named libraries' versions."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    described = "".join(f", {name} {version(name)}" for name in libraries)
    return (
        f"{platform.machine()}, {cores} cores (nproc), {cpu}; Python {platform.python_version()}{described}"
    )


def write_section(section: str, report: str) -> None:
    """Replace the `section` heading's part of RESULTS.md with `report` (appended when absent)."""
    text = RESULTS.read_text()
    body = f"{section}\n\n{report.strip()}\n\n"
    pattern = re.compile(re.escape(section) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    RESULTS.write_text(
        pattern.sub(lambda _m: body, text, count=1) if pattern.search(text) else text + "\n" + body
    )

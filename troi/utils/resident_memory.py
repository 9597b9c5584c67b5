"""The process's resident memory (Linux ``/proc``), for the benchmarks."""

from typing import Dict

__all__ = ["reset_peak_rss", "resident_bytes"]


def resident_bytes() -> Dict[str, int]:
    """The process's current (``VmRSS``) and peak (``VmHWM``) resident memory, in bytes."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


def reset_peak_rss() -> None:
    """Make ``VmHWM`` the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")

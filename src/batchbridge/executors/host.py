"""What this machine offers to the scheduler: vCPUs, memory and GPUs.

AWS Batch places a job on an instance only when the instance's free vCPUs, memory and GPUs cover
the job's resource requirements.  The local executor's single "instance" is this machine: its
usable CPUs (the affinity mask, so a container's CPU quota is honoured), ``MemTotal`` from
``/proc/meminfo`` (or the configured ``memory_mib`` when it is smaller) and the NVIDIA devices
present under ``/dev``.
"""

from __future__ import annotations

import os
import re

from batchbridge.executors.base import Capacity

_NVIDIA_DEVICE = re.compile(r"^nvidia[0-9]+$")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def memory_total_mib() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024))


def gpu_count() -> int:
    try:
        return sum(1 for name in os.listdir("/dev") if _NVIDIA_DEVICE.match(name))
    except OSError:
        return 0


def host_capacity(memory_mib: int | None = None) -> Capacity:
    """This machine's capacity; ``memory_mib`` (when positive) caps the memory handed to jobs."""
    memory = memory_total_mib()
    if memory_mib is not None and memory_mib > 0:
        memory = min(memory, memory_mib)
    return Capacity(vcpus=float(cpu_count()), memory_mib=memory, gpus=gpu_count())

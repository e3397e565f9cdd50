"""How many CPU threads a run's torch work uses (``cub evaluate --threads``).

torch's own default is one thread per core. When another process holds a core, every parallel
region then waits for the thread that is not running: on a 2-core machine an hf run took 2.5 min
with two threads against 22 s with one (NOTES.md, "threads"). The default leaves one core for
the rest of the machine and takes no core the load average shows busy; an OMP_NUM_THREADS set
in the environment is honoured.
"""

from __future__ import annotations

import os

from code_unlearn_bench.errors import CubError


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads(n_cores: int | None = None, load: float | None = None) -> int:
    """All cores but one, and none the last minute's load average shows busy; at least one."""
    n = cores() if n_cores is None else n_cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(n - 1, n - int(load + 0.5)))


def resolve(threads: int | None) -> int:
    """--threads, else an OMP_NUM_THREADS the user set, else default_threads()."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        return int(env) if env.isdigit() and int(env) > 0 else default_threads()
    if threads < 1:
        raise CubError(f"--threads must be >= 1, got {threads}")
    return threads


def apply(threads: int | None) -> int:
    """Set torch's intra-op threads (and OMP_NUM_THREADS for the child processes a run starts);
    returns the number used."""
    n = resolve(threads)
    os.environ["OMP_NUM_THREADS"] = str(n)
    import torch

    torch.set_num_threads(n)
    return n

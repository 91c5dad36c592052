"""Helpers for the kit's worker processes (pseudo-label refinement, ablation sub-runs)."""
from __future__ import annotations

import signal
import sys


def die_with_parent() -> None:
    """Linux: have the kernel end this process when the one that started it dies, so that the
    workers of a killed run do not live on as orphans (still writing files). A no-op elsewhere.
    Call it in a worker, never in the main process."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

"""The JupyterLab command `make lab` runs (`slams lab`): the notebooks, the kit's environment as kernel."""
from __future__ import annotations

import os
import subprocess
import sys

from .paths import project_root


def lab_command(*extra: str) -> list[str]:
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={project_root() / 'notebooks'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")   # containers and CI machines often run as root
    return argv + list(extra)


def run_lab(extra=()) -> int:
    return subprocess.call(lab_command(*extra))

"""Worker processes of a killed run do not outlive it."""
import os
import subprocess
import sys
import time

import pytest

PARENT = """
import multiprocessing, os, time
from concurrent.futures import ProcessPoolExecutor
from slamslib.processes import die_with_parent

def busy():
    time.sleep(60)

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent)
    pool.submit(busy)
    time.sleep(3)                       # the worker is up and busy
    print(*(p.pid for p in pool._processes.values()), flush=True)
    os._exit(0)                         # dies like a killed run: no shutdown, no cleanup
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_pool_worker_ends_when_its_parent_dies(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                         cwd=os.getcwd())
    worker = int(out.stdout.split()[0])
    deadline = time.time() + 10
    while _alive(worker) and time.time() < deadline:
        time.sleep(0.2)
    alive = _alive(worker)
    if alive:
        os.kill(worker, 9)
    assert not alive, "the busy worker outlived its parent"

"""The JupyterLab server `make lab` starts: headless, on a free localhost port, lists the notebooks."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from slamslib.lab import lab_command

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_lists_the_notebooks_and_stops_cleanly(tmp_path):
    port, token = _free_port(), "slams-test-token"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    command = lab_command("--no-browser", "--ip=127.0.0.1", f"--port={port}",
                          "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}")
    log = open(tmp_path / "lab.log", "w+")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        deadline, listing = time.time() + 60, None
        while time.time() < deadline and listing is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    listing = json.load(response)
            except OSError:
                assert server.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer within 60 s"
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} <= names
        assert "00_benchmark.ipynb" in names
    finally:
        # Jupyter's own shutdown endpoint: the server stops its kernels and exits by itself.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/shutdown?token={token}",
                                         method="POST")
        try:
            urllib.request.urlopen(request, timeout=10).close()
            code = server.wait(timeout=30)
        except Exception:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            raise
        log.close()
    assert code == 0

"""Start `qa serve` (the API and the chat) in a subprocess on a free 127.0.0.1 port for the web, API and
browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, index_dir: Path, upload_dir: Path, *extra: str, env: dict | None = None) -> None:
        self.port = free_port()
        self.index_dir = index_dir
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "QA_INDEX_DIR": str(index_dir), "QA_UPLOAD_DIR": str(upload_dir),
               "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        # the log goes to the temp folder, never beside the index (the checkout's own index/ sits in the repo root)
        self.log_path = Path(tempfile.gettempdir()) / f"qa-server-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--port", str(self.port), *extra],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                urllib.request.urlopen(self.url + "/gradio_api/info", timeout=2)
                return
            except OSError as e:
                if getattr(e, "code", None) == 401:  # up, behind --auth
                    return
                time.sleep(0.5)
        raise RuntimeError("server did not start in 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

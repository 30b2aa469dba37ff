"""The first and second generated answer after `qa serve` starts (the server's warm-up, qa/service.py).

    .venv/bin/python bench/first_question.py [CHECKOUT] [PORT]

Starts `qa -v serve` from CHECKOUT (default: this one; a `git worktree` of an older commit gives the before),
on the index in QA_INDEX_DIR (default: index/), waits until the log says the warm-up is done (at most 150 s: an
older checkout that does not log it gets 150 s to load its models), then asks the seed "years" question twice and
prints one JSON line: seconds to listen, to the first question, the warm-up line, and each answer's seconds and
stage timings. One run; the CPU's kernels are whatever CTranslate2 picks (say which when quoting it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
YEARS = "Which years were designated as the Years of High-Quality Development?"


def main() -> None:
    checkout = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 7911
    env = {**os.environ, "QA_INDEX_DIR": os.environ.get("QA_INDEX_DIR", str(ROOT / "index")), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(checkout)}
    log_path = Path(tempfile.gettempdir()) / f"first-question-{port}.log"
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "-v", "serve", "--port", str(port)], cwd=checkout,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                if proc.poll() is not None:
                    sys.exit(f"the server exited: {log_path.read_text()[-2000:]}")
                try:
                    httpx.get(url + "/v1/health", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            listening = time.monotonic() - t0
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline and "warm-up done" not in log_path.read_text():
                time.sleep(1)
            asked = time.monotonic() - t0
            answers = []
            for _ in range(2):
                t = time.monotonic()
                a = httpx.post(url + "/v1/ask", json={"question": YEARS}, timeout=900).json()
                answers.append({"seconds": round(time.monotonic() - t, 1), "mode": a["mode"], "text": a["text"][:80],
                                "timings": {k: round(v, 1) for k, v in a["timings"].items()}})
        finally:
            proc.terminate()
            proc.wait(30)
    warm = [line.strip() for line in log_path.read_text().splitlines() if "warm-up" in line]
    print(json.dumps({"checkout": str(checkout), "listening_s": round(listening, 1), "asked_at_s": round(asked, 1),
                      "warm_up": warm, "answers": answers}))


if __name__ == "__main__":
    main()

"""`make load`: a bounded, headless Locust load test of one `qa serve` on this machine.

Starts the server on a free 127.0.0.1 port (default index and settings), warms the models, then runs
32 users in extractive mode and 8 users in generated mode for 60 s each (LOAD_SECONDS to change).
Prints requests/s, p50/p95 latency, answers, 503s and real failures per run, appends them to
bench/RESULTS.md, and exits non-zero if any request was dropped or failed other than with a 503.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.webserver import free_port  # noqa: E402

# LOAD_RUNS="generated:8" runs only that; QA_* settings (QA_CONCURRENCY, QA_QUEUE_SIZE, …) reach the server.
RUNS = [(m, int(u)) for m, u in (r.split(":") for r in os.environ.get("LOAD_RUNS", "extractive:32,generated:8")
                                   .split(","))]
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            urllib.request.urlopen(url + "/v1/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        raise SystemExit("the server did not start")
    question = b'{"question": "Which years were designated as the Years of High-Quality Development?"}'
    warm = urllib.request.Request(url + "/v1/ask", data=question, headers={"content-type": "application/json"})
    urllib.request.urlopen(warm, timeout=600).read()  # loads both models before the clock starts
    return proc, url


def run(url: str, mode: str, users: int, out: Path) -> dict:
    prefix = out / mode
    env = {**os.environ, "LOAD_MODE": mode}
    subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                    "-u", str(users), "-r", str(users), "-t", f"{SECONDS}s", "--host", url, "--csv", str(prefix),
                    "--only-summary", "--stop-timeout", "600", "--loglevel", "WARNING"], env=env, check=False)
    stats = next(r for r in csv.DictReader(open(f"{prefix}_stats.csv")) if r["Name"] == "Aggregated")
    failures = list(csv.DictReader(open(f"{prefix}_failures.csv")))
    busy = sum(int(f["Occurrences"]) for f in failures if "busy 503" in f["Error"])
    other = sum(int(f["Occurrences"]) for f in failures if "busy 503" not in f["Error"])
    total = int(stats["Request Count"])
    return {"mode": mode, "users": users, "requests": total, "answered": total - busy - other, "busy": busy,
            "failed": other, "rps": float(stats["Requests/s"]), "p50": float(stats["50%"]) / 1000,
            "p95": float(stats["95%"]) / 1000, "errors": [f["Error"] for f in failures if "busy" not in f["Error"]]}


def record(results: list[dict], load_before: float) -> str:
    isa = os.environ.get("CT2_FORCE_CPU_ISA", "best")
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')} — `make load` (Locust, {SECONDS} s per run, one server, "
             f"2 cores, QA_CONCURRENCY={os.environ.get('QA_CONCURRENCY', '2')}, {isa} kernels, load average "
             f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after)\n",
             "| mode | users | requests | answered | 503 busy | failed | req/s | p50 | p95 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['mode']} | {r['users']} | {r['requests']} | {r['answered']} | {r['busy']} | {r['failed']} "
                     f"| {r['rps']:.2f} | {r['p50']:.2f} s | {r['p95']:.2f} s |")
    table = "\n".join(lines) + "\n"
    with open(ROOT / "bench" / "RESULTS.md", "a") as f:
        f.write(table)
    return table


def main() -> int:
    load_before = os.getloadavg()[0]  # the machine may be shared: the figures are only as good as this
    proc, url = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = [run(url, mode, users, Path(tmp)) for mode, users in RUNS]
    finally:
        proc.terminate()
        proc.wait(30)
    print(record(results, load_before))
    bad = [r for r in results if r["failed"] or r["requests"] == 0]
    for r in bad:
        print(f"{r['mode']}: {r['failed']} failed requests: {r['errors']}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""Locust users for `make load` (bench/load.py runs them headless against one `qa serve`).

Each user asks the seed questions in turn through POST /v1/ask, in the mode LOAD_MODE names.
A 503 (queue full, with Retry-After) is recorded as the failure "busy 503"; any other non-200, a
connection error or a reply without an answer is a real failure, so nothing is dropped silently.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from locust import HttpUser, between, task

QUESTIONS = [json.loads(line)["q"] for line in
             (Path(__file__).parent / "questions-seed.jsonl").read_text().splitlines() if line.strip()]
MODE = os.environ.get("LOAD_MODE", "extractive")
_next = itertools.cycle(range(len(QUESTIONS)))


class Asker(HttpUser):
    wait_time = between(0.5, 1.5)

    @task
    def ask(self) -> None:
        question = QUESTIONS[next(_next)]
        with self.client.post("/v1/ask", json={"question": question, "mode": MODE}, name=f"ask ({MODE})",
                              catch_response=True, timeout=600) as r:
            if r.status_code == 503 and r.headers.get("retry-after"):
                r.failure("busy 503")
            elif r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif "abstained" not in r.json():
                r.failure("no answer in the reply")
            else:
                r.success()

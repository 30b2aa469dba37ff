"""Schemathesis against /openapi.json of a real server: every operation, every check, a bounded number of
generated requests each. No 5xx, every response (errors included) matches the documented schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_index
from tests.webserver import Server

pytestmark = pytest.mark.slow
EXAMPLES = 25  # per operation and phase; ~600 requests, ~20 s


def test_schemathesis_finds_no_failure(tmp_path, real_settings):
    index = copy_index(real_settings, tmp_path / "index")  # the fuzzer uploads and removes documents
    srv = Server(index, tmp_path / "uploads", "--api-key", "fuzz", env={"QA_MODE": "extractive"})
    try:
        st = Path(sys.executable).parent / "st"
        out = subprocess.run([str(st), "--config-file", str(ROOT / "tests" / "schemathesis.toml"), "run",
                              f"{srv.url}/openapi.json", "-n", str(EXAMPLES), "--seed", "7", "--no-color",
                              "-H", "Authorization: Bearer fuzz", "--request-timeout", "120"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    finally:
        srv.stop()
    report = out.stdout + out.stderr
    (ROOT / "tests" / "artifacts").mkdir(exist_ok=True)
    (ROOT / "tests" / "artifacts" / "schemathesis.txt").write_text(report)
    assert out.returncode == 0, report[-4000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", report)
    assert cases and int(cases.group(1)) >= 8 * EXAMPLES and cases.group(1) == cases.group(2), report[-2000:]
    assert "Selected: 8/8" in report and "Tested: 8" in report

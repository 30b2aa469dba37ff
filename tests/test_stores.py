"""The store contract, run against both stores (local FAISS + SQLite, and Milvus Lite): the same tests.

Retrieval, incremental updates, removal, deduplication, listing and exact citation offsets must behave
the same whatever holds the index. SIGKILLs against Milvus Lite check that nothing is ever half visible.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from qa.answer.pipeline import ask
from qa.answer.retrieval import retrieve
from qa.config import Settings
from qa.ingest.indexing import update_index
from qa.store import open_reader
from tests.conftest import ROOT, TINY, write_corpus


@pytest.fixture(params=["local", "milvus-lite"])
def store_settings(request, tmp_path) -> Settings:
    store = str(tmp_path / "qa.db") if request.param == "milvus-lite" else ""
    return Settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus", cache_dir=tmp_path / "cache",
                    min_answer_score=0.2, store=store)


def _texts(corpus) -> dict[str, str]:
    return {str((corpus / name).resolve()): text for name, text in TINY.items()}


def test_build_retrieve_and_cite_exactly(store_settings, corpus, fake_embedder):
    stats = update_index([corpus], settings=store_settings, embedder=fake_embedder)
    assert stats.documents == 3 and stats.chunks >= 3 and stats.version
    texts = _texts(corpus)
    with open_reader(store_settings) as store:
        passages = retrieve("When was the treaty signed?", store, fake_embedder, k=3)
        assert passages and all(texts[p.doc_path][p.start:p.end] == p.text for p in passages)
        assert store.version == stats.version
        for doc in store.documents():
            assert store.document_text(doc["sha256"])[0] == texts[doc["path"]]
    a = ask("When was the treaty signed?", settings=store_settings, embedder=fake_embedder, mode="extractive")
    assert not a.abstained and "17 June 2025" in a.text
    assert all(texts[c.doc_path][c.start:c.end] == c.quote for c in a.citations)


def test_incremental_updates_and_removal(store_settings, corpus, fake_embedder):
    first = update_index([corpus], settings=store_settings, embedder=fake_embedder)
    calls = fake_embedder.calls
    again = update_index([corpus], settings=store_settings, embedder=fake_embedder)
    assert again.version == first.version and again.unchanged == 3 and fake_embedder.calls == calls
    (corpus / "trains.txt").write_text("Freight trains now carry 2.1 million containers a year.")
    changed = update_index([corpus], settings=store_settings, embedder=fake_embedder)
    assert changed.updated == 1 and changed.chunks_embedded == 1 and changed.version != first.version
    (corpus / "rivers.md").unlink()
    gone = update_index([corpus], settings=store_settings, embedder=fake_embedder)
    assert gone.removed == 1 and gone.documents == 2
    with open_reader(store_settings) as store:
        paths = {d["path"].rsplit("/", 1)[-1] for d in store.documents()}
        hits = retrieve("Amu Darya river Aral Sea", store, fake_embedder, k=5)
    assert paths == {"trains.txt", "summit.md"}
    assert all("Amu Darya" not in p.text for p in hits) and any("2.1 million" in p.text for p in hits)


def test_same_content_under_two_names_is_stored_once(store_settings, corpus, fake_embedder):
    (corpus / "copy.md").write_text(TINY["summit.md"])
    stats = update_index([corpus], settings=store_settings, embedder=fake_embedder)
    assert stats.documents == 4
    with open_reader(store_settings) as store:
        docs = store.documents()
        hits = retrieve("treaty of permanent good-neighborliness", store, fake_embedder, k=10)
    assert len({d["sha256"] for d in docs}) == 3
    assert len([p for p in hits if "good-neighborliness" in p.text]) == 1  # one copy of its chunks
    update_index([corpus / "copy.md"], action="remove", settings=store_settings, embedder=fake_embedder)
    with open_reader(store_settings) as store:  # the other name keeps the content
        assert any("good-neighborliness" in p.text for p in retrieve("treaty", store, fake_embedder, k=5))


def test_service_layer_on_both_stores(store_settings, corpus, fake_embedder, monkeypatch, tmp_path):
    from qa import service

    monkeypatch.setattr("qa.ingest.indexing.settings_embedder", lambda *a, **k: fake_embedder)
    s = store_settings.replace(upload_dir=tmp_path / "uploads")
    assert service.index_status(s)["version"] is None and service.list_documents(s) == []
    update_index([corpus], settings=s, embedder=fake_embedder)
    up = service.upload_documents([("lake.txt", b"Lake Issyk-Kul never freezes.")], settings=s)
    assert up.saved and service.index_status(s)["documents"] == 4
    doc = next(d for d in service.list_documents(s) if d["path"].endswith("lake.txt"))
    assert service.document_text(doc["id"], settings=s)[1] == "Lake Issyk-Kul never freezes."
    service.remove_document(doc["id"], settings=s)
    assert service.index_status(s)["documents"] == 3


def test_bad_store_setting_is_a_clear_error():
    from qa.errors import InputError

    with pytest.raises(InputError, match="is none of: empty: the local index"):
        Settings.from_env(store="ftp://example")


# --- the registry: one backend per store kind, and every way in goes through it ---


def test_every_store_kind_has_a_registered_backend():
    from qa.config import STORE_KINDS, store_kind
    from qa.store import BACKENDS, local, milvus

    assert set(BACKENDS) == set(STORE_KINDS)
    assert BACKENDS["local"].reader is local.reader and BACKENDS["milvus-lite"].writer is milvus.writer
    assert [store_kind(x) for x in ("", "x.db", "http://h:19530")] == ["local", "milvus-lite", "milvus"]


def test_stores_are_opened_by_their_registered_backend(monkeypatch, tmp_path):
    """open_reader, open_writer, has_index and scratch dispatch on the kind alone: swap the backend, they follow."""
    from contextlib import nullcontext

    from qa import store
    from qa.errors import InputError
    from qa.evaluation import evaluate

    calls = []
    fake = store.Backend(reader=lambda s: nullcontext(("reader", s.store)),
                         writer=lambda s, errors: calls.append(errors) or nullcontext("writer"),
                         has_index=lambda s: True)
    monkeypatch.setitem(store.BACKENDS, "milvus", fake)
    s = Settings(store="http://example:19530")
    with store.open_reader(s) as r, store.open_writer(s) as w:
        assert r == ("reader", "http://example:19530") and w == "writer" and calls == [[]]
    assert store.has_index(s) and store.scratch(s, tmp_path) is None  # a server has no throwaway store
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"q": "anything?", "gold": []}\n')
    with pytest.raises(InputError, match="overwrite the Milvus server"):
        evaluate(questions, corpus=tmp_path, settings=s)
    lite = store.scratch(Settings(store=str(tmp_path / "mine.db")), tmp_path / "t")
    assert lite.store == str(tmp_path / "t" / "eval.db") and store.scratch(Settings(), tmp_path).store == ""
    with pytest.raises(ValueError, match="unknown store kind"):
        store.register("ftp", fake)


# --- SIGKILL against Milvus Lite: never half visible, always recoverable ---

CHECK = """
import json, sys
sys.path.insert(0, {root!r})
from qa.config import Settings
from qa.store import open_reader
s = Settings(store={store!r})
with open_reader(s) as st:
    out = []
    for d in st.documents():
        text, _ = st.document_text(d["sha256"])
        rows = st.cols.query("chunks", 'sha256 == "%s"' % d["sha256"], ["ord"])
        out.append([d["path"], text, d["chunks"], sorted(r["ord"] for r in rows)])
    hits = st.hybrid(__import__("numpy").ones(64, dtype="float32") / 8, "document topic round", 200)
    visible = st.chunks([i for i, _ in hits])
    print(json.dumps({{"docs": out, "hits": len(hits), "visible": [[r.path, r.text] for r in visible.values()]}}))
"""


def _check(store: str) -> dict:
    import json

    out = subprocess.run([sys.executable, "-c", CHECK.format(root=str(ROOT), store=store)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_sigkill_during_milvus_indexing_never_leaves_half_a_document(tmp_path):
    a = write_corpus(tmp_path / "a", {f"f{i}.txt": f"Document {i} talks about topic {i}. " * (20 + i)
                                      for i in range(30)})
    store = str(tmp_path / "kill.db")
    worker = [sys.executable, str(ROOT / "tests/crash_worker.py"), str(tmp_path / "index"), str(a)]
    env = {**os.environ, "QA_STORE": store}
    subprocess.run(worker, check=True, cwd=ROOT, capture_output=True, env=env)
    rnd = random.Random(11)

    def rewrite(i: int) -> None:
        for j in rnd.sample(range(30), 6):
            (a / f"f{j}.txt").write_text(f"Round {i} rewrote document {j}. " * rnd.randint(5, 60))

    rewrite(-1)
    proc = subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    proc.stdout.readline()
    t0 = time.perf_counter()
    proc.wait()
    duration = time.perf_counter() - t0
    kills = runs = 0
    while kills < 10 and runs < 40:
        runs += 1
        rewrite(runs)
        proc = subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rnd.uniform(0, duration))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        state = _check(store)
        paths = [path for path, _, _, _ in state["docs"]]
        assert len(state["docs"]) == 30, (  # every file stays visible, in its old or its new version
            f"{len(paths)} records, {len(set(paths))} paths; twice: {sorted({p for p in paths if paths.count(p) > 1})}")
        for path, text, n_chunks, ords in state["docs"]:
            assert ords == list(range(n_chunks)), f"{path}: chunks {ords[:5]}… of {n_chunks}"
            assert text.startswith(("Document", "Round"))
        texts = {path: text for path, text, _, _ in state["docs"]}
        assert all(chunk in texts[path] for path, chunk in state["visible"])  # hits only from complete documents
    assert kills == 10, f"only {kills} of {runs} runs were killed mid-way (a run takes {duration:.2f} s)"
    subprocess.run(worker, check=True, cwd=ROOT, capture_output=True, env=env)  # recovers: in line with the files
    state = _check(store)
    assert {p.rsplit("/", 1)[-1]: t for p, t, _, _ in state["docs"]} == {
        f.name: f.read_text() for f in a.iterdir()}


def test_milvus_readers_take_a_paths_newest_record_and_the_next_run_cleans_up(tmp_path, corpus, fake_embedder,
                                                                             monkeypatch):
    """After a SIGKILL inside Milvus Lite's upsert, a scan of the file records returned the old record of a path
    beside the new one (50 records for 30 files). Readers take the newest (largest mtime_ns) only, and the next
    indexing run writes such a path once more. The stale record is replayed here through the scan."""
    from qa.store.milvus import Collections

    s = Settings(index_dir=tmp_path / "index", cache_dir=tmp_path / "cache", min_answer_score=0.2,
                 store=str(tmp_path / "dup.db"))
    update_index([corpus], settings=s, embedder=fake_embedder)
    with open_reader(s) as store:
        docs = {d["path"].rsplit("/", 1)[-1]: d for d in store.documents()}
    summit, trains = docs["summit.md"], docs["trains.txt"]
    (corpus / "summit.md").write_text(TINY["summit.md"] + " The next summit is planned for 2027.")
    update_index([corpus], settings=s, embedder=fake_embedder)
    with open_reader(s) as store:
        new = next(d for d in store.documents() if d["path"] == summit["path"])
    assert new["sha256"] != summit["sha256"]
    stale = {"path": summit["path"], "sha256": trains["sha256"], "size": 1, "mtime_ns": 1}  # older than the file
    scan = Collections.scan

    def with_stale(self, short, expr, fields):
        yield from scan(self, short, expr, fields)
        if short == "files":
            yield {k: stale[k] for k in fields}

    monkeypatch.setattr(Collections, "scan", with_stale)
    with open_reader(s) as store:
        listed = store.documents()
    assert len(listed) == 3 and [d["sha256"] for d in listed if d["path"] == summit["path"]] == [new["sha256"]]
    puts = []
    from qa.store.milvus import MilvusWriter

    settle = MilvusWriter.settle
    monkeypatch.setattr(MilvusWriter, "settle", lambda self: (puts.append(dict(self._put)), settle(self))[1])
    again = update_index([corpus], settings=s, embedder=fake_embedder)
    assert again.documents == 3 and again.chunks_embedded == 0
    assert puts and puts[0] == {summit["path"]: (new["sha256"], new["size"], puts[0][summit["path"]][2])}

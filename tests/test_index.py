"""The on-disk index with a fake embedder: round trip, validation, incremental updates, hostile files."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qa.errors import DocumentError, IndexStoreError
from qa.ingest.indexing import update_index
from qa.store import Store
from tests.conftest import ROOT, TINY, write_corpus


def _check_consistent(index_dir: Path) -> Store:
    store = Store.open(index_dir)
    with sqlite3.connect(store.dir / "chunks.sqlite") as c:
        rows = c.execute("SELECT count(*) FROM chunks").fetchone()[0]
        fts = c.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        for sha, text in c.execute("SELECT sha256, text FROM documents"):
            for start, end, chunk in c.execute("SELECT start, end, text FROM chunks WHERE sha256 = ?", (sha,)):
                assert text[start:end] == chunk
    assert store._index.ntotal == rows == fts == store.manifest["chunks"]
    return store


def test_round_trip_and_offsets(built, fake_embedder):
    store = _check_consistent(built.index_dir)
    docs = store.documents()
    assert sorted(Path(d["path"]).name for d in docs) == sorted(TINY)
    assert all(d["chunks"] >= 1 for d in docs)


def test_dense_search_matches_brute_force(tmp_path, fake_embedder, settings):
    files = {f"d{i}.txt": " ".join(random.Random(i).choice(["river", "train", "summit", "sea", "mountain",
             "treaty", "freight", "China", "Europe", "water"]) + "." for _ in range(40)) for i in range(30)}
    update_index([write_corpus(tmp_path / "c", files)], settings=settings, embedder=fake_embedder)
    store = Store.open(settings.index_dir)
    with sqlite3.connect(store.dir / "chunks.sqlite") as c:
        rows = c.execute("SELECT id, vector FROM chunks").fetchall()
    ids = np.array([r[0] for r in rows])
    mat = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    for q in ["river sea", "freight train Europe", "treaty summit China"]:
        qv = fake_embedder.embed([q])[0]
        brute = dict(zip(ids.tolist(), (mat @ qv).tolist(), strict=True))
        got = store.dense(qv, 5)
        np.testing.assert_allclose([s for _, s in got], sorted(brute.values(), reverse=True)[:5], atol=1e-5)
        for i, score in got:  # each hit is the chunk it claims to be, with its true score
            assert abs(brute[i] - score) < 1e-5


def test_keyword_search_finds_rare_word(built):
    store = Store.open(built.index_dir)
    hits = store.keyword("Duisburg?", 3)
    assert hits and "Duisburg" in store.chunks([hits[0][0]])[hits[0][0]].text
    assert store.keyword('" OR ) NEAR(', 3) == []  # FTS syntax in a question is data, not a query


@pytest.mark.parametrize("damage", ["truncate_faiss", "tamper_db", "bad_current", "no_manifest", "bad_manifest"])
def test_damaged_index_is_refused_with_clear_error(built, damage):
    version = Store.open(built.index_dir).dir
    if damage == "truncate_faiss":
        p = version / "vectors.faiss"
        p.write_bytes(p.read_bytes()[:100])
    elif damage == "tamper_db":
        p = version / "chunks.sqlite"
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0xFF
        p.write_bytes(bytes(data))
    elif damage == "bad_current":
        (built.index_dir / "CURRENT").write_text("../../etc")
    elif damage == "no_manifest":
        (version / "manifest.json").unlink()
    else:
        (version / "manifest.json").write_text("{not json")
    with pytest.raises(IndexStoreError) as e:
        Store.open(built.index_dir)
    assert "qa index" in str(e.value) and "\n" not in str(e.value)


def test_rebuild_after_damage_recovers(built, corpus, fake_embedder):
    version = Store.open(built.index_dir).dir
    (version / "vectors.faiss").write_bytes(b"garbage")
    stats = update_index([corpus], settings=built, embedder=fake_embedder)
    assert any("rebuilding from scratch" in e for e in stats.errors)
    assert _check_consistent(built.index_dir).manifest["documents"] == 3


def test_missing_index_is_a_clear_error(settings):
    with pytest.raises(IndexStoreError, match="no index"):
        Store.open(settings.index_dir)


def test_unchanged_files_cost_nothing(built, corpus, fake_embedder):
    before = (Store.open(built.index_dir).dir, fake_embedder.calls)
    stats = update_index([corpus], settings=built, embedder=fake_embedder)
    assert stats.unchanged == 3 and stats.chunks_embedded == 0
    assert (Store.open(built.index_dir).dir, fake_embedder.calls) == before  # no new version, no embedding


def test_incremental_change_add_remove(built, corpus, fake_embedder):
    (corpus / "trains.txt").write_text("Trains now take 10 days. Containers are blue.")
    (corpus / "new.md").write_text("# New\n\nA brand new document about lakes.")
    (corpus / "rivers.md").unlink()
    stats = update_index([corpus], settings=built, embedder=fake_embedder)
    assert (stats.added, stats.updated, stats.removed, stats.unchanged) == (1, 1, 1, 1)
    store = _check_consistent(built.index_dir)
    names = {Path(d["path"]).name for d in store.documents()}
    assert names == {"trains.txt", "new.md", "summit.md"}
    assert store.keyword("Amu Darya", 5) == []  # removed file left the keyword index
    text = " ".join(r.text for r in store.chunks([i for i, _ in store.keyword("trains containers", 5)]).values())
    assert "10 days" in text and "1.9 million" not in text


def test_add_and_remove_actions(built, tmp_path, fake_embedder):
    extra = tmp_path / "extra.txt"
    extra.write_text("Extra facts about glaciers in the Pamir.")
    update_index([extra], action="add", settings=built, embedder=fake_embedder)
    assert len(Store.open(built.index_dir).documents()) == 4
    update_index([extra], action="remove", settings=built, embedder=fake_embedder)
    docs = Store.open(built.index_dir).documents()
    assert len(docs) == 3 and not any("extra" in d["path"] for d in docs)
    stats = update_index([tmp_path / "nowhere.txt"], action="remove", settings=built, embedder=fake_embedder)
    assert any("not in the index" in e for e in stats.errors)


def test_duplicates_are_stored_once(built, corpus, fake_embedder):
    (corpus / "copy-of-trains.txt").write_text(TINY["trains.txt"])
    stats = update_index([corpus], settings=built, embedder=fake_embedder)
    assert stats.added == 1 and stats.chunks_embedded == 0
    store = _check_consistent(built.index_dir)
    assert len(store.documents()) == 4
    with sqlite3.connect(store.dir / "chunks.sqlite") as c:
        assert c.execute("SELECT count(*) FROM documents").fetchone()[0] == 3


def test_hostile_files_are_reported_and_good_ones_indexed(built, corpus, fake_embedder, tmp_path):
    (corpus / "empty.txt").write_text("")
    (corpus / "blank.md").write_text("   \n\n  ")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02PNG" * 100)
    (corpus / "nul.txt").write_bytes(b"some text\x00more")
    (corpus / "huge.txt").write_bytes(b"x" * 1_100_000)
    (corpus / "scan.pdf").write_bytes(b"%PDF-1.4 broken")
    (corpus / "we\u00efrd name [1] (copy).txt").write_text("Odd names are fine.")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret outside the folder")
    (corpus / "link.txt").symlink_to(outside)
    s = built.replace(max_file_mb=1.0)
    stats = update_index([corpus], settings=s, embedder=fake_embedder)
    joined = "\n".join(stats.errors)
    for name, reason in [("empty.txt", "empty"), ("blank.md", "empty"), ("binary.txt", "binary"),
                         ("nul.txt", "binary"), ("huge.txt", "file limit"), ("scan.pdf", "PDF"),
                         ("link.txt", "symlink points outside")]:
        assert any(name in e and reason in e for e in stats.errors), (name, joined)
    assert len(stats.errors) == 7
    store = _check_consistent(built.index_dir)
    names = {Path(d["path"]).name for d in store.documents()}
    assert names == set(TINY) | {"we\u00efrd name [1] (copy).txt"}


def test_nothing_indexable_is_an_error_and_keeps_nothing(tmp_path, settings, fake_embedder):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.txt").write_text("")
    with pytest.raises(DocumentError, match="nothing to index"):
        update_index([folder], settings=settings, embedder=fake_embedder)


def test_file_vanishing_mid_run(built, corpus, fake_embedder, monkeypatch):
    import qa.ingest.indexing as ix

    (corpus / "ghost.txt").write_text("I will vanish.")
    real = ix._ingest

    def ingest(run, key, path, *a):
        if path.name == "ghost.txt":
            path.unlink()
        return real(run, key, path, *a)

    monkeypatch.setattr(ix, "_ingest", ingest)
    stats = update_index([corpus], settings=built, embedder=fake_embedder)
    assert any("ghost.txt" in e and "vanished" in e for e in stats.errors)
    _check_consistent(built.index_dir)


def test_old_versions_are_pruned(built, corpus, fake_embedder):
    for i in range(4):
        (corpus / "n.txt").write_text(f"Version {i} of a note.")
        update_index([corpus], settings=built, embedder=fake_embedder)
    assert len(list(built.index_dir.glob("v-*"))) == built.keep_versions


def test_approximate_index_above_threshold(tmp_path, corpus, settings, fake_embedder):
    s = settings.replace(approx_threshold=2)
    update_index([corpus], settings=s, embedder=fake_embedder)
    store = _check_consistent(s.index_dir)
    assert store.manifest["index_type"] == "hnsw"
    qv = fake_embedder.embed(["Aral Sea"])[0]
    assert store.dense(qv, 3)


def test_kill_during_indexing_leaves_a_consistent_index(tmp_path):
    """SIGKILL indexing at 20 random moments; after each kill the live index loads and is consistent."""
    a = write_corpus(tmp_path / "a", {f"f{i}.txt": f"Document {i} talks about topic {i}. " * (20 + i)
                                      for i in range(40)})
    index_dir = tmp_path / "index"
    worker = [sys.executable, str(ROOT / "tests/crash_worker.py"), str(index_dir), str(a)]
    subprocess.run(worker, check=True, cwd=ROOT, capture_output=True)
    rnd = random.Random(7)

    def rewrite(i: int) -> None:  # change some files so every run has work to do
        for j in rnd.sample(range(40), 8):
            (a / f"f{j}.txt").write_text(f"Round {i} rewrote document {j}. " * rnd.randint(5, 60))

    rewrite(-1)  # time one full run from "ready" to exit, to spread the kills over all of it
    proc = subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    t0 = time.perf_counter()
    proc.wait()
    duration = time.perf_counter() - t0
    kills = 0
    runs = 0
    while kills < 20 and runs < 60:  # 20 kills mid-run; a run that finished first still gets checked
        runs += 1
        rewrite(runs)
        proc = subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rnd.uniform(0, duration))  # up to the very end: the publish step too
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        store = _check_consistent(index_dir)
        assert store.manifest["documents"] == 40
        manifest = json.loads((store.dir / "manifest.json").read_text())
        assert manifest["chunks"] == store._index.ntotal
    assert kills == 20, f"only {kills} of {runs} runs were killed mid-way (a run takes {duration:.2f} s)"


def test_formats_index_and_pdf_citations_name_the_page(tmp_path, settings, fake_embedder):
    import io

    import docx

    from qa.answer.pipeline import ask
    from tests.pdfgen import make_pdf

    folder = tmp_path / "formats"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(make_pdf(["Cover page of the annual report.",
                                                  "The glacier lost 12 metres of ice in 2023."]))
    (folder / "page.html").write_bytes(b"<html><body><nav>menu</nav><p>The lake holds 1,738 cubic kilometres "
                                       b"of water.</p><script>evil()</script></body></html>")
    d = docx.Document()
    d.add_paragraph("The river delta covers 4,000 square kilometres.")
    buf = io.BytesIO()
    d.save(buf)
    (folder / "notes.docx").write_bytes(buf.getvalue())
    stats = update_index([folder], settings=settings, embedder=fake_embedder)
    assert stats.documents == 3 and not stats.errors
    a = ask("How much ice did the glacier lose in 2023?", settings=settings, embedder=fake_embedder,
            mode="extractive")
    c = a.citations[0]
    assert c.doc_path.endswith("report.pdf") and c.page == 2 and "12 metres" in c.quote
    a = ask("How much water does the lake hold?", settings=settings, embedder=fake_embedder, mode="extractive")
    assert a.citations[0].doc_path.endswith("page.html") and a.citations[0].page is None
    assert "evil" not in a.text and "menu" not in a.text


def test_fifty_megabyte_single_line_file_is_refused_by_default(tmp_path, fake_embedder):
    from qa.config import Settings

    folder = write_corpus(tmp_path / "c", {"ok.txt": "A small good file about rivers."})
    with open(folder / "huge.txt", "wb") as f:
        f.write(b"word " * (10 * 1024 * 1024))  # 50 MiB, one line
    s = Settings(index_dir=tmp_path / "index")
    stats = update_index([folder], settings=s, embedder=fake_embedder)
    assert stats.documents == 1 and any("huge.txt" in e and "20 MB file limit" in e for e in stats.errors)


def test_total_size_limit(tmp_path, settings, fake_embedder):
    folder = write_corpus(tmp_path / "c", {f"f{i}.txt": f"File {i}. " + "x " * 300_000 for i in range(3)})
    stats = update_index([folder], settings=settings.replace(max_total_mb=1.0), embedder=fake_embedder)
    assert stats.documents == 1 and sum("total size limit" in e for e in stats.errors) == 2

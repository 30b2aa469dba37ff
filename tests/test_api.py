"""The HTTP API against a real server: REST, server-sent events, the OpenAI client, errors, auth,
queue limits, uploads while questions are asked, and decompression bombs."""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import copy_index
from tests.pdfgen import docx_bomb, make_pdf
from tests.webserver import Server

pytestmark = pytest.mark.slow
YEARS = "Which years were designated as the Years of High-Quality Development?"
LIST = "What are the main areas of cooperation between China and Central Asia?"


@pytest.fixture(scope="module")
def index_dir(real_settings, tmp_path_factory) -> Path:
    """A private index of the default corpus (the tests upload and remove documents in it)."""
    return copy_index(real_settings, tmp_path_factory.mktemp("api") / "index")


@pytest.fixture(scope="module")
def server(index_dir, tmp_path_factory):
    srv = Server(index_dir, tmp_path_factory.mktemp("uploads"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def exact(citation: dict, http: httpx.Client) -> bool:
    """The quote is exactly the document's text at the citation's offsets (read from the file on disk)."""
    text = Path(citation["doc_path"]).read_text(encoding="utf-8")
    return text[citation["start"]:citation["end"]] == citation["quote"]


def test_ask_returns_cited_answer(http):
    r = http.post("/v1/ask", json={"question": YEARS})
    assert r.status_code == 200, r.text
    a = r.json()
    assert "2025" in a["text"] and "2026" in a["text"] and "[1]" in a["text"] and not a["abstained"]
    assert a["citations"] and all(exact(c, http) for c in a["citations"])
    assert a["mode"] in ("generated", "extractive-fallback") and a["timings"]["total"] > 0
    assert len(a["citations"][0]["doc_id"]) == 16 and a["passages"][0]["doc_id"]


def test_ask_streams_verified_sentences_then_the_answer(http):
    events = []
    with http.stream("POST", "/v1/ask", params={"stream": "true"},
                     json={"question": "What treaty did the six nations sign?", "mode": "extractive"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line.split(":", 1)[1])))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "answer" and kinds.count("sentence") >= 1
    answer = events[-1][1]
    assert "".join(d["text"] for k, d in events if k == "sentence") == answer["text"]
    assert "good-neighborliness" in answer["text"] and answer["citations"]


def test_an_overview_of_the_document_named_by_id(http):
    docs = http.get("/v1/documents").json()["documents"]
    r = http.post("/v1/ask", json={"question": "What is this document about?", "mode": "extractive",
                                   "doc": docs[0]["id"]})
    assert r.status_code == 200, r.text
    a = r.json()
    assert not a["abstained"] and len(a["citations"]) >= 3 and all(exact(c, http) for c in a["citations"])
    assert {c["doc_id"] for c in a["citations"]} == {docs[0]["id"]}


def test_follow_up_uses_history(http):
    body = {"question": "Of what cooperation?", "mode": "extractive"}
    alone = http.post("/v1/ask", json=body).json()
    r = http.post("/v1/ask", json={**body, "history": [{"question": YEARS, "answer": "2025 and 2026 [1]."}]})
    assert r.status_code == 200 and "2025 and 2026" in r.json()["text"] and "2025" not in alone["text"]


def test_search_returns_passages_only(http):
    r = http.post("/v1/search", json={"query": "treaty of permanent good-neighborliness", "k": 3})
    assert r.status_code == 200
    passages = r.json()["passages"]
    assert 1 <= len(passages) <= 3 and "good-neighborliness" in passages[0]["text"]


def test_openai_client_non_stream_and_stream(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    ids = [m.id for m in client.models.list()]
    assert "extractive" in ids and ids[0] == "qwen2.5-coder-1.5b"
    r = client.chat.completions.create(model=ids[0], messages=[{"role": "user", "content": YEARS}])
    content = r.choices[0].message.content
    assert "[1]" in content and "2025" in content and "2026" in content
    citations = r.model_extra["citations"]
    assert citations[0]["n"] == 1 and Path(citations[0]["doc_path"]).read_text()[
        citations[0]["start"]:citations[0]["end"]] == citations[0]["quote"]
    chunks = list(client.chat.completions.create(model="extractive", stream=True, messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What treaty did the six nations sign?"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "good-neighborliness" in text and "[1]" in text
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["citations"]


def test_openai_refusal_and_unknown_model(server):
    from openai import NotFoundError, OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    r = client.chat.completions.create(model="extractive", messages=[
        {"role": "user", "content": "What is the population of Uzbekistan?"}])
    assert r.model_extra["abstained"] and r.model_extra["citations"] == []
    with pytest.raises(NotFoundError, match="gpt-4o"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"question": ""}, 400, "question"),
    ({"question": "   "}, 400, "question"),
    ({"question": "x" * 2001}, 400, "question"),
    ({"question": "What?", "mode": "poetry"}, 400, "mode"),
    ({"question": "What?", "k": 0}, 400, "k"),
    ({"question": "What?", "k": "five"}, 400, "k"),
    ({"question": 42}, 400, "question"),
    ({"question": "What?", "extra": 1}, 400, "extra"),
    ({}, 400, "question"),
])
def test_bad_input_is_a_json_4xx(http, body, status, needle):
    r = http.post("/v1/ask", json=body)
    assert r.status_code == status
    assert r.json()["error"]["type"] == "invalid_request_error" and needle in r.json()["error"]["message"]


def test_bad_json_unknown_paths_and_methods(http):
    r = http.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = http.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = http.get("/v1/ask")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = http.delete("/v1/documents/0123456789abcdef")
    assert r.status_code == 404 and "0123456789abcdef" in r.json()["error"]["message"]
    assert http.get("/").status_code == 200 and "gradio" in http.get("/").text.lower()  # the chat is still at /
    assert http.get("/openapi.json").json()["paths"]["/v1/ask"]["post"]


def test_health_and_documents(http):
    h = http.get("/v1/health").json()
    assert h["status"] == "ok" and h["index"]["version"].startswith("v-") and h["index"]["documents"] >= 1
    assert h["embedder"]["loaded"] is True
    docs = http.get("/v1/documents").json()
    assert docs["index"]["version"] == h["index"]["version"]
    assert any(d["path"].endswith("china-central-asia-cooperation.md") for d in docs["documents"])


def test_upload_remove_and_bombs_through_the_api(http):
    good = b"The Qarakum Canal was completed in 1988 and carries water from the Amu Darya."
    files = [("files", ("canal.md", good, "text/markdown")),
             ("files", ("bomb.docx", docx_bomb(), "application/octet-stream")),
             ("files", ("huge-stream.pdf", make_pdf(["Hello."], pad=120_000_000), "application/pdf")),
             ("files", ("notes.exe", b"MZ", "application/octet-stream"))]
    t0 = time.perf_counter()
    r = http.post("/v1/documents", files=files)
    assert r.status_code == 201, r.text
    assert time.perf_counter() - t0 < 120  # refused, not ground through (a hang would time out the client)
    body = r.json()
    assert [d["title"] for d in body["indexed"]] and body["added"] == 1
    rejected = " ".join(body["rejected"])
    assert "bomb.docx: unpacks to 4" in rejected and "huge-stream.pdf" in rejected and "notes.exe" in rejected
    assert all("\n" not in line for line in body["rejected"])
    found = http.post("/v1/search", json={"query": "Qarakum Canal completed"}).json()["passages"]
    assert "Qarakum" in found[0]["text"]
    doc_id = body["indexed"][0]["id"]
    r = http.delete(f"/v1/documents/{doc_id}")
    assert r.status_code == 200 and r.json()["removed"]["id"] == doc_id
    assert not Path(r.json()["removed"]["path"]).exists()
    assert all(d["id"] != doc_id for d in http.get("/v1/documents").json()["documents"])
    r = http.post("/v1/documents", files=[("files", ("bomb.docx", docx_bomb(), "application/octet-stream"))])
    assert r.status_code == 400 and "decompression bomb" in r.json()["error"]["message"]


def test_uploads_while_questions_are_asked(http, server):
    """Every question is answered while a new document is indexed; once its version is published it is found."""
    before = http.get("/v1/health").json()["index"]["version"]

    def ask(i: int) -> int:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            return c.post("/v1/ask", json={"question": YEARS, "mode": "extractive"}).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        asked = [pool.submit(ask, i) for i in range(12)]
        up = http.post("/v1/documents", files=[("files", ("lake.txt", b"Lake Issyk-Kul never freezes in winter.",
                                                          "text/plain"))])
        codes = [f.result() for f in asked]
    assert up.status_code == 201 and codes == [200] * 12
    assert http.get("/v1/health").json()["index"]["version"] != before
    a = http.post("/v1/ask", json={"question": "Which lake never freezes in winter?", "mode": "extractive"}).json()
    assert "Issyk-Kul" in a["text"] and a["citations"][0]["doc_path"].endswith("lake.txt")


@pytest.fixture(scope="module")
def busy_server(real_settings, tmp_path_factory):
    """A server with a queue of one and one question at a time, for the overload tests of both front ends.

    These tests are about admission (who runs, who waits, who is told to try again), not about the answer, so the
    slot is held by generated answers of the small SmolLM2 preset: the default Qwen took 300 s for the three tests on
    a 2-core AVX2-only machine. Nothing here depends on SmolLM2's words, which differ between CPUs."""
    srv = Server(real_settings.index_dir, tmp_path_factory.mktemp("busy-up"),
                 env={"QA_QUEUE_SIZE": "1", "QA_CONCURRENCY": "1", "QA_MODEL": "smollm2-135m"})
    yield srv
    srv.stop()


def test_full_queue_answers_503_with_retry_after(busy_server):
    def ask(i: int) -> httpx.Response:
        return httpx.post(busy_server.url + "/v1/ask", json={"question": YEARS}, timeout=300)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(ask, range(6)))
    codes = sorted(r.status_code for r in responses)
    assert set(codes) == {200, 503} and codes.count(200) >= 2  # nothing else: no drop, no 500
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] and busy.json()["error"]["type"] == "busy"


def test_overload_of_the_chat_api_gets_busy_try_again(busy_server):
    """The same through the chat's gradio API: the extra requests are told to try again, none hangs."""
    from gradio_client import Client

    clients = [Client(busy_server.url, verbose=False) for _ in range(6)]  # connected first: the six asks go at once

    def one(client):  # a list question: SmolLM2 writes it for seconds even on a fast CPU, while the others arrive
        try:
            return client.predict(LIST, "generated", 5, api_name="/ask")
        except Exception as e:  # the client raises on a full queue
            return e

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, clients))
    busy = [r for r in results if isinstance(r, Exception)]
    answered = [r for r in results if isinstance(r, dict)]
    assert answered and all(a["text"] and isinstance(a["citations"], list) for a in answered)
    assert busy and all("try again" in str(e).lower() for e in busy)
    assert len(busy) + len(answered) == 6


def test_chat_and_api_share_one_limit(busy_server):
    """One slot and one place in line for the whole server: while the chat answers, one API request may
    wait and the next two are busy (with a limit per front end, the API would have run one and queued one)."""
    from gradio_client import Client

    # the chat holds the slot with a list question (SmolLM2 writes for seconds even on a fast CPU)
    chat = Client(busy_server.url, verbose=False).submit(LIST, "generated", 5, api_name="/ask")
    deadline = time.monotonic() + 120
    while httpx.get(busy_server.url + "/v1/health").json()["load"]["running"] < 1:
        assert time.monotonic() < deadline, "the chat's question never started"
        time.sleep(0.05)

    def ask(i: int) -> int:
        return httpx.post(busy_server.url + "/v1/ask", json={"question": YEARS}, timeout=300).status_code

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        codes = sorted(pool.map(ask, range(3)))
    assert codes == [200, 503, 503]
    assert chat.result(timeout=300)["text"]
    load = httpx.get(busy_server.url + "/v1/health").json()["load"]
    assert load == {"running": 0, "waiting": 0, "slots": 1, "limit": 2}


def test_api_key_protects_v1(real_settings, tmp_path):
    srv = Server(real_settings.index_dir, tmp_path / "up", "--api-key", "s3cret", env={"QA_MODE": "extractive"})
    try:
        assert httpx.get(srv.url + "/v1/health").status_code == 401
        r = httpx.get(srv.url + "/v1/health", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        assert httpx.get(srv.url + "/v1/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.post(srv.url + "/v1/chat/completions", json={}).status_code == 401
    finally:
        srv.stop()


def test_warns_when_exposed_without_auth():
    from qa.serve.server import exposure_warning

    assert exposure_warning("127.0.0.1", None, None) is None and exposure_warning("::1", None, None) is None
    assert exposure_warning("localhost", None, None) is None
    assert "neither --auth nor --api-key" in exposure_warning("0.0.0.0", None, None)
    assert exposure_warning("0.0.0.0", None, "key") is None and exposure_warning("10.0.0.5", "u:p", None) is None

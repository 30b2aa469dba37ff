"""The web app over HTTP: the gradio_client API, path traversal, upload limit, concurrency, auth."""

import concurrent.futures
import urllib.error
import urllib.request

import pytest
from gradio_client import Client

from tests.webserver import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(real_settings, tmp_path_factory):
    # every question here is asked in extractive mode: the server loads no generator and reads no prompt at start
    srv = Server(real_settings.index_dir, tmp_path_factory.mktemp("uploads"), env={"QA_MODE": "extractive"})
    yield srv
    srv.stop()


def test_api_ask_matches_python(server):
    client = Client(server.url, verbose=False)
    a = client.predict("Which years were designated as the Years of High-Quality Development?", "extractive", 5,
                       api_name="/ask")
    assert "2025" in a["text"] and "2026" in a["text"] and not a["abstained"]
    assert a["citations"] and a["citations"][0]["quote"] in a["passages"][a["citations"][0]["passage"] - 1]["text"]


def test_api_refuses_unanswerable(server):
    a = Client(server.url, verbose=False).predict("What is the population of Uzbekistan?", "extractive", 5,
                                                  api_name="/ask")
    assert a["abstained"] and a["citations"] == [] and a["passages"]


def test_api_rejects_bad_mode(server):
    with pytest.raises(Exception, match="mode"):
        Client(server.url, verbose=False).predict("x?", "poetry", 5, api_name="/ask")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("path", ["/gradio_api/file=/etc/passwd", "/file=/etc/passwd",
                                  "/gradio_api/file=../../../../etc/passwd", "/gradio_api/file=%2Fetc%2Fpasswd",
                                  "/gradio_api/file=..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/../../etc/passwd",
                                  "/static/../../../../etc/passwd", "/gradio_api/file=/proc/self/environ"])
def test_path_traversal_is_refused(server, path):
    status, body = _get(server.url + path)
    assert b"root:x:0:0" not in body and b"QA_INDEX_DIR" not in body
    assert status in (400, 403, 404, 405)


def test_upload_size_limit(server):
    import httpx

    small = httpx.post(server.url + "/gradio_api/upload", files={"files": ("ok.txt", b"fine", "text/plain")})
    assert small.status_code == 200  # the endpoint works, so the refusal below is the size limit
    big = b"a" * (21 * 1024 * 1024)
    r = httpx.post(server.url + "/gradio_api/upload", files={"files": ("big.txt", big, "text/plain")}, timeout=60)
    assert r.status_code in (400, 413)


def test_serve_binds_loopback_by_default():
    from qa.cli import parser

    args = parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.port == 7860


def test_eight_concurrent_clients_all_answered(server):
    questions = ["Which years were designated as the Years of High-Quality Development?",
                 "What treaty did the six nations sign?", "What acts as a stabilizing anchor?",
                 "What does institutionalized cooperation ensure?", "Which concept does China exemplify?",
                 "What is China helping Central Asian countries resist?", "How many nations signed the treaty?",
                 "What is the population of Uzbekistan?"]

    def one(q):
        return Client(server.url, verbose=False).predict(q, "extractive", 5, api_name="/ask")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, questions))
    assert len(answers) == 8 and all(isinstance(a["text"], str) and a["text"] for a in answers)
    assert "good-neighborliness" in answers[1]["text"] and answers[7]["abstained"]


def test_auth_is_required_when_set(real_settings, tmp_path):
    srv = Server(real_settings.index_dir, tmp_path / "up", "--auth", "alice:s3cret", env={"QA_MODE": "extractive"})
    try:
        status, _ = _get(srv.url + "/gradio_api/info")
        assert status == 401
        import httpx

        r = httpx.post(srv.url + "/login", data={"username": "alice", "password": "wrong"})
        assert r.status_code in (400, 401)
        r = httpx.post(srv.url + "/login", data={"username": "alice", "password": "s3cret"})
        assert r.status_code == 200
    finally:
        srv.stop()


def test_upload_and_remove_return_the_documents_table_as_html(tmp_path):
    """The documents table is HTML written by the server, not Gradio's Dataframe (in 6.17 its virtual window kept
    the old rows when an upload added one, even after Refresh; gradio-app/gradio#13744): upload and removal both
    return it, and the page load and Refresh read it again."""
    from qa.config import Settings
    from qa.serve.web import build_app

    cfg = build_app(Settings.from_env(index_dir=tmp_path / "index")).get_config_file()
    comps = {c["id"]: c for c in cfg["components"]}
    (docs,) = [c for c in comps.values() if c["props"].get("elem_id") == "docs"]
    assert docs["type"] == "html"
    for button in ("reindex", "remove", "refresh"):
        (dep,) = [d for d in cfg["dependencies"]
                  if any(comps.get(t, {}).get("props", {}).get("elem_id") == button for t, _ in d["targets"])]
        assert docs["id"] in dep["outputs"], button
    assert "No documents indexed yet" in docs["props"]["value"]  # an empty index says so


def test_documents_html_escapes_and_aligns_the_rows():
    from qa.serve.web import documents_html

    rows = [["a.md", "<b>Bold & title</b>", 3220, 8, "2026-12-04 14:00", "/x/a.md"],
            ["glaciers.md", "Pamir glaciers", 140, 1, "2026-12-04 14:05", "/up/glaciers.md"]]
    out = documents_html(rows)
    assert out.count("<tr>") == 3 and "&lt;b&gt;Bold &amp; title&lt;/b&gt;" in out and "<b>" not in out
    assert "<td class='num'>3220</td>" in out and "<td class='path'>/up/glaciers.md</td>" in out
    assert out.index("a.md") < out.index("glaciers.md")

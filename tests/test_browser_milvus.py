"""The web chat and its documents tab, unchanged, on a Milvus Lite store (real browser)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, ROOT
from tests.test_browser import _ask, _upload
from tests.webserver import Server

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import subprocess
    import sys

    base = tmp_path_factory.mktemp("browser-milvus")
    store = str(base / "qa.db")  # built by another process: Milvus Lite lets one process open the file at a time
    subprocess.run([sys.executable, "-m", "qa.cli", "index", str(ROOT / "corpus"), "--store", store, "-q"],
                   cwd=ROOT, check=True)
    # both questions are asked in extractive mode: no generator is loaded, no prompt read at start
    srv = Server(base / "index", base / "uploads", env={"QA_STORE": store, "QA_MODE": "extractive"})
    yield srv
    srv.stop()


def test_chat_answers_with_citation_on_milvus(page):
    _ask(page, "Which years were designated as the Years of High-Quality Development?", extractive=True)
    page.wait_for_selector("#sources details.citation", timeout=90_000)
    expect(page.locator("#chat")).to_contain_text("2025 and 2026", timeout=30_000)
    expect(page.locator("#sources mark").first).to_contain_text("2025 and 2026")
    page.screenshot(path=str(ARTIFACTS / "milvus-chat.png"), full_page=True)


def test_documents_tab_upload_and_remove_on_milvus(page, tmp_path):
    page.get_by_role("tab", name="Documents").click()
    expect(page.locator("#index-version")).to_contain_text("Index m-0000", timeout=30_000)
    doc = tmp_path / "glaciers.md"
    doc.write_text("# Pamir glaciers\n\nThe Fedchenko Glacier in Tajikistan is 77 kilometres long.")
    _upload(page, doc, "Indexed")
    expect(page.locator("#docs")).to_contain_text("glaciers.md", timeout=30_000)
    page.get_by_role("tab", name="Chat").click()
    _ask(page, "How long is the Fedchenko Glacier?", extractive=True)
    expect(page.locator("#chat")).to_contain_text("77 kilometres", timeout=90_000)
    page.get_by_role("tab", name="Documents").click()
    page.locator("#remove-doc input").click()
    page.get_by_role("option", name="glaciers.md").click()
    page.click("#remove")
    page.wait_for_selector("#index-status:has-text('Removed glaciers.md')", timeout=60_000)
    expect(page.locator("#docs")).not_to_contain_text("glaciers.md", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "milvus-documents.png"), full_page=True)

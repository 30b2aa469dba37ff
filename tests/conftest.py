"""Shared fixtures: a tiny corpus, a fake embedder and generator for unit tests, real-model fixtures."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qa.answer.prompting import SPAN_SYSTEM
from qa.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
# Subprocesses (`python -m qa.cli` run from a temporary folder) and Ray's workers import `qa` as well: make them
# import this checkout's, not the one the virtualenv was installed from (a git worktree shares its virtualenv).
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

TINY = {
    "rivers.md": "# Rivers\n\nThe Amu Darya river flows into the Aral Sea. Its length is about 2,400 kilometres.\n\n"
                 "The Syr Darya rises in the Tian Shan mountains. It also feeds the Aral Sea.",
    "trains.txt": "Freight trains between China and Europe carried 1.9 million containers in 2024. "
                  "The first train ran in 2011 from Chongqing to Duisburg.\n\nJourneys take about 12 days.",
    "summit.md": "# Summit\n\nThe second summit was held in Astana in June 2025. "
                 "The leaders signed a treaty of permanent good-neighborliness. "
                 "The treaty was signed on 17 June 2025.",
}


class FakeEmbedder:
    """Deterministic bag-of-words hashing embedder: similar words -> similar vectors, no model."""

    name = "all-MiniLM-L6-v2"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                h = int(hashlib.md5(w.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
            if not n:
                out[i, 0] = 1.0
        return out


class FakeGenerator:
    """Replies with a fixed text, streamed word by word, and judges with a fixed p(yes); records what it saw.

    Asked for the phrase of a quote that answers, it replies `phrase` (NOT FOUND unless told)."""

    name = "fake"

    def __init__(self, reply: str, yes: float = 1.0, phrase: str = "NOT FOUND") -> None:
        self.reply, self.yes, self.phrase = reply, yes, phrase
        self.seen: list[list[dict]] = []
        self.judged: list[list[dict]] = []

    def p_yes(self, messages: list[dict]) -> float:
        self.judged.append(messages)
        return self.yes

    def stream(self, messages: list[dict], *, max_new_tokens: int = 80) -> Iterator[str]:
        self.seen.append(messages)
        reply = self.phrase if messages[0]["content"] == SPAN_SYSTEM else self.reply
        for i, word in enumerate(reply.split(" ")):
            yield word if i == 0 else " " + word


def write_corpus(folder: Path, files: dict[str, str] = TINY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus", cache_dir=tmp_path / "cache",
                    min_answer_score=0.2)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def built(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> Settings:
    from qa.ingest.indexing import update_index

    update_index([corpus], settings=settings, embedder=fake_embedder)
    return settings


def copy_index(real: Settings, dest: Path) -> Path:
    """A private copy of the real index (for tests that add and remove documents): a copy, not a second build."""
    import shutil

    shutil.copytree(real.index_dir, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A real index of the default corpus built with the packaged MiniLM (shared by the slow tests)."""
    from qa.ingest.indexing import update_index

    s = Settings.from_env(index_dir=tmp_path_factory.mktemp("real") / "index")
    update_index([ROOT / "corpus"], settings=s)
    return s


# --- a real browser for the chat tests (test_browser*.py); `page` opens that module's `server` ---
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.goto(server.url)
    pg.wait_for_selector("#question textarea", timeout=60_000)
    yield pg
    ctx.close()

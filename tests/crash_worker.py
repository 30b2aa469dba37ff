"""Run one incremental index update with the fake embedder; killed at random moments by test_crash."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.config import Settings  # noqa: E402
from qa.ingest.indexing import update_index  # noqa: E402
from tests.conftest import FakeEmbedder  # noqa: E402


class SlowEmbedder(FakeEmbedder):
    def embed(self, texts):
        time.sleep(0.01 * len(texts))
        return super().embed(texts)


if __name__ == "__main__":
    index_dir, *paths = sys.argv[1:]
    print("ready", flush=True)
    update_index(paths, settings=Settings.from_env(index_dir=Path(index_dir)), embedder=SlowEmbedder())
    print("done", flush=True)

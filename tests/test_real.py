"""Integration: the packaged MiniLM, the SmolLM2 GGUF, real FAISS and SQLite on disk."""

import pytest

import qa
from qa.evaluation import citation_valid
from qa.store import Store

pytestmark = pytest.mark.slow
YEARS_Q = "Which years were designated as the Years of High-Quality Development?"


def _check(answer, settings):
    store = Store.open(settings.index_dir)
    assert answer.citations and all(citation_valid(answer, store))


@pytest.mark.parametrize("mode", ["extractive", "generated"])
def test_years_question(real_settings, mode):
    a = qa.ask(YEARS_Q, settings=real_settings, mode=mode)
    assert not a.abstained
    assert "2025" in a.text and "2026" in a.text
    assert any("2025 and 2026" in c.quote for c in a.citations)
    _check(a, real_settings)
    assert a.timings["total"] > 0 and "retrieve" in a.timings
    if mode == "generated":
        assert a.mode in ("generated", "extractive-fallback")


def test_python_api_names(real_settings):
    a = qa.ask("What treaty did the six nations sign?", index_dir=real_settings.index_dir, k=3)
    assert isinstance(a, qa.Answer) and isinstance(a.text, str) and isinstance(a.abstained, bool)
    assert len(a.passages) == 3 and all(isinstance(p, qa.Passage) for p in a.passages)
    for c in a.citations:
        assert isinstance(c, qa.Citation) and {"n", "doc_path", "start", "end", "quote"} <= set(vars(c))
    assert "good-neighborliness" in a.text


def test_unanswerable_is_refused(real_settings):
    a = qa.ask("Who won the football world cup in 2022?", settings=real_settings)
    assert a.abstained and a.citations == [] and "don't say" in a.text


def test_models_load_once_per_process(real_settings):
    from qa.embedding import _load_embedder
    from qa.generation import _load_generator

    qa.ask(YEARS_Q, settings=real_settings)
    e, g = _load_embedder.cache_info(), _load_generator.cache_info()
    qa.ask("What acts as a stabilizing anchor?", settings=real_settings)
    assert _load_embedder.cache_info().misses == e.misses and _load_generator.cache_info().misses == g.misses


def test_concurrent_first_loads_do_not_collide(tmp_path):
    """Loading the models from several threads at once (web warm-up + first questions) must work."""
    import concurrent.futures

    from qa.embedding import _load_embedder, get_embedder
    from qa.generation import _load_generator, get_generator

    _load_embedder.cache_clear()
    _load_generator.cache_clear()
    s = qa.Settings.from_env()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(get_embedder, s.embedder, s.embed_batch, s.threads) for _ in range(2)]
        futures += [pool.submit(get_generator, s.model, s.cache_dir, s.threads) for _ in range(2)]
        loaded = [f.result() for f in futures]
    assert loaded[0] is loaded[1] and loaded[2] is loaded[3]
    assert loaded[0].embed(["hello"]).shape == (1, loaded[0].dim)


def test_warm_model_loads_from_safetensors_cache(real_settings):
    from qa.generation import PRESETS, _converted_dir

    folder, gguf, sha = _converted_dir("smollm2-135m", real_settings.cache_dir)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert gguf is not None and gguf.suffix == ".gguf" and sha == PRESETS["smollm2-135m"].sha256


def test_tampered_gguf_is_refused(tmp_path):
    from qa.errors import ModelError
    from qa.generation import prepare_model

    fake = tmp_path / "m.gguf"
    fake.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelError, match="m.gguf"):
        prepare_model(str(fake), tmp_path / "cache")
    with pytest.raises(ModelError, match="not a preset"):
        prepare_model("no-such-model", tmp_path / "cache")


def test_build_add_remove_list_api(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.md").write_text("# Lakes\n\nLake Issyk-Kul is in Kyrgyzstan. It never freezes in winter.")
    stats = qa.build_index([d], index_dir=tmp_path / "idx")
    assert (stats.documents, stats.added) == (1, 1) and stats.chunks >= 1
    extra = tmp_path / "b.txt"
    extra.write_text("The Caspian Sea is the largest lake on Earth.")
    qa.add_documents([extra], index_dir=tmp_path / "idx")
    assert {x["title"] for x in qa.list_documents(index_dir=tmp_path / "idx")} >= {"Lakes"}
    a = qa.ask("Which is the largest lake on Earth?", index_dir=tmp_path / "idx", mode="extractive")
    assert "Caspian" in a.text
    qa.remove_documents([extra], index_dir=tmp_path / "idx")
    assert len(qa.list_documents(index_dir=tmp_path / "idx")) == 1
    a = qa.ask("Which is the largest lake on Earth?", index_dir=tmp_path / "idx", mode="extractive")
    assert "Caspian" not in a.text

"""The benchmark sets are what the README says: the real-documents halves (documents, kinds, questions, near
misses, gold strings present in the text `qa` extracts, no document in both halves) and the SQuAD split."""

import json
from collections import Counter

import pytest

from qa.ingest.documents import read_document
from tests.conftest import ROOT

REAL = ROOT / "bench" / "real"


def _questions(half: str) -> list[dict]:
    return [json.loads(x) for x in (ROOT / "bench" / f"questions-real-{half}.jsonl").read_text().splitlines() if x]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.mark.parametrize("half", ["tune", "test"])
def test_every_gold_string_is_in_the_text_qa_extracts_from_its_document(half):
    texts: dict[str, str] = {}
    for q in _questions(half):
        assert q["answerable"] == bool(q["gold"]), q
        if "doc" not in q:
            continue
        path = REAL / half / q["doc"]
        assert path.is_file(), f"{q['doc']} is not in the {half} half"
        if q["doc"] not in texts:
            texts[q["doc"]] = _norm(read_document(path).text)
        for gold in q["gold"]:
            assert _norm(gold) in texts[q["doc"]], (q["doc"], gold)


def test_the_halves_are_split_by_document_and_large_enough():
    docs = {h: {p.name for p in (REAL / h).iterdir()} for h in ("tune", "test")}
    assert not docs["tune"] & docs["test"] and len(docs["tune"] | docs["test"]) >= 40
    questions = _questions("tune") + _questions("test")
    assert len(questions) >= 300
    assert sum(not q["answerable"] for q in questions) >= len(questions) / 4
    kinds = Counter(q["kind"] for q in questions if "kind" in q)
    assert len(kinds) >= 8
    for half in ("tune", "test"):  # every kind is in both halves
        assert {q["kind"] for q in _questions(half) if "kind" in q} == set(kinds)


def test_squad_halves_share_no_article():
    split = json.loads((ROOT / "bench" / "squad-split.json").read_text())
    assert split["tune"] and split["test"] and not set(split["tune"]) & set(split["test"])


def test_every_setting_is_in_the_readme_table():
    """The README's configuration table names every field of Settings as QA_<FIELD> (fails when they drift)."""
    import dataclasses

    from qa.config import Settings

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("## Models and their trade-offs")]
    missing = [f.name for f in dataclasses.fields(Settings) if f"QA_{f.name.upper()}" not in table]
    assert not missing, f"settings missing from the README's table: {missing}"


def test_multilingual_set_gold_strings_and_shape():
    """bench/questions-multilingual.jsonl: Russian and Chinese questions (with their English twins) over the seed
    article, real documents and bench/multilingual-corpus; every gold string is in the text `qa` extracts."""
    folders = [ROOT / "corpus", ROOT / "bench" / "multilingual-corpus", REAL / "tune", REAL / "test"]
    items = [json.loads(x) for x in (ROOT / "bench" / "questions-multilingual.jsonl").read_text().splitlines() if x]
    langs = Counter(q["lang"] for q in items)
    assert len(items) >= 40 and langs["ru"] >= 15 and langs["zh"] >= 15 and set(langs) == {"ru", "zh"}
    assert len(items) / 5 <= sum(q["near_miss"] for q in items) <= len(items) / 3
    texts: dict[str, str] = {}
    for q in items:
        assert q["answerable"] == bool(q["gold"]) and q["q_en"] and q["q"] != q["q_en"], q
        assert not (q["near_miss"] and q["answerable"]), q
        paths = [f / q["doc"] for f in folders if (f / q["doc"]).is_file()]
        assert len(paths) == 1, q["doc"]
        if q["doc"] not in texts:
            texts[q["doc"]] = _norm(read_document(paths[0]).text)
        for gold in q["gold"]:
            assert _norm(gold) in texts[q["doc"]], (q["doc"], gold)


def test_the_speed_bench_counts_the_tokens_of_each_kind_of_model_call():
    """`make bench` reports, per kind of model call, the tokens read beyond the cached prefix and written."""
    from bench.bench import Counting, token_figures
    from qa.answer.prompting import build_judge_messages, build_messages

    class Words:  # a tokenizer of words
        def encode(self, text, add_special_tokens=False):
            return text.split()

    class Gen:
        tokenizer = Words()
        folds_judge = True

        def prompt_tokens(self, messages):  # everything before the last turn is the cached prefix
            return ["x"], messages[-1]["content"].split()

        def stream(self, messages, *, max_new_tokens=80):
            yield from ("The bridge ", "opened in 1998.")

        def p_yes(self, messages):
            return 0.9

    gen = Counting(Gen())
    assert gen.folds_judge  # the rest passes through
    draft = build_messages("When was the bridge opened?", ["The bridge was opened in 1998."])
    assert "".join(gen.stream(draft)) == "The bridge opened in 1998."
    assert gen.p_yes(build_judge_messages("When?", ["It opened in 1998."])) == 0.9
    read = len(draft[-1]["content"].split())
    assert gen.calls[0] == ("draft", read, 5) and gen.calls[1][0] == "judge" and gen.calls[1][2] == 1
    figures = token_figures([gen.calls, [("draft", 10, 3)]])
    assert figures["draft"] == {"answers": 2, "read_p50": (read + 10) / 2, "written_p50": 4.0}
    assert figures["judge"]["answers"] == 1 and "phrase" not in figures


def test_the_speed_bench_states_ratios_to_both_bare_calls():
    """The answer's time is a ratio of the issue's bare call (the whole prompt read) and of the stricter one that
    reads only what follows the cached prefix; a runtime without the first gets "nan", not a wrong ratio."""
    from bench.bench import STAGES, isa_report

    row = {"isa": "AVX2", "bare_call_s": 2.0, "bare_whole_s": 4.0, "bare_prompt_tokens": 389, "answer_p50_s": 3.0,
           "answer_p95_s": 5.0, "first_sentence_p50_s": 2.0, "stages_p50_s": dict.fromkeys(STAGES, 0.1),
           "judged": 3, "generated": 30, "answers": 31, "tokens": {}, "decode_tok_s": 7.0,
           "list_answers": 16, "list_p50_s": 8.0, "list_first_p50_s": 3.0}
    report = isa_report({"cpu_flags": "avx2", "answers_by_isa": {"AVX2": row,
                                                                 "other": {**row, "bare_whole_s": None}}})
    lines = [x for x in report.splitlines() if x.startswith("| AVX2 (AVX2)")]
    assert len(lines) == 1 and "| 4.00 / 2.00 s (389 tokens) |" in lines[0]
    assert "| 0.75x / 1.50x | 0.50x / 1.00x |" in lines[0]
    assert "| nan / 2.00 s" in report
    assert "| AVX2 | 16 | 8.00 s | 3.00 s | 2.00x / 4.00x | 0.75x / 1.50x |" in report  # list answers


def test_the_speed_bench_times_list_questions_about_the_default_corpus():
    """The list answers `make bench` times are list questions whose gold is in `corpus/` (the default index)."""
    from bench.bench import list_questions
    from qa.answer.answerability import wants_several

    text = (ROOT / "corpus" / "china-central-asia-cooperation.md").read_text().lower()
    qs = list_questions()
    assert len(qs) >= 10 and all(wants_several(q) for q in qs)
    gold = {json.loads(x)["q"]: json.loads(x)["gold"]
            for x in (ROOT / "bench" / "questions-synthesis.jsonl").read_text().splitlines() if x}
    assert all(g.lower() in text for q in qs for g in gold[q])


def test_tune_keeps_its_drafts_gzipped_and_replays_them_without_the_model(tmp_path, monkeypatch):
    """bench/tune.py's cache: what was generated is written (gzipped, with its provenance) and read back, and a
    replay never calls the model; a save leaves no partial file behind (it writes one, then renames it)."""
    import gzip

    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import tune

    from qa.config import Settings

    calls = []

    class Fake:
        def stream(self, messages, *, max_new_tokens=80):
            calls.append(messages)
            yield "The bridge was "
            yield "opened in 1998."

        def p_yes(self, messages):
            calls.append(messages)
            return 0.25

    monkeypatch.setattr(tune, "settings_generator", lambda s: Fake())
    monkeypatch.setenv("CT2_FORCE_CPU_ISA", "AVX2")
    path = tmp_path / "drafts.json.gz"
    chat = [{"role": "user", "content": "When was the bridge opened?"}]
    gen = tune.CachedGenerator(path, Settings())
    assert "".join(gen.stream(chat)) == "The bridge was opened in 1998." and gen.p_yes(chat) == 0.25
    gen.save()
    stored = json.loads(gzip.decompress(path.read_bytes()))
    assert stored["_meta"]["kernels"] == "AVX2" and stored["_meta"]["model"] == Settings().model
    assert not list(tmp_path.glob("*.part"))

    monkeypatch.setattr(tune, "settings_generator", lambda s: pytest.fail("a replay called the model"))
    again = tune.CachedGenerator(path, Settings())
    assert "".join(again.stream(chat)) == "The bridge was opened in 1998." and again.p_yes(chat) == 0.25
    again.save()
    assert path.read_bytes() == gzip.compress(json.dumps(stored, sort_keys=True).encode(), mtime=0) and len(calls) == 2


def test_kept_draft_caches_name_the_model_and_kernels_they_were_written_with():
    """bench/drafts/: every kept cache is gzipped JSON whose `_meta` names the default model and the AVX2 kernels
    (the figures the README quotes are replayed from them), and the real halves' caches are there."""
    import gzip

    from qa.config import Settings

    kept = {p.name: json.loads(gzip.decompress(p.read_bytes())) for p in (ROOT / "bench" / "drafts").iterdir()}
    assert {"real-tune.json.gz", "real-test.json.gz", "seed.json.gz"} <= set(kept)
    for name, cache in kept.items():
        meta = cache.pop("_meta")
        assert meta["model"] == Settings().model and meta["kernels"] == "AVX2" and meta["commit"], name
        assert len(cache) >= 50 and all(isinstance(v, str | float) for v in cache.values()), name

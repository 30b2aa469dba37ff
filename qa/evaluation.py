"""Built-in evaluation: retrieval hit@k, answer accuracy, refusal rates, citation validity, latency.

Reads JSONL lines `{"q": str, "gold": [str], "answerable": bool}` (optionally `"history": [[q, a], ...]`
for follow-up questions). A retrieval hit is a gold string
inside a retrieved passage; an answer is correct when every gold string is in it (case-insensitive)
and it was not refused; a translated answer (a question in another language) is scored on its verified original,
the text in the sources' language that the gold strings are quoted from. Citation validity re-reads each quote
at its offsets in the stored document.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from .answer.citations import split_sentences, strip_markers
from .answer.pipeline import Answer, ask
from .config import Settings
from .errors import InputError
from .ingest.indexing import update_index
from .store import Reader, open_reader, scratch


def load_questions(path: Path) -> list[dict]:
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            assert isinstance(item["q"], str) and isinstance(item.get("gold", []), list)
            assert isinstance(item.get("draft", ""), str)
        except (ValueError, KeyError, AssertionError) as e:
            raise InputError(f"{path}:{n}: not a {{\"q\", \"gold\", \"answerable\"}} object") from e
        item.setdefault("answerable", bool(item.get("gold")))
        items.append(item)
    if not items:
        raise InputError(f"{path}: no questions")
    return items


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def citation_valid(answer: Answer, store: Reader) -> list[bool]:
    shas = {p.doc_path: p.doc_sha256 for p in answer.passages}
    numbers = {p.n for p in answer.passages}
    out = []
    for c in answer.citations:
        sha = shas.get(c.doc_path)
        text = store.document_text(sha)[0] if sha else ""
        out.append(bool(sha) and text[c.start:c.end] == c.quote and c.passage in numbers)
    return out


def _cited_share(a: Answer) -> float:
    """Share of the answer's sentences that carry a [n] marker (1.0 for a refusal)."""
    if a.abstained:
        return 1.0
    sentences = split_sentences(a.text)
    return sum(bool(re.search(r"\[\d+\]", x)) for x in sentences) / len(sentences) if sentences else 0.0


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


def evaluate(questions: Path, *, corpus: Path | list[Path] | None = None, settings: Settings | None = None,
             limit: int | None = None, use_history: bool = True) -> dict:
    """Run every question (with its `history` of earlier turns, if any) and aggregate the metrics."""
    s = settings or Settings.from_env()
    items = load_questions(questions)[:limit]
    tmp = None
    if corpus is not None:  # a temporary index of the store's kind, so the store named is measured, not left changed
        tmp = tempfile.TemporaryDirectory(prefix="qa-eval-")
        temporary = scratch(s, Path(tmp.name))
        if temporary is None:
            tmp.cleanup()
            raise InputError("--corpus would overwrite the Milvus server's collections; index the corpus with "
                             "`qa index --store URI` and run `qa eval --store URI` without --corpus")
        s = temporary
        update_index(corpus if isinstance(corpus, list) else [corpus], settings=s)
    try:
        if is_draft_set(items):
            return evaluate_drafts(items, s, questions.name)
        if all(item.get("overview") for item in items):
            return evaluate_overviews(items, s, questions.name)
        return _run(items, s, questions.name, use_history)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(items: list[dict], s: Settings, name: str, use_history: bool = True) -> dict:
    ask("warm-up question", settings=s)  # load models before timing
    with open_reader(s) as store:
        rows = [_row(item, s, store, use_history) for item in items]
    return _summary(rows, s, name)


def _row(item: dict, s: Settings, store: Reader, use_history: bool) -> dict:
    """One question asked and scored."""
    t0 = time.perf_counter()
    a = ask(item["q"], settings=s, history=[tuple(t) for t in item.get("history", [])] if use_history else None)
    seconds = time.perf_counter() - t0
    gold = [_norm(g) for g in item.get("gold", [])]
    text = _norm(strip_markers(a.original or a.text))  # a translated answer is scored on its verified original
    return {
        "q": item["q"], "answerable": item["answerable"], "abstained": a.abstained, "mode": a.mode,
        "hit": any(g in _norm(p.text) for p in a.passages for g in gold) if gold else False,
        "correct": (not a.abstained) and bool(gold) and all(g in text for g in gold),
        "words": len(strip_markers(a.text).split()), "seconds": seconds, "confidence": a.confidence,
        "valid": citation_valid(a, store), "answer": a.text, "reason": a.reason, "dropped": a.dropped,
        "near_miss": bool(item.get("near_miss")), "cited_sentences": _cited_share(a),
        "first_sentence_s": a.timings.get("first_sentence"), "doc": item.get("doc", ""),
        "style": item.get("style", ""), "kind": item.get("kind", ""), "language": a.language,
        "translated_from": a.translated_from, "original": a.original}


def _summary(rows: list[dict], s: Settings, name: str) -> dict:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    valid = [v for r in rows for v in r["valid"]]
    lat = sorted(r["seconds"] for r in rows)
    given = [r["words"] for r in ans if not r["abstained"]]
    return {
        "set": name, "questions": len(rows), "answerable": len(ans), "unanswerable": len(una),
        "mode": s.mode, "model": s.model if s.mode == "generated" else "-", "k": s.k,
        "hit_at_k": _pct(sum(r["hit"] for r in ans), len(ans)),
        "accuracy": _pct(sum(r["correct"] for r in ans), len(ans)),
        "median_words": statistics.median(given) if given else None,
        "refused_unanswerable": _pct(sum(r["abstained"] for r in una), len(una)),
        "false_refusals": _pct(sum(r["abstained"] for r in ans), len(ans)),
        "citations": len(valid), "citation_validity": _pct(sum(valid), len(valid)),
        "p50_s": round(statistics.median(lat), 3), "p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3),
        "generator_fallbacks": sum(r["mode"] == "extractive-fallback" for r in rows),
        "generated_share": _pct(sum(r["mode"] == "generated" for r in ans if not r["abstained"]),
                                sum(not r["abstained"] for r in ans)),
        "near_miss_refused": _pct(sum(r["abstained"] for r in una if r["near_miss"]),
                                  sum(r["near_miss"] for r in una)),
        "every_sentence_cited": _pct(sum(r["cited_sentences"] == 1.0 for r in rows), len(rows)),
        "first_sentence_p50_s": (round(statistics.median(f), 3) if (f := [r["first_sentence_s"] for r in rows
                                                                           if r["first_sentence_s"]]) else None),
        "translated": sum(bool(r["translated_from"]) for r in rows if not r["abstained"]),
        "by_kind": _by(rows, "kind"), "by_style": _by(rows, "style"),
        "rows": rows,
    }


def _by(rows: list[dict], key: str) -> dict[str, dict]:
    """Accuracy and refusals per value of a question's `key` (the real-documents set's kind and style)."""
    out = {}
    for value in sorted({r.get(key) or "" for r in rows} - {""}):
        part = [r for r in rows if r.get(key) == value]
        ans, una = [r for r in part if r["answerable"]], [r for r in part if not r["answerable"]]
        out[value] = {"questions": len(part), "accuracy": _pct(sum(r["correct"] for r in ans), len(ans)),
                      "false_refusals": _pct(sum(r["abstained"] for r in ans), len(ans)),
                      "refused_unanswerable": _pct(sum(r["abstained"] for r in una), len(una))}
    return out


def evaluate_overviews(items: list[dict], s: Settings, name: str) -> dict:
    """Overview questions ("what is this about?") about the document `doc` of each item: answered (not refused),
    citation validity, and coverage (the share of the document's top-level sections the citations fall in)."""
    from .answer.overview import coverage

    ask("warm-up question", settings=s)
    rows = []
    with open_reader(s) as store:
        paths = {d["path"].rsplit("/", 1)[-1]: d for d in store.documents()}
        for item in items:
            t0 = time.perf_counter()
            a = ask(item["q"], settings=s, doc=item["doc"])
            seconds = time.perf_counter() - t0
            d = paths.get(item["doc"])
            text = store.document_text(d["sha256"])[0] if d else ""
            mine = [c.start for c in a.citations if d and c.doc_path == d["path"]]
            rows.append({"q": item["q"], "doc": item["doc"], "answered": not a.abstained, "mode": a.mode,
                         "valid": citation_valid(a, store), "coverage": round(coverage(mine, text), 3),
                         "on_document": bool(mine) and len(mine) == len(a.citations), "seconds": seconds,
                         "answer": a.text})
    valid = [v for r in rows for v in r["valid"]]
    return {"set": name, "overviews": len(rows), "answered": _pct(sum(r["answered"] for r in rows), len(rows)),
            "on_document": _pct(sum(r["on_document"] for r in rows), len(rows)),
            "citations": len(valid), "citation_validity": _pct(sum(valid), len(valid)),
            "median_coverage": round(100 * statistics.median(r["coverage"] for r in rows), 1),
            "generated_share": _pct(sum(r["mode"] == "generated" for r in rows), len(rows)),
            "p50_s": round(statistics.median(r["seconds"] for r in rows), 3), "rows": rows}


def format_overview_report(r: dict) -> str:
    return "\n".join([
        f"{r['set']}: {r['overviews']} overview questions",
        f"  answered (not refused)   {r['answered']}%   about the document asked: {r['on_document']}%",
        f"  citation validity        {r['citation_validity']}% of {r['citations']} citations",
        f"  median section coverage  {r['median_coverage']}%   written by the model {r['generated_share']}%",
        f"  latency                  p50 {r['p50_s']} s",
    ])


def format_report(r: dict) -> str:
    if "overviews" in r:
        return format_overview_report(r)
    def f(v: object, unit: str = "") -> str:
        return "n/a" if v is None else f"{v}{unit}"

    return "\n".join([
        f"{r['set']}: {r['questions']} questions ({r['answerable']} answerable, {r['unanswerable']} not), "
        f"mode {r['mode']}, model {r['model']}, k={r['k']}",
        f"  retrieval hit@k          {f(r['hit_at_k'], '%')}",
        f"  answer accuracy          {f(r['accuracy'], '%')}   median answer {f(r['median_words'])} words",
        f"  refused (unanswerable)   {f(r['refused_unanswerable'], '%')}",
        f"  false refusals           {f(r['false_refusals'], '%')}",
        f"  citation validity        {f(r['citation_validity'], '%')} of {r['citations']} citations",
        f"  latency                  p50 {r['p50_s']} s, p95 {r['p95_s']} s",
        f"  every sentence cited     {f(r['every_sentence_cited'], '%')} of answers",
        *([f"  answers translated       {r['translated']} (scored on the verified original)"] if r.get("translated")
          else []),
        *([f"  near misses refused      {f(r['near_miss_refused'], '%')}"] if r["near_miss_refused"] is not None
          else []),
        *([f"  answers written by the model {f(r['generated_share'], '%')} (first verified sentence p50 "
           f"{f(r['first_sentence_p50_s'], ' s')}); drafts replaced by the extracted sentence: "
           f"{r['generator_fallbacks']}"] if r["mode"] == "generated" else []),
    ])


def is_draft_set(items: list[dict]) -> bool:
    return all("draft" in item for item in items)


def evaluate_drafts(items: list[dict], s: Settings, name: str) -> dict:
    """Verification alone: is each draft (correct or with one fact changed) accepted for its question?

    Items are `{"q", "draft", "mutated": bool, "kind"}`; a draft is accepted when every one of its
    sentences survives verification against the question's retrieved evidence.
    """
    from .answer.answerability import choose
    from .answer.pipeline import retrieve_stage
    from .answer.verification import verify_text
    from .embedding import settings_embedder, tuned

    s = tuned(s)
    emb = settings_embedder(s)
    rows = []
    with open_reader(s) as store:
        for item in items:  # the chat's own verifier, with the rules' choice that the chat would make
            r = retrieve_stage(item["q"], None, store, emb, s)
            choice = choose(item["q"], r.query, r.evidence, r.scores, s)
            d = verify_text(item["draft"], r, emb, s, choice)
            rows.append({**item, "accepted": d.accepted, "dropped": d.dropped})
    kinds = sorted({r["kind"] for r in rows if r["mutated"]})
    good = [r for r in rows if not r["mutated"]]
    bad = [r for r in rows if r["mutated"]]
    return {"set": name, "drafts": len(rows), "correct": len(good), "mutated": len(bad),
            "correct_accepted": _pct(sum(r["accepted"] for r in good), len(good)),
            "mutated_rejected": _pct(sum(not r["accepted"] for r in bad), len(bad)),
            "by_kind": {k: _pct(sum(not r["accepted"] for r in bad if r["kind"] == k),
                                sum(r["kind"] == k for r in bad)) for k in kinds},
            "rows": rows}


def format_drafts_report(r: dict) -> str:
    kinds = ", ".join(f"{k} {v}%" for k, v in r["by_kind"].items())
    return "\n".join([
        f"{r['set']}: {r['drafts']} drafts ({r['correct']} correct, {r['mutated']} with one fact changed)",
        f"  correct drafts accepted  {r['correct_accepted']}%",
        f"  mutated drafts rejected  {r['mutated_rejected']}%   ({kinds})",
    ])

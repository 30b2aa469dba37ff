"""Build bench/mutations.jsonl: correct drafts from the dev sets, each also with one fact changed.

    python bench/make_mutations.py EVAL.json [EVAL.json ...] [--docs FOLDER ...] > bench/mutations.jsonl

Input: `qa eval --json-out` reports. Every answer the eval marked correct (markers stripped) is a
correct draft; from it come mutations of one fact each: a number, a date, a name, a negation, or two
names swapped; and, with `--docs` (the folders the reports' questions were asked over), a value moved
from a neighbouring sentence of the document ("The pump restarts after 5 minutes" where 5 minutes is another
device's warm-up time, two sentences on): each word is in the evidence, the claim is not. A mutation that
leaves the text unchanged is not written. Deterministic: the same reports give the same file.
"""

from __future__ import annotations

import json
import re
import sys

NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
OTHER_NAMES = ["Germany", "Brazil", "Kenya", "Norway", "Peru", "Canada", "Japan", "Morocco"]
AUX = re.compile(r"\b(is|are|was|were|will|can|has|have|had|does|do|did|would|could|should|must)\b")
YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*\b")
NAME = re.compile(r"(?<=\s)[A-Z][a-z][\w’'-]*")
ENTITY = re.compile(r"[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*")
MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def number(draft: str, i: int) -> str:
    m = [x for x in NUMBER.finditer(draft) if not YEAR.fullmatch(x.group())]
    if m:
        x = m[0]
        value = x.group().replace(",", "")
        new = str(int(float(value)) + 3) if re.fullmatch(r"\d+(\.\d+)?", value) else value + "0"  # "3.5.8": a version
        return draft[:x.start()] + new + draft[x.end():]
    for w in NUMBER_WORDS:
        if re.search(rf"\b{w}\b", draft, re.IGNORECASE):
            other = NUMBER_WORDS[(NUMBER_WORDS.index(w) + 2) % len(NUMBER_WORDS)]
            return re.sub(rf"\b{w}\b", other, draft, count=1, flags=re.IGNORECASE)
    return draft


def date(draft: str, i: int) -> str:
    m = YEAR.search(draft)
    if m:
        return draft[:m.start()] + str(int(m.group()) - 7) + draft[m.end():]
    for month in MONTHS:
        if month in draft:
            return draft.replace(month, MONTHS[(MONTHS.index(month) + 5) % 12], 1)
    return draft


def name(draft: str, i: int) -> str:
    names = [m for m in NAME.finditer(draft)]
    if not names:
        return draft
    m = names[i % len(names)]
    other = next(o for o in OTHER_NAMES[i % len(OTHER_NAMES):] + OTHER_NAMES if o not in draft)
    return draft[:m.start()] + other + draft[m.end():]


def negation(draft: str, i: int) -> str:
    m = AUX.search(draft)
    if m:
        return draft[:m.end()] + " not" + draft[m.end():]
    return "It is not true that " + draft[:1].lower() + draft[1:]


def _starts_sentence(text: str, at: int) -> bool:
    return at == 0 or text[:at].rstrip().endswith((".", "!", "?"))


def swap(draft: str, i: int) -> str:
    """Two different entities (runs of capitalised words) trade places: "China supports Kyrgyzstan" ->
    "Kyrgyzstan supports China"."""
    found = [m for m in ENTITY.finditer(draft) if " " in m.group() or not _starts_sentence(draft, m.start())]
    pairs = [(a, b) for a in found for b in found if a.end() < b.start() and a.group().lower() not in
             b.group().lower() and b.group().lower() not in a.group().lower()
             and draft[a.end():b.start()].strip(" ,") not in ("and", "or", "")  # "A and B" = "B and A"
             and draft.count(a.group()) == 1 and draft.count(b.group()) == 1]
    if not pairs:
        return draft
    a, b = pairs[0]
    return draft[:a.start()] + b.group() + draft[a.end():b.start()] + a.group() + draft[b.end():]


MUTATIONS = {"number": number, "date": date, "name": name, "negation": negation, "swap": swap}


def _sentences(docs: list[str]) -> list[list[str]]:
    """Each document's sentences, as `qa` reads them."""
    from pathlib import Path

    from qa.ingest.chunking import sentence_spans
    from qa.ingest.documents import SUFFIXES, read_document

    out = []
    for folder in docs:
        for f in sorted(Path(folder).rglob("*")):
            if f.suffix.lower() in SUFFIXES and f.name != "SOURCES.md":
                text = read_document(f).text
                out.append([" ".join(text[s:e].split()) for s, e in sentence_spans(text)])
    return out


def moved(draft: str, documents: list[list[str]]) -> str:
    """The draft's first number replaced by another number from a sentence near the one it came from."""
    words = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", draft)}
    for x in NUMBER.finditer(draft):
        for sentences in documents:
            for k, sentence in enumerate(sentences):
                if x.group() not in NUMBER.findall(sentence) or \
                        len(words & {w.lower() for w in re.findall(r"[A-Za-z]{4,}", sentence)}) < 2:
                    continue
                near = [n for s in sentences[max(0, k - 2):k] + sentences[k + 1:k + 3] for n in NUMBER.findall(s)
                        if n not in NUMBER.findall(sentence) and n not in draft and len(n) > 1]
                if near:
                    return draft[:x.start()] + near[0] + draft[x.end():]
    return draft


def main(paths: list[str]) -> None:
    docs = paths[paths.index("--docs") + 1:] if "--docs" in paths else []
    paths = paths[:paths.index("--docs")] if docs else paths
    documents = _sentences(docs)
    seen: set[str] = set()
    for path in paths:
        report = json.load(open(path, encoding="utf-8"))
        for i, row in enumerate(report["rows"]):
            if not row.get("correct"):
                continue
            draft = " ".join(MARKER.sub("", row["answer"]).split())
            if draft in seen:
                continue
            seen.add(draft)
            print(json.dumps({"q": row["q"], "draft": draft, "mutated": False, "kind": "correct",
                              "set": report["set"]}, ensure_ascii=False))
            for kind, mutate in [*MUTATIONS.items(), ("moved", lambda d, i: moved(d, documents))]:
                changed = mutate(draft, i)
                if changed != draft:
                    print(json.dumps({"q": row["q"], "draft": changed, "mutated": True, "kind": kind,
                                      "set": report["set"]}, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])

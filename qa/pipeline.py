"""`ask`: a question answered in stages, each a small function with a typed result.

    retrieve_stage     -> Retrieved    passages (dense + BM25, fused), their sentences, answer scores
    choose             -> Choice       answer rules: the answer sentence, what the model reads, or a refusal
    judge              -> reason       the model, asked yes/no, refuses a doubtful one-fact question
    compose            -> str pieces   the local model's draft, from numbered evidence sentences
    verify_stream      -> (sentence, evidence, support)  each completed draft sentence checked as it streams
                                       (`verification`: the one verifier, also used by `qa eval` on drafts)
    conclude           -> mode         the model's answer, a refusal, or the quoted best sentence
    narrow             -> parts        a quoted sentence cut to the phrase of it that answers (the model points)
    cite               -> Answer       verified sentences with [n] markers, exact quotes and offsets

`ask_stream` yields only verified text: a sentence appears once it has passed verification and
never disappears; the pieces joined are exactly `Answer.text`. When the model finds nothing
(NOT FOUND) the rules decide between refusing and quoting; when none of its sentences survive, an evidence
sentence is quoted (`extractive-fallback`): the one the draft was written from when it scores
close to the rules' pick (`source_ratio`), else the pick, and then only the phrase of it that answers
when the model can point to one (`answer_phrase`).
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import overview, spelling, translation
from .answerability import Choice, choose
from .citations import Citation, Evidence, Retrieved, answer_scores, cite, evidence_sentences
from .config import MAX_QUESTION_CHARS, Settings
from .context import Reading, read
from .documents import page_at
from .embedding import Embedder, settings_embedder
from .errors import InputError, QAError
from .generation import Generator, NotFoundProbe, settings_generator
from .prompting import build_judge_messages, build_messages, build_span_messages, is_not_found
from .retrieval import Passage, retrieve
from .store import Reader, open_reader
from .text import STOP, stems
from .verification import Draft, verify_stream

FOLLOWUP_OWN_WEIGHT = 0.7  # bench/followups.jsonl: 87.5% right at 0.5-0.7, 62.5% at 0 (query only) or 1
log = logging.getLogger(__name__)
REFUSAL = "The documents don't say: nothing in them answers this question."
Turn = tuple[str, str]  # (user question, assistant answer)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    citations: list[Citation]
    passages: list[Passage]
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"  # generated | extractive | extractive-fallback | refused
    confidence: float = 0.0
    reason: str = ""  # why the question was refused, empty when answered
    dropped: list[str] = field(default_factory=list)  # draft sentences verification removed (unsupported)
    language: str = "en"  # the question's language, by its script (`translation.language`)
    translated_from: str = ""  # the language of `original` when `text` is its translation ("en"), else ""
    original: str = ""  # the verified answer in the sources' language when `text` is a translation, else ""

    def to_dict(self) -> dict:
        return asdict(self)


_FOLLOWUP = re.compile(r"^(and|but|also|what about|how about|so)\b|\b(it|its|they|them|their|this|that|these|"
                       r"those|he|she|his|her|there|then)\b", re.IGNORECASE)


def resolve_followup(question: str, history: Sequence[Turn] | None) -> str:
    """The retrieval query: a follow-up ("and when was it signed?") borrows the previous question."""
    if not history:
        return question
    if len(question.split()) <= 8 or _FOLLOWUP.search(question):
        return f"{history[-1][0]} {question}"
    return question


def check_text(text: str | None, what: str = "question") -> str:
    """The question (or query) stripped, or a one-line InputError when it is empty or over 2000 characters."""
    text = (text or "").strip()
    if not text:
        raise InputError(f"the {what} is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(f"the {what} is {len(text)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return text


def retrieve_stage(question: str, history: Sequence[Turn] | None, store: Reader, emb: Embedder,
                   s: Settings, doc: str = "") -> Retrieved:
    query = resolve_followup(question, history)
    q_vec = emb.embed([query])[0]
    passages = retrieve(query, store, emb, k=s.k, query_vec=q_vec, doc=doc)
    evidence = evidence_sentences(passages)
    if not evidence:
        return Retrieved(query, passages, [], np.zeros((0, 1), np.float32), np.zeros(0))
    ev_vecs = emb.embed([e.text for e in evidence])
    scores = answer_scores(query, q_vec, evidence, ev_vecs)
    if query != question:  # a follow-up: its own words decide which sentence answers it
        own = answer_scores(question, emb.embed([question])[0], evidence, ev_vecs)
        scores = FOLLOWUP_OWN_WEIGHT * own + (1 - FOLLOWUP_OWN_WEIGHT) * scores
    return Retrieved(query, passages, evidence, ev_vecs, scores)


def usable_generator(generator: Generator | None, s: Settings) -> Generator | None:
    """The generator to use (the one passed in, else the settings' model), or None when the model cannot
    be loaded: then the rules decide and the answer is extracted. Loaded once per question."""
    try:
        return generator or settings_generator(s)
    except QAError as e:  # a broken or missing model must not cost the user the answer
        log.warning("the model is not available, answering by extraction: %s", e)
        return None


def judged(choice: Choice, s: Settings) -> bool:
    """A one-fact question whose best sentence scores under `judge_below`: the model decides if it is answered."""
    return not choice.several and choice.confidence < s.judge_below


def fold_probe(choice: Choice, gen: Generator | None, s: Settings) -> NotFoundProbe | None:
    """The judge folded into the draft (`judge_fold`, on runtimes that can): the draft's own first-token
    probability of NOT FOUND decides, read from the pass that writes it, instead of a second prompt.
    Measured on the tuning halves (bench/judge_fold.py): as good a separation as the judge's p(yes)."""
    if not (s.judge_fold and judged(choice, s) and getattr(gen, "folds_judge", False)):
        return None
    return NotFoundProbe(s.judge_max_not)


def judge(question: str, reading: Reading, choice: Choice, gen: Generator | None, s: Settings,
          timings: dict[str, float]) -> str:
    """A refusal reason when the model judges that the evidence does not state the answer, else "".

    Only one-fact questions whose best sentence scores under `judge_below` are judged: SQuAD 2.0's
    adversarial questions reuse a paragraph's words for something it never states, which the scores
    cannot see; the model, asked "do the sources state the answer?", often can."""
    if not judged(choice, s) or s.judge_min_yes <= 0:
        return ""
    if not hasattr(gen, "p_yes"):  # no model, or a generator written before the protocol had the judge
        return ""
    t = time.perf_counter()
    try:
        p = gen.p_yes(build_judge_messages(question, reading.texts))
    except QAError as e:  # a broken model leaves the decision to the rules
        log.warning("the model could not judge, the rules decide: %s", e)
        return ""
    finally:
        timings["judge"] = time.perf_counter() - t
    if p < s.judge_min_yes:
        return f"the model judges that the closest sentences do not state the answer (p(yes) {p:.2f} < " \
               f"{s.judge_min_yes})"
    return ""


def compose(question: str, reading: Reading, choice: Choice, gen: Generator, s: Settings,
            timings: dict[str, float], probe: NotFoundProbe | None = None) -> Iterator[str]:
    """The model's draft, piece by piece, written from the windows of evidence it reads."""
    budget = s.max_new_tokens_many if choice.several else s.max_new_tokens
    messages = build_messages(question, reading.texts)
    timings["prompt_chars"] = float(len(messages[-1]["content"]))
    if probe is None:
        yield from gen.stream(messages, max_new_tokens=budget)
    else:
        yield from gen.stream(messages, max_new_tokens=budget, probe=probe)


def _extract(r: Retrieved, choice: Choice, s: Settings,
             draft: Draft | None = None) -> list[tuple[str, Evidence, float]]:
    """The extractive answer: the pick, plus up to two more good sentences for list questions.

    When the model's draft failed verification on a detail, the sentence it was written from is often the
    answer the rules missed ("Apple's revenue for Q3 2007 was US$6.22 billion": "Q3" is not in the source,
    but the sentence with US$6.22 billion is): a one-fact question quotes that sentence instead of the
    rules' pick when the model read it and it scores at least `source_ratio` of the pick."""
    chosen = [choice.pick]
    if draft and draft.nearest and not choice.several and s.source_ratio:
        near = draft.nearest[0]
        if near in choice.focus and r.scores[near] >= s.source_ratio * choice.confidence:
            chosen = [near]
    if choice.several:
        chosen += [i for i in choice.focus[1:] if r.scores[i] >= s.min_answer_score][:2]
        chosen.sort(key=lambda i: (r.evidence[i].passage.doc_path, r.evidence[i].start))
    return [(r.evidence[i].text, r.evidence[i], float(r.scores[i])) for i in chosen]


def narrow(question: str, parts: list[tuple[str, Evidence, float]], gen: Generator | None, s: Settings,
           timings: dict[str, float]) -> list[tuple[str, Evidence, float]]:
    """A one-sentence quote cut to the phrase of it that answers, when the model can point to one.

    The model reads the quoted sentence alone and copies the shortest phrase that answers ("Capricorn
    Technologies" from "The data is stored on PetaBox rack systems manufactured by Capricorn Technologies."). The
    phrase is used only if it is in the sentence word for word and adds a word to the question; it is cited to the
    whole sentence, so the citation still shows where it stands. Anything else keeps the whole sentence."""
    if len(parts) != 1 or gen is None or not s.answer_phrase:
        return parts
    sentence, ev, score = parts[0]
    t = time.perf_counter()
    try:
        reply = "".join(gen.stream(build_span_messages(question, sentence), max_new_tokens=s.max_new_tokens_phrase))
    except QAError as e:
        log.warning("the model could not narrow the quote, quoting the sentence: %s", e)
        return parts
    finally:
        timings["narrow"] = time.perf_counter() - t
    phrase = " ".join(reply.strip().strip("\"'“”‘’`").rstrip(".").split())
    if not phrase or is_not_found(phrase) or not stems(phrase) - stems(question):
        return parts
    m = re.search(r"(?<!\w)" + r"\s+".join(map(re.escape, phrase.split())) + r"(?!\w)", sentence, re.IGNORECASE)
    if not m or len(phrase.split()) >= len(sentence.split()):
        return parts
    found = _widen(sentence, *m.span())
    return [(found[:1].upper() + found[1:], ev, score)]


_NUMERIC = re.compile(r"[\d.,]+")
_BEFORE_AMOUNT = re.compile(r"(?:\b[A-Z]{0,3}[$€£¥]|[$€£¥])?$")
_AFTER_AMOUNT = re.compile(r"(?:\s?%|\s(?:thousand|million|billion|trillion|percent|per cent)\b)?", re.IGNORECASE)
_WORD_BEFORE = re.compile(r"([\w’'-]+)\s+$")
# a name ("Soviet", "Edna Ferber's") or an adjective by its ending ("multinational", "sentimental"), not a verb
_MODIFIER = re.compile(r"[A-Z][\w’'-]*|[a-z-]+(al|ic|ive|ous|ful|ary|ian|ern|ish|ese|ar|less|able|ible)")
_OF_NAME = re.compile(r"(?:\s+of\s+(?:\d[\d,.]*\b|[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*))?")  # "Constitution of 1936"
_QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’"}


def _widen(sentence: str, start: int, end: int) -> str:
    """The phrase at [start, end) with what completes it: the currency and scale of a bare amount ("US$6.22
    billion", not "6.22"), up to three names or adjectives before it ("multinational corporations", not
    "corporations") and a name or year after "of" ("the Soviet Constitution of 1936"), the quotes around it and
    an article before it."""
    if _NUMERIC.fullmatch(sentence[start:end]):
        start -= len(_BEFORE_AMOUNT.search(sentence[:start]).group())
        end += len(_AFTER_AMOUNT.match(sentence[end:]).group())
    else:
        for _ in range(3):
            m = _WORD_BEFORE.search(sentence[:start])
            if not m or m.group(1).lower() in STOP or not _MODIFIER.fullmatch(m.group(1)):
                break
            start = m.start()
        end += len(_OF_NAME.match(sentence[end:]).group())
    if start and sentence[start - 1] in _QUOTES and sentence[end:end + 1] == _QUOTES[sentence[start - 1]]:
        start, end = start - 1, end + 1
    if (m := _WORD_BEFORE.search(sentence[:start])) and m.group(1).lower() in ("the", "a", "an"):
        start = m.start()
    return sentence[start:end]


def generate_verified(question: str, r: Retrieved, choice: Choice, emb: Embedder, s: Settings, draft: Draft,
                      gen: Generator | None, page_of, timings: dict[str, float], t0: float,
                      reading: Reading | None = None, probe: NotFoundProbe | None = None) -> Iterator[str]:
    """Compose and verify: yield the answer's new verified text each time a sentence passes."""
    if gen is None:  # no model: the draft never ran, and `conclude` quotes the best sentence
        return
    t1 = time.perf_counter()
    shown = ""
    try:
        reading = reading or read(r, choice, s)
        pieces = _timed(compose(question, reading, choice, gen, s, timings, probe), timings, t1)
        # a window's neighbours are as much on topic as its chosen sentence
        for _ in verify_stream(pieces, replace(r, scores=reading.scores), emb, s, choice, draft):
            text = cite(draft.kept, page_of).text
            timings.setdefault("first_sentence", time.perf_counter() - t0)
            yield text[len(shown):]
            shown = text
    except QAError as e:  # a broken or missing model must not cost the user the answer
        log.warning("generator failed, answering by extraction: %s", e)
    timings["generate"] = time.perf_counter() - t1


def conclude(draft: Draft, choice: Choice, s: Settings) -> tuple[str, str]:
    """(mode, refusal reason) once the draft is done: the model's answer, a refusal, or the quoted sentence.

    The model found nothing when it said NOT FOUND or wrote only the question back ("China invested in
    new energy projects" for "how much did China invest…"): refuse unless the rules are confident.
    """
    if draft.kept:
        return "generated", ""
    if choice.tentative:  # only a verified draft could answer it
        return "refused", choice.reason + (", and the model found no answer" if draft.not_found else
                                           ", and nothing the model wrote could be verified")
    if draft.found_nothing and choice.confidence < s.model_refusal_below:
        return "refused", "the model found no answer in the closest sentences"
    if draft.finished and choice.confidence < s.fallback_min_score:
        return "refused", ("nothing the model wrote could be verified, and the closest sentence is not similar "
                           f"enough ({choice.confidence:.2f} < {s.fallback_min_score})")
    return "extractive-fallback", ""


def ask_stream(question: str, *, index_dir: str | Path | None = None, k: int | None = None,
               mode: str | None = None, history: Sequence[Turn] | None = None, settings: Settings | None = None,
               embedder: Embedder | None = None, generator: Generator | None = None,
               store: str | None = None, doc: str = "") -> Iterator[str | Answer]:
    """Yield the answer's verified text as it is produced (str pieces), then the `Answer`.

    The pieces joined are exactly `Answer.text`: nothing shown is ever taken back."""
    s = (settings or Settings.from_env()).replace(index_dir=Path(index_dir) if index_dir else None, k=k, mode=mode,
                                                  store=store)
    question = check_text(question)
    with open_reader(s) as store:  # a local version is closed once a newer one is live and its readers are done
        emb = _embedder_for(store, s, embedder)
        if (lang := translation.language(question)) != "en":
            yield from _answer_in(lang, question, history, store, emb, s, generator, doc)
            return
        yield from _answer(question, history, store, emb, s, generator, doc)


def _answer_in(lang: str, question: str, history: Sequence[Turn] | None, store: Reader, emb: Embedder, s: Settings,
               generator: Generator | None, doc: str) -> Iterator[str | Answer]:
    """A question in another language (see `translation`): the model, when it writes, also translates."""
    gen = usable_generator(generator, s) if s.mode == "generated" else None

    def best_passage(query: str) -> str:
        found = retrieve(query, store, emb, k=1, doc=doc)
        return found[0].text if found else ""

    yield from translation.answer_in(question, lang, lambda q: _answer(q, history, store, emb, s, gen, doc), gen,
                                     best_passage, REFUSAL)


OVERVIEW_PROMPT = "What are the main points of these sources? Write one short sentence per point, about the subject."


def _overview(question: str, store: Reader, emb: Embedder, s: Settings, generator: Generator | None,
              doc: str) -> Iterator[str | Answer]:
    """An overview request answered from the lead sentences of the document's sections (see `overview`)."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    scopes = overview.scope(question, store, doc)
    evidence = [e for sc in scopes for e in overview.outline(sc, n=1 if len(scopes) > 1 else 0)]
    passages = [replace(e.passage, n=n) for n, e in enumerate(evidence, 1)]
    evidence = [replace(e, passage=p) for e, p in zip(evidence, passages, strict=True)]
    timings["retrieve"] = time.perf_counter() - t0
    if not evidence:
        yield REFUSAL
        yield Answer(question, REFUSAL, True, [], [], timings, "refused", 0.0, "the document holds no sentence to "
                                                                           "summarise")
        return
    ones = np.ones(len(evidence))
    r = Retrieved(question, passages, evidence, emb.embed([e.text for e in evidence]), ones)
    choice = Choice(0, 1.0, "", list(range(len(evidence))), True)
    reading = Reading([f"({overview.label(e)}) {e.text}" for e in evidence], [[i] for i in range(len(evidence))], ones)
    draft, page_of = Draft(), _page_of(store)
    gen = usable_generator(generator, s) if s.mode == "generated" else None
    yield from generate_verified(OVERVIEW_PROMPT, r, choice, emb, s, draft, gen, page_of, timings, t0, reading)
    used = "generated" if draft.kept else "extractive" if s.mode == "extractive" else "extractive-fallback"
    # every section is covered: by the model's verified sentences, else by its quoted lead sentence
    told = {part[1].passage.n for part in draft.kept}
    parts = draft.kept + [(e.text, e, 1.0) for e in evidence if e.passage.n not in told]
    streamed = cite(draft.kept, page_of)
    shown = streamed.text if draft.kept else ""
    v = cite(parts, page_of)
    if not v.text.startswith(shown):  # what was streamed stays as it was
        v = streamed
    timings["total"] = time.perf_counter() - t0
    if len(v.text) > len(shown):
        yield v.text[len(shown):]
    yield Answer(question, v.text, False, v.citations, passages, timings, used, 1.0, "", draft.dropped)


def _answer(question: str, history: Sequence[Turn] | None, store: Reader, emb: Embedder, s: Settings,
            generator: Generator | None, doc: str = "") -> Iterator[str | Answer]:
    if s.overview_min and \
            overview.is_overview(question, emb.embed([question])[0], emb, s.overview_min) and \
            (doc or overview.names_its_subject(question, store)):
        yield from _overview(question, store, emb, s, generator, doc)
        return
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    asked, question = question, spelling.correct(question, store, spelling.known_words(emb)) \
        if s.spelling else question
    r = retrieve_stage(question, history, store, emb, s, doc)
    timings["retrieve"] = time.perf_counter() - t0
    choice = choose(question, r.query, r.evidence, r.scores, s)
    page_of = _page_of(store)
    draft, gen = Draft(), None
    if choice.reason and (s.mode == "extractive" or not choice.tentative):
        used, reason = "refused", choice.reason
    elif s.mode == "extractive":
        used, reason = "extractive", ""
    else:
        gen = usable_generator(generator, s)
        reading = read(r, choice, s)  # what the judge and the draft both read
        probe = fold_probe(choice, gen, s)
        if probe is None and (reason := judge(question, reading, choice, gen, s, timings)):
            used = "refused"
        else:
            yield from generate_verified(question, r, choice, emb, s, draft, gen, page_of, timings, t0, reading,
                                         probe)
            used, reason = conclude(draft, choice, s)
            if probe is not None and probe.stopped:
                used, reason = "refused", (f"the model's draft would begin NOT FOUND (p {probe.p:.2f} > "
                                           f"{s.judge_max_not})")
    timings["total"] = time.perf_counter() - t0
    if used == "refused":
        answer = Answer(asked, REFUSAL, True, [], r.passages, timings, used, round(choice.confidence, 3), reason,
                        draft.dropped)
    else:
        parts = draft.kept if used == "generated" else _extract(r, choice, s, draft)
        if used == "extractive-fallback":
            parts = narrow(question, parts, gen, s, timings)
        v = cite(parts, page_of)
        answer = Answer(asked, v.text, False, v.citations, r.passages, timings, used, round(choice.confidence, 3),
                        "", draft.dropped)
    if used != "generated":  # nothing was streamed: the whole text at once
        yield answer.text
    yield answer


def _embedder_for(store: Reader, s: Settings, embedder: Embedder | None) -> Embedder:
    emb = embedder or settings_embedder(s)
    if store.manifest.get("embedder") != getattr(emb, "name", s.embedder):
        raise QAError(f"the index was built with {store.manifest.get('embedder')}, not {emb.name}; run `qa index`")
    return emb


def _timed(pieces: Iterator[str], timings: dict[str, float], t1: float) -> Iterator[str]:
    for piece in pieces:
        timings.setdefault("first_token", time.perf_counter() - t1)
        yield piece


def _page_of(store: Reader):
    def page(ev: Evidence) -> tuple[int | None, bool]:
        """The evidence's 1-based page (None without pages), and whether OCR read that page."""
        if not ev.passage.doc_sha256:
            return None, False
        starts, ocr = store.document_pages(ev.passage.doc_sha256)
        n = page_at(starts, ev.start)
        return n, n in ocr
    return page


def ask(question: str, *, index_dir: str | Path | None = None, k: int | None = None, mode: str | None = None,
        history: Sequence[Turn] | None = None, settings: Settings | None = None, embedder: Embedder | None = None,
        generator: Generator | None = None, store: str | None = None, doc: str = "") -> Answer:
    """Answer `question` from the index, with verified citations, or refuse (`Answer.abstained`).

    `k` passages are retrieved (default 5, or QA_K); `mode` is "generated" (default) or "extractive";
    `history` is the earlier (question, answer) turns of a chat, used to resolve follow-ups;
    `store` overrides where the index lives ("" local, "x.db" Milvus Lite, "http://…" Milvus);
    `doc` (a path, file name or id) limits the answer to that document, and names the one an overview question
    ("what is this about?") is about.
    """
    stream = ask_stream(question, index_dir=index_dir, k=k, mode=mode, history=history, settings=settings,
                        embedder=embedder, generator=generator, store=store, doc=doc)
    result = deque(stream, maxlen=1)[0]
    assert isinstance(result, Answer)
    return result

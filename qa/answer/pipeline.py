"""`ask`: one question answered by a `Run`, whose methods are the stages, in order.

    Run.retrieve   -> Retrieved    passages (dense + BM25, fused), their sentences, answer scores; then the
                   -> Choice       answer rules: the answer sentence, what the model reads, or a refusal
    Run.judge      -> reason       the model, asked yes/no, refuses a doubtful one-fact question
    Run.compose    -> str pieces   the local model's draft, from numbered evidence sentences
    Run.verify     -> str pieces   each completed draft sentence checked as it streams (`verification`: the one
                                   verifier, also used by `qa eval` on drafts); the verified text so far
    Run.judge_claim -> bool        the model, asked yes/no, drops a verified sentence that leans on a free echo
    Run.conclude   -> mode         the model's answer, a refusal, or the quoted best sentence
    narrow         -> parts        a quoted sentence cut to the phrase of it that answers (`phrase`: the model points)
    Run.answer     -> Answer       verified sentences with [n] markers, exact quotes and offsets
    Run.overview                   "what is this about?": the sections' lead sentences, written and verified

A `Run` holds what the stages share for one question (the store, embedder, settings, model, the retrieved
evidence, the rules' choice, what the model reads, the draft and the timings), so no stage passes it by hand.

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

from ..config import MAX_QUESTION_CHARS, Settings
from ..embedding import Embedder, embed_query, settings_embedder, tuned
from ..errors import InputError, QAError
from ..generation import Generator, NotFoundProbe, settings_generator, token_counter
from ..store import Reader, open_reader, page_at
from . import overview, spelling, translation
from .answerability import Choice, choose
from .citations import Citation, Evidence, Retrieved, answer_scores, cite, evidence_sentences
from .context import Reading, headed, read
from .phrase import narrow
from .prompting import build_claim_messages, build_judge_messages, build_messages
from .retrieval import Passage, retrieve
from .verification import Draft, Part, verify_stream

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
    q_vec = embed_query(emb, [query])[0]
    passages = retrieve(query, store, emb, k=s.k, query_vec=q_vec, doc=doc)
    evidence = evidence_sentences(passages)
    if not evidence:
        return Retrieved(query, passages, [], np.zeros((0, 1), np.float32), np.zeros(0))
    ev_vecs = emb.embed([e.text for e in evidence])
    scores = answer_scores(query, q_vec, evidence, ev_vecs)
    if query != question:  # a follow-up: its own words decide which sentence answers it
        own = answer_scores(question, embed_query(emb, [question])[0], evidence, ev_vecs)
        scores = FOLLOWUP_OWN_WEIGHT * own + (1 - FOLLOWUP_OWN_WEIGHT) * scores
    return Retrieved(query, passages, evidence, ev_vecs, scores)


def judged(choice: Choice, s: Settings) -> bool:
    """A one-fact question whose best sentence scores under `judge_below`: the model decides if it is answered."""
    return not choice.several and choice.confidence < s.judge_below


def ask_stream(question: str, *, index_dir: str | Path | None = None, k: int | None = None,
               mode: str | None = None, history: Sequence[Turn] | None = None, settings: Settings | None = None,
               embedder: Embedder | None = None, generator: Generator | None = None,
               store: str | None = None, doc: str = "") -> Iterator[str | Answer]:
    """Yield the answer's verified text as it is produced (str pieces), then the `Answer`.

    The pieces joined are exactly `Answer.text`: nothing shown is ever taken back."""
    s = tuned((settings or Settings.from_env()).replace(index_dir=Path(index_dir) if index_dir else None, k=k,
                                                        mode=mode, store=store))
    question = check_text(question)
    with open_reader(s) as store:  # a local version is closed once a newer one is live and its readers are done
        emb = _embedder_for(store, s, embedder)
        if (lang := translation.language(question)) != "en":
            yield from _answer_in(lang, question, history, store, emb, s, generator, doc)
            return
        yield from Run(question, history, store, emb, s, generator, doc).stream()


def _answer_in(lang: str, question: str, history: Sequence[Turn] | None, store: Reader, emb: Embedder, s: Settings,
               generator: Generator | None, doc: str) -> Iterator[str | Answer]:
    """A question in another language (see `translation`): the model, when it writes, also translates."""
    gen = usable_generator(generator, s) if s.mode == "generated" else None

    def best_passage(query: str) -> str:
        found = retrieve(query, store, emb, k=1, doc=doc)
        return found[0].text if found else ""

    def run(q: str, through_english: bool) -> Iterator[str | Answer]:
        turns = translation.english_history(history, gen) if through_english and gen is not None else history
        return Run(q, turns, store, emb, s, gen, doc).stream()

    yield from translation.answer_in(question, lang, run, gen, best_passage, REFUSAL)


def usable_generator(generator: Generator | None, s: Settings) -> Generator | None:
    """The generator to use (the one passed in, else the settings' model), or None when the model cannot be
    loaded: then the rules decide and the answer is extracted."""
    try:
        return generator or settings_generator(s)
    except QAError as e:  # a broken or missing model must not cost the user the answer
        log.warning("the model is not available, answering by extraction: %s", e)
        return None


OVERVIEW_PROMPT = "What are the main points of these sources? Write one short sentence per point, about the subject."


class Run:
    """One question on its way through the stages; `stream()` runs them in order.

    Built with what stays fixed (the question, the chat's history, the open store, the embedder, the settings,
    the generator passed in, the document it is limited to); the stages fill in the rest as they go: `question`
    (spelling corrected), `r` (retrieved evidence), `choice` (the rules'), `gen` (the model, once loaded),
    `reading` (what the model reads), `probe` (the judge folded into the draft), `draft`, `timings`, `refuted`
    (a claim the model judged its source does not state), and the outcome `mode` and `reason`."""

    def __init__(self, question: str, history: Sequence[Turn] | None, store: Reader, emb: Embedder, s: Settings,
                 generator: Generator | None = None, doc: str = "") -> None:
        self.asked = self.question = question
        self.history, self.store, self.emb, self.s, self.generator, self.doc = history, store, emb, s, generator, doc
        self.t0 = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.page_of = _page_of(store)
        self.draft = Draft()
        self.gen: Generator | None = None
        self.r: Retrieved
        self.choice: Choice
        self.reading: Reading | None = None
        self.probe: NotFoundProbe | None = None
        self.mode, self.reason = "", ""
        self.refuted = ""  # why the model judged that the sentence a claim cites does not state it (`judge_claim`)
        self.quoted: list[Part] | None = None  # the extractive answer, once chosen (`extract`)

    def stream(self) -> Iterator[str | Answer]:
        """Yield the answer's verified text as it passes (str pieces), then the `Answer`."""
        if self.wants_overview():
            yield from self.overview()
            return
        self.t0 = time.perf_counter()
        self.retrieve()
        yield from self.write()
        self.timings["total"] = time.perf_counter() - self.t0
        answer = self.answer()
        if self.mode != "generated":  # nothing was streamed: the whole text at once
            yield answer.text
        yield answer

    def wants_overview(self) -> bool:
        """An overview request ("what is this about?") of a document named, or passed as `doc`."""
        s, question = self.s, self.question
        return bool(s.overview_min and overview.is_overview(question, embed_query(self.emb, [question])[0], self.emb,
                                                            s.overview_min)
                    and (self.doc or overview.names_its_subject(question, self.store)))

    def retrieve(self) -> None:
        """The question's words corrected, its passages retrieved and their sentences scored; the rules choose."""
        if self.s.spelling:
            self.question = spelling.correct(self.question, self.store, spelling.known_words(self.emb))
        self.r = retrieve_stage(self.question, self.history, self.store, self.emb, self.s, self.doc)
        self.timings["retrieve"] = time.perf_counter() - self.t0
        self.choice = choose(self.question, self.r.query, self.r.evidence, self.r.scores, self.s)

    def write(self) -> Iterator[str]:
        """Decide `mode` and `reason`: the rules refuse or quote, else the model is judged, drafts and is
        verified (yielding the verified text as it passes) and the run concludes."""
        s, choice = self.s, self.choice
        if choice.reason and (s.mode == "extractive" or not choice.tentative):
            self.mode, self.reason = "refused", choice.reason
            return
        if s.mode == "extractive":
            self.mode = "extractive"
            return
        self.gen = self.model()
        self.reading = read(self.r, choice, s, token_counter(self.gen))  # what the judge and the draft both read
        self.probe = self.fold_probe()
        if self.probe is None and (reason := self.judge()):
            self.mode, self.reason = "refused", reason
            return
        yield from self.verify()
        self.mode, self.reason = self.conclude()
        if self.second_look():
            yield from self.verify()
            self.mode, self.reason = self.conclude()
        if self.mode == "extractive-fallback" and (reason := self.refuted or self.judge_quote()):
            self.mode, self.reason = "refused", reason

    def second_look(self) -> bool:
        """Read again (`second_reading`) when the draft of a one-fact question came to nothing verified; True when
        a second draft is to be written. Not after a judge's refusal (folded or of a claim) or a failed model."""
        s, choice, draft = self.s, self.choice, self.draft
        if not s.second_reading or self.mode == "generated" or choice.several or not draft.finished or \
                self.refuted or (self.probe is not None and self.probe.stopped) or self.reading is None:
            return False
        again = read(self.r, choice, replace(s, reading=s.second_reading), token_counter(self.gen))
        if again.texts == self.reading.texts:
            return False
        self.reading, self.draft = again, Draft(dropped=list(draft.dropped))
        return True

    def model(self) -> Generator | None:
        """The generator to use, or None when the model cannot be loaded (`usable_generator`). Loaded once per
        question."""
        return usable_generator(self.generator, self.s)

    def fold_probe(self) -> NotFoundProbe | None:
        """The judge folded into the draft (`judge_fold`, on runtimes that can): the draft's own first-token
        probability of NOT FOUND decides, read from the pass that writes it, instead of a second prompt.
        Measured on the tuning halves (bench/judge_fold.py): as good a separation as the judge's p(yes)."""
        s = self.s
        if not (s.judge_fold and judged(self.choice, s) and getattr(self.gen, "folds_judge", False)):
            return None
        return NotFoundProbe(s.judge_max_not)

    def judge(self) -> str:
        """A refusal reason when the model judges that the evidence does not state the answer, else "".

        Only one-fact questions whose best sentence scores under `judge_below` are judged: SQuAD 2.0's
        adversarial questions reuse a paragraph's words for something it never states, which the scores
        cannot see; the model, asked "do the sources state the answer?", often can."""
        if not judged(self.choice, self.s):
            return ""
        return self._judged(build_judge_messages(self.question, self.reading.texts), "judge",
                            "the closest sentences do not state the answer", self.s.judge_min_yes)

    def judge_quote(self) -> str:
        """A refusal reason when the model judges that the sentence(s) a fallback would quote do not state the
        answer, else "". A quote is the rules' or the failed draft's sentence, which no one checked answers the
        question; on the real tuning half fewer than half of them did (bench/RESULTS.md, 2026-12-02)."""
        quote = [headed(ev) for _, ev, _ in self.extract()]
        return self._judged(build_judge_messages(self.question, quote), "judge_quote",
                            "the sentence it would quote does not state the answer", self.s.judge_quote_min_yes)

    def judge_claim(self, part: Part) -> bool:
        """Drop a verified draft sentence that leans on a free echo (it repeats a question word its passage lacks,
        `citations.Support.leans`) when the model judges that the sentence it cites does not state it
        (`judge_claim_min_yes`); True when dropped. Verification checked the claim's words, not that its passage
        says what the claim says with them ("The treaty … was proposed by the six nations" from "The six nations
        signed a treaty …"). The model wrote the claim from that sentence and now says the sentence does not state
        it: a fallback would quote the same sentence, so such a question is refused (`refuted`) unless another
        sentence of the draft passed. The few sentences that lean wait for the draft to end before they are shown
        (the judge shares the model)."""
        draft = self.draft
        reason = self.refuted if part[0] in draft.dropped else self._judged(
            build_claim_messages(part[0], headed(part[1])), "judge_claim",
            "the sentence it wrote its answer from does not say so", self.s.judge_claim_min_yes)
        if reason:
            draft.kept = [k for k in draft.kept if k is not part]
            draft.drop(part[0])
            self.refuted = reason
        return bool(reason)

    def _judged(self, messages: list[dict[str, str]], stage: str, what: str, min_yes: float) -> str:
        gen = self.gen
        if min_yes <= 0 or not hasattr(gen, "p_yes"):  # off, no model, or one written before the judge
            return ""
        t = time.perf_counter()
        try:
            p = gen.p_yes(messages)
        except QAError as e:  # a broken model leaves the decision to the rules
            log.warning("the model could not judge, the rules decide: %s", e)
            return ""
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - t
        if p < min_yes:
            return f"the model judges that {what} (p(yes) {p:.2f} < {min_yes})"
        return ""

    def compose(self, question: str) -> Iterator[str]:
        """The model's draft, piece by piece, written from the windows of evidence it reads."""
        s = self.s
        budget = s.max_new_tokens_many if self.choice.several else s.max_new_tokens
        messages = build_messages(question, self.reading.texts)
        if self.probe is None:
            yield from self.gen.stream(messages, max_new_tokens=budget)
        else:
            yield from self.gen.stream(messages, max_new_tokens=budget, probe=self.probe)

    def verify(self, prompt: str | None = None) -> Iterator[str]:
        """Compose (answering `prompt`, by default the question) and verify: yield the answer's new verified
        text each time a draft sentence passes."""
        if self.gen is None:  # no model: the draft never ran, and `conclude` quotes the best sentence
            return
        t1 = time.perf_counter()
        shown = ""
        try:
            self.reading = self.reading or read(self.r, self.choice, self.s, token_counter(self.gen))
            pieces = _timed(self.compose(prompt or self.question), self.timings, t1)
            # a window's neighbours are as much on topic as its chosen sentence
            for part in verify_stream(pieces, replace(self.r, scores=self.reading.scores), self.emb, self.s,
                                      self.choice, self.draft):
                if prompt is None and part[0] in self.draft.leaning and self.judge_claim(part):
                    continue  # (an overview's sentences answer no question: not judged this way)
                text = cite(self.draft.kept, self.page_of).text
                self.timings.setdefault("first_sentence", time.perf_counter() - self.t0)
                yield text[len(shown):]
                shown = text
        except QAError as e:  # a broken or missing model must not cost the user the answer
            log.warning("generator failed, answering by extraction: %s", e)
        self.timings["generate"] = self.timings.get("generate", 0.0) + time.perf_counter() - t1

    def conclude(self) -> tuple[str, str]:
        """(mode, refusal reason) once the draft is done: the model's answer, a refusal, or the quoted sentence.

        The model found nothing when it said NOT FOUND or wrote only the question back ("China invested in
        new energy projects" for "how much did China invest…"): refuse unless the rules are confident. A draft
        the folded judge stopped (its first token would begin NOT FOUND) is a refusal.
        """
        draft, choice, s = self.draft, self.choice, self.s
        if self.probe is not None and self.probe.stopped:
            return "refused", f"the model's draft would begin NOT FOUND (p {self.probe.p:.2f} > {s.judge_max_not})"
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

    def extract(self) -> list[Part]:
        """The extractive answer: the pick, plus up to two more good sentences for list questions.

        When the model's draft failed verification on a detail, the sentence it was written from is often the
        answer the rules missed ("Apple's revenue for Q3 2007 was US$6.22 billion": "Q3" is not in the source,
        but the sentence with US$6.22 billion is): a one-fact question quotes that sentence instead of the
        rules' pick when the model read it and it scores at least `source_ratio` of the pick. Chosen once: the quote
        judge reads the same sentences the answer quotes."""
        if self.quoted is not None:
            return self.quoted
        r, choice, s, draft = self.r, self.choice, self.s, self.draft
        chosen = [choice.pick]
        if draft.nearest and not choice.several and s.source_ratio:
            near = draft.nearest[0]
            if near in choice.focus and r.scores[near] >= s.source_ratio * choice.confidence:
                chosen = [near]
        if choice.several:
            chosen += [i for i in choice.focus[1:] if r.scores[i] >= s.min_answer_score][:2]
            chosen.sort(key=lambda i: (r.evidence[i].passage.doc_path, r.evidence[i].start))
        self.quoted = [(r.evidence[i].text, r.evidence[i], float(r.scores[i])) for i in chosen]
        return self.quoted

    def answer(self) -> Answer:
        """The `Answer` the run came to: the verified draft, the quoted sentence (cut to its phrase when the
        model's draft failed) or a refusal, with [n] markers and exact quotes."""
        r, draft, confidence = self.r, self.draft, round(self.choice.confidence, 3)
        if self.mode == "refused":
            return Answer(self.asked, REFUSAL, True, [], r.passages, self.timings, self.mode, confidence, self.reason,
                          draft.dropped)
        parts = draft.kept if self.mode == "generated" else self.extract()
        if self.mode == "extractive-fallback":
            parts = narrow(self.question, parts, self.gen, self.s, self.timings)
        v = cite(parts, self.page_of)
        return Answer(self.asked, v.text, False, v.citations, r.passages, self.timings, self.mode, confidence, "",
                      draft.dropped)

    def overview(self) -> Iterator[str | Answer]:
        """An overview request answered from the lead sentences of the document's sections (see `overview`)."""
        self.t0 = time.perf_counter()
        evidence = self.outline()
        self.timings["retrieve"] = time.perf_counter() - self.t0
        if not evidence:
            yield REFUSAL
            yield Answer(self.question, REFUSAL, True, [], [], self.timings, "refused", 0.0,
                         "the document holds no sentence to summarise")
            return
        ones = np.ones(len(evidence))
        self.r = Retrieved(self.question, [e.passage for e in evidence], evidence,
                           self.emb.embed([e.text for e in evidence]), ones)
        self.choice = Choice(0, 1.0, "", list(range(len(evidence))), True)
        self.reading = Reading([f"({overview.label(e)}) {e.text}" for e in evidence],
                               [[i] for i in range(len(evidence))], ones)
        self.gen = self.model() if self.s.mode == "generated" else None
        yield from self.verify(OVERVIEW_PROMPT)
        yield from self.overview_answer()

    def outline(self) -> list[Evidence]:
        """The lead sentences of the sections of the document(s) asked about, each in a passage numbered in order."""
        scopes = overview.scope(self.question, self.store, self.doc)
        evidence = [e for sc in scopes for e in overview.outline(sc, n=1 if len(scopes) > 1 else 0)]
        passages = [replace(e.passage, n=n) for n, e in enumerate(evidence, 1)]
        return [replace(e, passage=p) for e, p in zip(evidence, passages, strict=True)]

    def overview_answer(self) -> Iterator[str | Answer]:
        """The overview's rest, then its `Answer`: every section is covered, by the model's verified sentences,
        else by its quoted lead sentence."""
        draft, evidence = self.draft, self.r.evidence
        used = "generated" if draft.kept else "extractive" if self.s.mode == "extractive" else "extractive-fallback"
        told = {part[1].passage.n for part in draft.kept}
        parts = draft.kept + [(e.text, e, 1.0) for e in evidence if e.passage.n not in told]
        streamed = cite(draft.kept, self.page_of)
        shown = streamed.text if draft.kept else ""
        v = cite(parts, self.page_of)
        if not v.text.startswith(shown):  # what was streamed stays as it was
            v = streamed
        self.timings["total"] = time.perf_counter() - self.t0
        if len(v.text) > len(shown):
            yield v.text[len(shown):]
        yield Answer(self.question, v.text, False, v.citations, self.r.passages, self.timings, used, 1.0, "",
                     draft.dropped)


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

"""Questions in other languages: answered and verified in the sources' language, shown in the question's.

    language       the question's language, from its script (Cyrillic, Han, kana, Hangul); a question mostly in
                   Latin letters is English and takes the English path exactly (nothing here runs for it)
    to_english     the question translated by the local model (one short call)
    answer_in      a probe retrieval with both wordings picks the sources' language: when the best passage is in the
                   question's language, the question is answered as asked (the model writes in that language and
                   verification checks it, as always); otherwise the English question is retrieved, drafted and
                   verified, and the verified answer is translated
    translated     each verified sentence translated on its own, its [n] markers put back, and checked: every
                   number and identifier of the verified sentence, and every Latin-script word of the question that
                   it repeats, must be in the translation; a sentence that fails is shown as verified, in the
                   sources' language, with a one-line note
    refusals       a fixed translation per language, no model call

The `Answer` keeps the verified text in `original` and names its language in `translated_from`; citations quote
the source text unchanged. Extractive mode loads no model, so it translates nothing: the question is answered as
asked (it quotes the source text anyway) and only a refusal is shown in the question's language. Names that a
language writes in its own script ("Xi Jinping" -> "Си Цзиньпин", "习近平") are not checked; identifiers
(AES-128, m68k, crontab -e, addresses) and numbers are. A follow-up answered through English borrows the previous
question in English (`english_history`: one more short call when that question was not in English). Left out:
Latin-script languages other than English (they take the English path).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import QAError
from .citations import split_sentences, strip_markers

if TYPE_CHECKING:
    from ..generation import Generator

Answer = Any  # qa.answer.pipeline.Answer, which calls this module (an import back would be a circle)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # as the prompt names it
    refusal: str  # the pipeline's REFUSAL, translated
    note: str  # shown when a sentence's translation failed the check


ENGLISH = Language("en", "English", "", "")
LANGUAGES = {lang.code: lang for lang in [
    ENGLISH,
    Language("ru", "Russian", "В документах об этом не сказано: ничто в них не отвечает на этот вопрос.",
             "Перевод не прошёл проверку чисел и названий, поэтому часть ответа показана на языке источника, "
             "как она проверена."),
    Language("uk", "Ukrainian", "У документах про це не сказано: ніщо в них не відповідає на це питання.",
             "Переклад не пройшов перевірку чисел і назв, тому частину відповіді показано мовою джерела, як її "
             "перевірено."),
    Language("kk", "Kazakh", "Құжаттарда бұл туралы айтылмаған: олардың ешқайсысы бұл сұраққа жауап бермейді.",
             "Аударма сандар мен атауларды тексеруден өтпеді, сондықтан жауаптың бір бөлігі дереккөз тілінде, "
             "тексерілген күйінде көрсетілді."),
    Language("zh", "Chinese", "文档中没有提到这一点：其中没有任何内容回答这个问题。",
             "译文未通过数字和名称核对，因此部分答案按核实后的原文语言显示。"),
    Language("ja", "Japanese", "文書には書かれていません：この質問に答える記述はありません。",
             "翻訳が数字と名称の確認に通らなかったため、回答の一部を検証済みの原文の言語で表示しています。"),
    Language("ko", "Korean", "문서에는 이에 대한 내용이 없습니다: 이 질문에 답하는 부분이 없습니다.",
             "번역이 숫자와 이름 확인을 통과하지 못해 답의 일부를 검증된 원문 언어로 표시합니다."),
]}

_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_KAZAKH = re.compile(r"[әғқңөұүһӘҒҚҢӨҰҮҺ]")
_UKRAINIAN = re.compile(r"[іїєґІЇЄҐ]")
CJK_WEIGHT = 3  # one Han, kana or Hangul character carries about as much as three Latin letters


def language(text: str) -> str:
    """The language code of `text` by its script: "en" unless Cyrillic or CJK letters outweigh Latin ones.

    Cyrillic is Kazakh or Ukrainian by their own letters, else Russian; Han is Chinese unless kana make it Japanese.
    A Latin-script question ("What does 'Дебиан' mean?", or French) stays "en": the English path, unchanged."""
    latin, cyrillic = len(_LATIN.findall(text)), len(_CYRILLIC.findall(text))
    han, kana, hangul = len(_HAN.findall(text)), len(_KANA.findall(text)), len(_HANGUL.findall(text))
    cjk = CJK_WEIGHT * (han + kana + hangul)
    if max(cyrillic, cjk) <= latin:
        return "en"
    if cjk > cyrillic:
        return "ja" if kana else "ko" if hangul > han else "zh"
    return "kk" if _KAZAKH.search(text) else "uk" if _UKRAINIAN.search(text) else "ru"


def label(answer: Answer) -> str:
    """What the chat, the API and `qa ask` show beside a translated answer ("" when it is not one)."""
    if not answer.translated_from:
        return ""
    return f"Translated from {LANGUAGES.get(answer.translated_from, ENGLISH).name} by the local model"


def refusal(lang: str, english: str) -> str:
    """The refusal in the question's language (the English text when the table has none)."""
    return LANGUAGES.get(lang, ENGLISH).refusal or english


# numbers: thousands groups ("60,000", "60 000") and decimals ("6.22", "6,22") compare by their digits
_NUMBER = re.compile(r"\d+(?:[,.\s\u00a0\u202f']\d{3}(?!\d))*(?:[.,]\d+)?")
_TOKEN = re.compile(r"(?<![\w@./:-])(?:--?)?[\w@./:+#~-]*\w[\w@./:+#~/-]*")


def numbers(text: str) -> set[str]:
    """Every number of `text` as its digits."""
    return {re.sub(r"\D", "", m) for m in _NUMBER.findall(text)}


def _is_identifier(token: str) -> bool:
    """A token that a translation must copy: letters with digits (m68k, AES-128), capitals after the first letter
    (OpenSSH, LSB), an option (-e), or an address, path or file name (@packages.debian.org, /usr/local/src/)."""
    if not _LATIN.search(token):
        return False
    mixed_case = any(c.isupper() for part in token.split("-") for c in part[1:])  # not "China-Europe"
    return (any(c.isdigit() for c in token) or mixed_case or token.startswith("-")
            or bool(re.search(r"\w[@./:_]\w|^[@/~]|/$", token)))


def identifiers(text: str, question: str = "") -> set[str]:
    """The identifiers of `text`, and the Latin-script words of the (non-English) `question` that it repeats."""
    tokens = {t.rstrip(".:") for t in _TOKEN.findall(text)}
    asked = {w.lower() for w in _TOKEN.findall(question) if _LATIN.search(w) and len(w) > 1}
    return {t for t in tokens if _is_identifier(t) or (t.lower() in asked)}


def faithful(source: str, translation: str, question: str = "") -> bool:
    """Every number and identifier of `source` (and Latin word of the question it repeats) is in `translation`."""
    if not numbers(source) <= numbers(translation):
        return False
    low = translation.lower()
    return all(t.lower() in low for t in identifiers(source, question))


TO_ENGLISH = ("Translate the user's question into English. Keep names, numbers, commands and technical terms exactly "
              "as written. Reply with the English question only.")
TRANSLATE = ("Translate the user's text from {source} into {target}. Keep every number exactly as written, and keep "
             "commands, file names, addresses, versions and identifiers in their original Latin spelling. Reply with "
             "the translation only.")


def _reply(gen: Generator, system: str, text: str, budget: int) -> str:
    reply = "".join(gen.stream([{"role": "system", "content": system}, {"role": "user", "content": text}],
                               max_new_tokens=budget))
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    line = re.sub(r"^(translation|english|перевод|翻译)\s*[:：]\s*", "", line.strip(), flags=re.IGNORECASE)
    return line.strip().strip("\"'“”«»「」").strip()


def english_history(history: Sequence[tuple[str, str]] | None, gen: Generator) -> Sequence[tuple[str, str]] | None:
    """The chat's history for a question answered through English: the last question (the one a follow-up borrows,
    `pipeline.resolve_followup`) in English too, so the retrieval query is in one language. Unchanged when it is
    English already or the model cannot translate it."""
    if not history or language(history[-1][0]) == "en":
        return history
    previous, said = history[-1]
    return [*history[:-1], (to_english(previous, gen) or previous, said)]


def to_english(question: str, gen: Generator) -> str:
    """The question in English (empty when the model fails or returns nothing)."""
    try:
        return _reply(gen, TO_ENGLISH, question, 80)
    except QAError as e:
        log.warning("the model could not translate the question, answering it as asked: %s", e)
        return ""


_END = re.compile(r"[.!?…。！？\"'”’」]+$")


def _translatable(body: str) -> bool:
    """The sentence has a word to translate (not only numbers, identifiers and punctuation)."""
    return any(not _is_identifier(t) and not t.isdigit() for t in _TOKEN.findall(body) if _LATIN.search(t))


def translated(text: str, source: str, target: str, gen: Generator, question: str = "") -> Iterator[tuple[str, bool]]:
    """Each sentence of the verified `text` in `target` with its [n] markers, and whether it passed the check
    (one that failed comes back as verified, in `source`)."""
    system = TRANSLATE.format(source=LANGUAGES.get(source, ENGLISH).name, target=LANGUAGES[target].name)
    for sentence in split_sentences(text):
        body, markers = strip_markers(sentence), "".join(re.findall(r"\s*\[\d+(?:\s*,\s*\d+)*\]", sentence))
        if not _translatable(body):
            yield sentence, True
            continue
        try:
            out = _reply(gen, system, body, min(400, 40 + 4 * len(body.split())))
        except QAError as e:
            log.warning("the model could not translate the answer: %s", e)
            out = ""
        if not out or not faithful(body, out, question):
            yield sentence, False
            continue
        end = _END.search(out)
        cut = end.start() if end else len(out)
        yield f"{out[:cut]}{markers}{out[cut:]}", True


def answer_in(question: str, lang: str, run: Callable[[str, bool], Iterator[str | Answer]], gen: Generator | None,
              best_passage: Callable[[str], str], english_refusal: str) -> Iterator[str | Answer]:
    """`ask_stream` for a question in `lang` (not English): pieces of the text shown, then the `Answer`.

    `run(q, through_english)` is the pipeline answering `q` (with the chat's history in English when
    `through_english`); `best_passage(query)` the text of the best passage retrieval finds; `gen` the local model
    (None in extractive mode or without a model: the question is answered as asked)."""
    t0 = time.perf_counter()
    english = to_english(question, gen) if gen is not None else ""
    asked_t = time.perf_counter() - t0
    if not english or language(best_passage(f"{english} {question}")) == lang:
        yield from _as_asked(run(question, False), lang, english_refusal, t0, asked_t if gen is not None else None)
        return
    answer = _last(run(english, True))
    timings = {**answer.timings, "translate_question": asked_t}
    if answer.abstained:
        text = refusal(lang, answer.text)
        yield text
        yield replace(answer, question=question, text=text, language=lang, original=answer.text,
                      translated_from="en", timings={**timings, "total": time.perf_counter() - t0})
        return
    source = language(answer.text)
    if source == lang:  # the answer quotes a source in the question's language
        yield answer.text
        yield replace(answer, question=question, language=lang, timings={**timings, "total": time.perf_counter() - t0})
        return
    t1, shown, failed = time.perf_counter(), [], False
    for sentence, ok in translated(answer.text, source, lang, gen, question):
        failed |= not ok
        yield (" " if shown else "") + sentence
        shown.append(sentence)
    text = " ".join(shown)
    if failed:
        note = f"\n\n({LANGUAGES[lang].note})"
        yield note
        text += note
    timings.update(translate_answer=time.perf_counter() - t1, total=time.perf_counter() - t0)
    same = text == answer.text  # nothing to translate ("atrm [1].")
    yield replace(answer, question=question, text=text, language=lang, original="" if same else answer.text,
                  translated_from="" if same else source, timings=timings)


def _last(items: Iterator[str | Answer]) -> Answer:
    answer = None
    for answer in items:  # noqa: B007 (the Answer comes last)
        pass
    return answer  # type: ignore[return-value]


def _as_asked(items: Iterator[str | Answer], lang: str, english_refusal: str, t0: float,
              asked_t: float | None) -> Iterator[str | Answer]:
    """The pipeline's own stream, with a refusal shown in the question's language (the only piece held back)."""
    held = None
    for item in items:
        if isinstance(item, str):
            if item == english_refusal:
                held = item
            else:
                yield item
            continue
        timings = item.timings if asked_t is None else {**item.timings, "translate_question": asked_t,
                                                         "total": time.perf_counter() - t0}
        if item.abstained:
            text = refusal(lang, item.text)
            yield text
            yield replace(item, text=text, language=lang, original=item.text, translated_from="en", timings=timings)
        else:
            if held is not None:
                yield held
            yield replace(item, language=lang, timings=timings)

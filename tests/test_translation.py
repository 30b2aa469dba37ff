"""Questions in other languages: detected by script, answered and verified in the sources' language, shown in the
question's language as a checked translation; refusals from a fixed table; English untouched."""

import re

import pytest

from qa import ask, ask_stream
from qa.answer.pipeline import REFUSAL
from qa.answer.prompting import SPAN_SYSTEM
from qa.answer.translation import TO_ENGLISH, faithful, identifiers, language, numbers
from qa.ingest.indexing import update_index
from tests.conftest import TINY, FakeGenerator, write_corpus

TREATY_RU = "Какой договор подписали лидеры?"
TREATY_EN = "What treaty did the leaders sign?"
DRAFT = "The leaders signed a treaty of permanent good-neighborliness."


class Translator(FakeGenerator):
    """A fake model that also translates: the question into English, and any text into Russian from a table."""

    def __init__(self, reply: str, english: str | dict[str, str], russian: dict[str, str]) -> None:
        super().__init__(reply)
        self.english, self.russian = english, russian

    def stream(self, messages: list[dict], *, max_new_tokens: int = 80, probe=None):
        system = messages[0]["content"]
        if system == TO_ENGLISH:
            self.seen.append(messages)
            asked = messages[-1]["content"]
            yield self.english if isinstance(self.english, str) else self.english.get(asked, "")
        elif system.startswith("Translate the user's text"):
            self.seen.append(messages)
            yield self.russian.get(messages[-1]["content"], "")
        elif system != SPAN_SYSTEM:
            yield from super().stream(messages, max_new_tokens=max_new_tokens)
        else:
            yield "NOT FOUND"


@pytest.mark.parametrize(("text", "lang"), [
    ("Какие годы объявлены годами высококачественного развития?", "ru"),
    ("как отредактировать свой crontab?", "ru"),
    ("哪两年被定为中国—中亚合作高质量发展年？", "zh"),
    ("mosh 服务器通过 SSH 把什么密钥发回给客户端？", "zh"),  # Latin names inside a Chinese question
    ("Unifix Linux 2.0 通过了什么认证？", "zh"),
    ("Що таке Debian? Їх багато.", "uk"), ("Қазақстан қай жылы қол қойды?", "kk"),
    ("これは何ですか", "ja"), ("이 조약은 언제 서명되었습니까?", "ko"),
    ("Which years were designated as the Years of High-Quality Development?", "en"),
    ("What does 'Дебиан' mean?", "en"),  # one foreign word in an English question
    ("Quelle est la capitale du Kazakhstan ?", "en"),  # Latin script: the English path
    ("2025?", "en"),
])
def test_language_is_read_from_the_script(text, lang):
    assert language(text) == lang


def test_every_english_question_of_the_benchmarks_stays_english():
    import json
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bench"
    for path in sorted(bench.glob("questions-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            assert language(item.get("q_en", item["q"]) if "multilingual" in path.name else item["q"]) == "en", item


def test_numbers_compare_by_digits_and_identifiers_must_be_copied():
    assert numbers("60,000 and 61 000; 6.22 or 6,22; 2025 2026; 40%") == {"60000", "61000", "622", "2025", "2026",
                                                                        "40"}
    found = identifiers("The mosh server sends an AES-128 key over SSH; use crontab -e, m68k, OpenSSH, "
                        "listmaster@lists.debian.org, https://lists.debian.org/ or /usr/local/src/. China-Europe "
                        "trains and Xi Jinping are names a translation writes in its own script.", "mosh 服务器")
    assert found == {"mosh", "AES-128", "SSH", "-e", "m68k", "OpenSSH", "listmaster@lists.debian.org",
                     "https://lists.debian.org/", "/usr/local/src/"}
    assert faithful("2025 and 2026 were designated.", "2025 и 2026 годы были объявлены.")
    assert not faithful("2025 and 2026 were designated.", "2025 год был объявлен.")  # a year lost
    assert not faithful("It costs 6.22 billion.", "Это стоит 6,21 миллиарда.")  # a digit changed
    assert faithful("It costs 6.22 billion.", "Это стоит 6,22 миллиарда.")  # a decimal comma is the same number
    assert not faithful("The server sends an AES-128 key.", "Сервер отправляет ключ AES.")
    assert not faithful("Run mosh to connect.", "Запустите мош.", question="как работает mosh?")
    assert faithful("Xi Jinping stressed it.", "Си Цзиньпин подчеркнул это.")  # names in the target script pass


@pytest.fixture
def indexed(settings, fake_embedder):
    def build(files=TINY):
        update_index([write_corpus(settings.corpus_dir, files)], settings=settings, embedder=fake_embedder)
        return settings
    return build


def test_a_russian_question_is_answered_in_english_sources_and_shown_translated(indexed, fake_embedder):
    s = indexed()
    gen = Translator(DRAFT, TREATY_EN, {DRAFT: "Лидеры подписали договор о постоянном добрососедстве."})
    items = list(ask_stream(TREATY_RU, settings=s, embedder=fake_embedder, generator=gen))
    a = items[-1]
    assert "".join(items[:-1]) == a.text  # the stream shows exactly the text
    assert a.text == "Лидеры подписали договор о постоянном добрососедстве [1]."
    assert a.original == "The leaders signed a treaty of permanent good-neighborliness [1]."
    assert (a.question, a.language, a.translated_from, a.mode, a.abstained) == (TREATY_RU, "ru", "en", "generated",
                                                                                 False)
    assert a.citations[0].quote == "The leaders signed a treaty of permanent good-neighborliness."  # source text
    drafted = [m for m in gen.seen if m[0]["content"] not in (TO_ENGLISH,) and "Translate" not in m[0]["content"]]
    assert drafted and TREATY_EN in drafted[0][-1]["content"]  # the model drafted from the English question
    assert {"translate_question", "translate_answer"} <= set(a.timings)


def test_a_translation_that_loses_a_number_is_not_shown(indexed, fake_embedder):
    s = indexed()
    draft = "The second summit was held in Astana in June 2025."
    gen = Translator(draft, "Where was the second summit held?", {draft: "Второй саммит прошёл в Астане в июне."})
    a = ask("Где прошёл второй саммит?", settings=s, embedder=fake_embedder, generator=gen)
    assert not a.abstained and a.translated_from == "en"
    assert a.text.startswith("The second summit was held in Astana in June 2025 [1].")  # the verified sentence
    assert "Перевод не прошёл проверку" in a.text and "2025" in a.text


def test_a_russian_follow_up_borrows_the_previous_question_in_english(indexed, fake_embedder):
    """A follow-up answered through English retrieves with the previous question in English too, not a query half
    in Russian (which the English embedder and keyword search cannot read)."""
    s = indexed()
    where_ru, where_en = "Где прошёл второй саммит?", "Where was the second summit held?"
    said = "Второй саммит прошёл в Астане [1]."
    draft = "The second summit was held in June 2025."
    gen = Translator(draft, {"А когда?": "And when?", where_ru: where_en},
                     {draft: "Второй саммит прошёл в июне 2025 года."})
    a = ask("А когда?", history=[(where_ru, said)], settings=s, embedder=fake_embedder, generator=gen)
    assert not a.abstained and a.text == "Второй саммит прошёл в июне 2025 года [1].", a.text
    asked = [m[-1]["content"] for m in gen.seen if m[0]["content"] == TO_ENGLISH]
    assert asked == ["А когда?", where_ru]  # the question, then the one it follows, each translated once
    from qa.answer.translation import english_history
    assert english_history([(where_ru, said)], gen) == [(where_en, said)]
    assert english_history([(where_en, said)], gen) == [(where_en, said)]  # English stays, no call
    assert english_history([("Что?", said)], Translator(draft, {}, {})) == [("Что?", said)]  # untranslated: kept
    assert english_history(None, gen) is None


def test_sources_in_the_question_language_are_answered_as_asked(indexed, fake_embedder):
    s = indexed({**TINY, "debian.md": "# Debian\n\nПроект Debian основал Ян Мёрдок в 1993 году. Название "
                                      "Debian составлено из имён Дебры и Иэна."})
    draft = "Проект Debian основал Ян Мёрдок в 1993 году."
    gen = Translator(draft, "Who founded Debian?", {})
    a = ask("Кто основал проект Debian?", settings=s, embedder=fake_embedder, generator=gen)
    assert not a.abstained and a.text == "Проект Debian основал Ян Мёрдок в 1993 году [1]."
    assert (a.language, a.translated_from, a.original) == ("ru", "", "")
    assert a.citations[0].doc_path.endswith("debian.md")
    assert not [m for m in gen.seen if "Translate the user's text" in m[0]["content"]]  # nothing to translate


def test_a_refusal_comes_in_the_question_language_without_a_model(indexed, fake_embedder):
    s = indexed().replace(mode="extractive")
    items = list(ask_stream("Кто выиграл чемпионат мира по футболу в 2022 году?", settings=s,
                            embedder=fake_embedder))
    a = items[-1]
    assert a.abstained and a.text.startswith("В документах об этом не сказано")
    assert "".join(items[:-1]) == a.text and a.original == REFUSAL and a.language == "ru"


def test_english_questions_never_meet_the_translator(indexed, fake_embedder):
    s = indexed()
    gen = Translator(DRAFT, "unused", {})
    a = ask("What treaty did the leaders sign?", settings=s, embedder=fake_embedder, generator=gen)
    assert a.text == "The leaders signed a treaty of permanent good-neighborliness [1]."
    assert (a.language, a.translated_from, a.original) == ("en", "", "")
    assert not [m for m in gen.seen if re.search("Translate", m[0]["content"])]


@pytest.mark.slow
def test_a_russian_question_about_the_article_with_the_real_model(real_settings):
    from qa.evaluation import citation_valid
    from qa.store import open_reader

    items = list(ask_stream("Какие годы объявлены годами высококачественного развития?", settings=real_settings))
    a = items[-1]
    assert "".join(items[:-1]) == a.text and not a.abstained
    assert (a.language, a.translated_from) == ("ru", "en")
    assert re.search(r"[а-яё]", a.text.lower()) and "2025" in a.text and "2026" in a.text, a.text
    assert "2025" in a.original and "2026" in a.original and not re.search(r"[а-яё]", a.original.lower())
    assert any("2025 and 2026" in c.quote for c in a.citations)  # the citation quotes the English source
    with open_reader(real_settings) as store:
        assert a.citations and all(citation_valid(a, store))



def test_sentences_are_translated_one_by_one_with_their_markers_and_identifiers_alone_are_not():
    from qa.answer.translation import translated

    gen = Translator("", "", {"The treaty was signed in 2025.": "Договор подписан в 2025 году.",
                              "It lasts 10 years.": "Он действует семь лет."})
    out = list(translated("The treaty was signed in 2025 [1]. AES-128 [2]. It lasts 10 years [1].", "en", "ru", gen))
    assert out == [("Договор подписан в 2025 году [1].", True), ("AES-128 [2].", True),  # nothing to translate
                   ("It lasts 10 years [1].", False)]  # "10" lost: the verified sentence stays
    assert len(gen.seen) == 2

"""What the model reads (`qa.answer.context.read`): windows around the chosen sentences within a token budget."""

import numpy as np
import pytest

from qa.answer.answerability import Choice
from qa.answer.citations import Evidence, Retrieved, evidence_sentences
from qa.answer.context import read
from qa.answer.retrieval import Passage
from qa.config import Settings
from qa.generation import token_counter

TEXT = ("Only three tools are needed. The first is a compiler. The second is a linker. "
        "The third is a debugger. Unrelated words follow here.")


def retrieved(text: str = TEXT) -> Retrieved:
    passage = Passage(1, 0, "guide.md", "Guide", 0, len(text), text, 1.0, 1.0)
    evidence = evidence_sentences([passage])
    scores = np.linspace(1.0, 0.5, len(evidence))
    return Retrieved("q", [passage], evidence, np.zeros((len(evidence), 4), np.float32), scores)


def texts(ev: list[Evidence], members: list[list[int]]) -> list[list[str]]:
    return [[ev[i].text for i in w] for w in members]


def test_sentences_mode_reads_the_chosen_sentences_alone():
    r = retrieved()
    reading = read(r, Choice(0, 1.0, "", [0, 3], False), Settings(reading="sentences"))
    assert texts(r.evidence, reading.members) == [["Only three tools are needed."], ["The third is a debugger."]]


def test_following_reads_the_items_a_sentence_announces_and_not_what_came_before():
    r = retrieved()
    s = Settings(reading="following", context_neighbours=2)
    reading = read(r, Choice(2, 1.0, "", [2], False), s)
    assert texts(r.evidence, reading.members) == [["The second is a linker.", "The third is a debugger.",
                                                   "Unrelated words follow here."]]
    both = read(r, Choice(2, 1.0, "", [2], False), s.replace(reading="windows"))
    assert "The first is a compiler." in both.texts[0] and "Unrelated words follow here." in both.texts[0]
    # a neighbour is as much on topic as its window's chosen sentence
    assert reading.scores[4] == pytest.approx(r.scores[2])


def test_the_budget_is_counted_in_the_models_tokens():
    r = retrieved()
    choice = Choice(0, 1.0, "", [0, 2], False)
    words = lambda text: len(text.split())  # noqa: E731 (a tokenizer that makes one token of each word)
    roomy = read(r, choice, Settings(reading="following", context_neighbours=1, context_tokens=25), words)
    assert texts(r.evidence, roomy.members) == [["Only three tools are needed.", "The first is a compiler."],
                                                ["The second is a linker.", "The third is a debugger."]]
    # room for the first window (the announcing sentence and its first item: 11 words with the heading) only
    tight = read(r, choice, Settings(reading="following", context_neighbours=1, context_tokens=12), words)
    assert texts(r.evidence, tight.members) == [["Only three tools are needed.", "The first is a compiler."]]


def test_token_counter_uses_the_models_tokenizer_else_an_estimate():
    class Tokenizer:
        def encode(self, text, add_special_tokens=False):
            return text.split()

    class Gen:
        tokenizer = Tokenizer()

    assert token_counter(Gen())("three small words") == 3
    assert token_counter(None)("x" * 9) == 3  # about four characters a token, rounded up

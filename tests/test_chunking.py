import random

import pytest

from qa.ingest.chunking import chunk_text, sentence_spans


def test_sentences_keep_offsets_and_abbreviations():
    text = "Dr. Smith went to Washington. He met J. Doe at 5 p.m. today. \"Why?\" she asked. Ok."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Dr. Smith went to Washington.", "He met J. Doe at 5 p.m. today.", "\"Why?\" she asked.", "Ok."]


def test_headings_and_paragraphs_are_boundaries():
    text = "# Title\nFirst para line\n\nSecond para. Next one"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["# Title\nFirst para line", "Second para.", "Next one"]


@pytest.mark.parametrize("seed", range(20))
def test_chunk_offsets_are_exact_for_random_text(seed):
    rnd = random.Random(seed)
    words = ["alpha", "Beta.", "gamma!", "é", "日本語。", "x" * rnd.randint(1, 900), "\n\n", "Dr.", "  ", "end?"]
    text = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 400)))
    chunks = chunk_text(text, size=300, overlap=1)
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert c.text == c.text.strip() and c.text
        assert len(c.text) <= 300
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())  # no text is lost


def test_overlap_repeats_one_sentence():
    text = " ".join(f"Sentence number {i} is here." for i in range(30))
    chunks = chunk_text(text, size=120, overlap=1)
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end  # they overlap
        assert a.text.split(". ")[-1] in b.text


def test_single_line_without_punctuation_is_split_hard():
    text = "word " * 5000
    chunks = chunk_text(text, size=600)
    assert len(chunks) > 30 and all(len(c.text) <= 600 for c in chunks)
    assert all(text[c.start:c.end] == c.text for c in chunks)


def test_empty_text_gives_no_chunks():
    assert chunk_text("   \n\n ") == []


def test_each_table_row_is_a_sentence_of_its_own():
    text = "Table 8.2 lists the types.\n\nName: smallint | Size: 2 bytes\nName: integer | Size: 4 bytes\nAfter."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Table 8.2 lists the types.", "Name: smallint | Size: 2 bytes", "Name: integer | Size: 4 bytes", "After."]

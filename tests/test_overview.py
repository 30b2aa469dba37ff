"""Overview questions ("what is this about?", "summarize it"): answered from the document's sections, verified
and cited like any answer, never refused while the document has text."""

import pytest

from qa import ask, ask_stream
from qa.answer.overview import Scope, coverage, is_overview, outline, sections
from tests.conftest import TINY, FakeGenerator

MANUAL = ("# Pump manual\n\nThis manual covers the P-200 pump.\n\n## Installing\n\nBolt the pump to a level floor. "
          "Connect the inlet first.\n\n## Running\n\nThe pump runs at 50 Hz. It restarts after 5 minutes.\n\n"
          "## Cleaning\n\nRinse the filter every week with warm water.\n")


def test_sections_are_the_top_level_headings_and_leads_are_their_first_sentences():
    parts = sections(MANUAL)
    assert [h for h, _, _ in parts] == ["Installing", "Running", "Cleaning"]
    leads = outline(Scope("sha", "m.md", "Pump manual", MANUAL, ""))
    assert [e.text for e in leads] == ["Bolt the pump to a level floor.", "The pump runs at 50 Hz.",
                                       "Rinse the filter every week with warm water."]
    assert all(MANUAL[e.start:e.end] == e.text for e in leads)  # exact offsets into the document
    assert coverage([leads[0].start, leads[2].start], MANUAL) == pytest.approx(2 / 3)


def test_a_document_without_headings_is_cut_at_paragraphs_and_a_named_section_narrows_it():
    text = "\n\n".join(f"Paragraph {i} says something about topic number {i}." for i in range(20))
    parts = sections(text)
    assert len(parts) == 8 and all(text[s:s + 9] == "Paragraph" for _, s, _ in parts)
    running = outline(Scope("sha", "m.md", "Pump manual", MANUAL, "Running"))
    assert [e.text for e in running] == ["The pump runs at 50 Hz."]  # only the section asked about


def test_overview_requests_in_several_wordings_and_questions_that_are_not(fake_embedder):
    def check(q: str) -> bool:
        return is_overview(q, fake_embedder.embed([q])[0], fake_embedder, 0.65)

    assert check("What is this document about?") and check("Summarize the document.")
    assert not check("What are the main areas of cooperation between China and Central Asia?")  # a list question
    assert not check("How long does the pump take to restart?")


def test_an_overview_of_the_named_document_is_written_verified_and_cited(built, fake_embedder):
    gen = FakeGenerator("The Amu Darya river flows into the Aral Sea. Pigs can fly over the Tian Shan.")
    a = ask("What is this document about?", settings=built, embedder=fake_embedder, generator=gen, doc="rivers.md")
    assert not a.abstained and a.mode == "generated"
    # the model's verified sentence covers the first section; the second is covered by its quoted lead
    assert a.text == ("The Amu Darya river flows into the Aral Sea [1]. "
                      "The Syr Darya rises in the Tian Shan mountains [2].")
    assert a.dropped == ["Pigs can fly over the Tian Shan."]  # verified like every answer
    pieces = list(ask_stream("What is this document about?", settings=built, embedder=fake_embedder, generator=gen,
                             doc="rivers.md"))
    assert "".join(pieces[:-1]) == pieces[-1].text == a.text  # what was streamed is never taken back
    assert {c.doc_path.rsplit("/", 1)[-1] for c in a.citations} == {"rivers.md"}
    c = a.citations[0]
    assert TINY["rivers.md"][c.start:c.end] == c.quote and c.passage in {p.n for p in a.passages}


def test_with_several_documents_and_none_named_each_gets_its_lead_sentence(built, fake_embedder):
    a = ask("Summarize the document.", settings=built, embedder=fake_embedder, mode="extractive")
    assert not a.abstained and a.mode == "extractive"
    assert {c.doc_path.rsplit("/", 1)[-1] for c in a.citations} == set(TINY)


@pytest.mark.slow
def test_the_article_is_summarised_by_the_model_with_citations(real_settings):
    a = ask("Summarize the article.", settings=real_settings)
    assert not a.abstained and len(a.citations) >= 3 and a.mode == "generated"
    text = (real_settings.corpus_dir / "china-central-asia-cooperation.md").read_text()
    assert all(text[c.start:c.end] == c.quote for c in a.citations)
    assert coverage([c.start for c in a.citations], text) >= 0.5


def test_a_named_document_limits_every_answer_to_its_passages(built, fake_embedder):
    a = ask("When was the treaty signed?", settings=built, embedder=fake_embedder, mode="extractive", doc="summit.md")
    assert not a.abstained and "17 June 2025" in a.text
    assert {p.doc_path.rsplit("/", 1)[-1] for p in a.passages} == {"summit.md"}
    other = ask("When was the treaty signed?", settings=built, embedder=fake_embedder, mode="extractive",
                doc="rivers.md")  # the answer is in another document: only rivers.md is read
    assert {p.doc_path.rsplit("/", 1)[-1] for p in other.passages} == {"rivers.md"}
    assert "17 June" not in other.text


def test_a_document_that_is_not_indexed_is_a_clear_error(built, fake_embedder):
    from qa.errors import InputError

    with pytest.raises(InputError, match="no indexed document is named 'atlas.pdf'"):
        ask("When was the treaty signed?", settings=built, embedder=fake_embedder, mode="extractive", doc="atlas.pdf")


def test_an_overview_asked_later_in_a_chat_is_still_an_overview(built, fake_embedder):
    history = [("When was the treaty signed?", "The treaty was signed on 17 June 2025 [1].")]
    a = ask("Summarize the document.", settings=built, embedder=fake_embedder, mode="extractive", history=history,
            doc="rivers.md")
    assert not a.abstained and {c.doc_path.rsplit("/", 1)[-1] for c in a.citations} == {"rivers.md"}
    assert "Amu Darya" in a.text

"""The Gradio web chat: streamed answers, inspectable citations, documents panel, settings.

A thin layer over `qa.answer.pipeline` and `qa.service`; it holds no answer logic and touches no file or
store itself. `server` mounts it at `/` beside the HTTP API. Safe by default: 127.0.0.1, no share
link, analytics off, upload size limit, bounded queue.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from .. import service  # noqa: E402
from ..answer import translation  # noqa: E402
from ..answer.pipeline import Answer, ask, ask_stream  # noqa: E402
from ..config import MAX_QUESTION_CHARS, Settings  # noqa: E402
from ..errors import QAError  # noqa: E402
from ..generation import installed_presets  # noqa: E402
from ..ingest.documents import SUFFIXES  # noqa: E402
from .gate import Busy, Gate  # noqa: E402

BUSY = "The server is busy answering other questions; try again in a few seconds."
ALL_DOCUMENTS = "All documents"
EXAMPLES = ["Which years were designated as the Years of High-Quality Development?",
            "What treaty did the six nations sign?"]
CSS = """
.sources details {border:1px solid var(--border-color-primary); border-radius:8px; padding:6px 10px; margin:6px 0}
.sources summary {cursor:pointer; font-weight:600}
.sources mark {background:#ffe58a; color:#000; padding:0 2px}
.sources .meta {color:var(--body-text-color-subdued); font-size:0.85em}
.sources .passage {white-space:pre-wrap; font-size:0.92em; line-height:1.45}
.refused {color:#a15c00; font-weight:600}
.sources details.flash {outline:3px solid #f5b800}
.docs {overflow:auto; max-height:420px}
.docs table {border-collapse:collapse; width:100%; font-size:0.9em}
.docs th, .docs td {text-align:left; padding:4px 8px; border-bottom:1px solid var(--border-color-primary)}
.docs td.num {text-align:right; font-variant-numeric:tabular-nums}
.docs td.path {word-break:break-all; color:var(--body-text-color-subdued)}
"""
# A click on [n] in an answer opens that citation in the sources panel (Gradio renders links as <a>).
HEAD = """<script>
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[href*="#cite-"]');
  if (!a) return;
  e.preventDefault(); e.stopPropagation();
  const el = document.getElementById('cite-' + a.getAttribute('href').split('#cite-')[1]);
  if (el) { el.open = true; el.scrollIntoView({block: 'center'}); el.classList.add('flash');
            setTimeout(() => el.classList.remove('flash'), 1500); }
}, true);
</script>"""


def _name(path: str) -> str:
    return Path(path).name


def sources_html(answer: Answer | None) -> str:
    """Every citation with its passage and the quoted span highlighted; closest passages on refusal."""
    if answer is None:
        return "<div class='sources'><p class='meta'>Sources of the answer appear here.</p></div>"
    parts = ["<div class='sources'>"]
    if answer.abstained:
        parts.append("<p class='refused'>Not answered: the documents don't say. Closest passages:</p>")
        for p in answer.passages[:3]:
            parts.append(f"<details class='closest'><summary>{html.escape(_name(p.doc_path))} "
                         f"<span class='meta'>(similarity {p.dense:.2f})</span></summary>"
                         f"<div class='passage'>{html.escape(p.text)}</div></details>")
    by_n = {p.n: p for p in answer.passages}
    for c in answer.citations:
        p = by_n[c.passage]
        a, b = c.start - p.start, c.end - p.start
        body = (html.escape(p.text[:a]) + f"<mark>{html.escape(p.text[a:b])}</mark>" + html.escape(p.text[b:])
                if 0 <= a <= b <= len(p.text) and p.text[a:b] == c.quote else f"<mark>{html.escape(c.quote)}</mark>")
        page = f", {c.where}" if c.page else ""
        short = c.quote if len(c.quote) <= 90 else c.quote[:87] + "…"
        parts.append(f"<details class='citation' id='cite-{c.n}'><summary>[{c.n}] "
                     f"{html.escape(c.title or _name(c.doc_path))} — “{html.escape(short)}”</summary>"
                     f"<div class='meta'>{html.escape(_name(c.doc_path))}{page}, characters {c.start}–{c.end}, "
                     f"support {c.score:.2f}</div><div class='passage'>{body}</div></details>")
    if answer.dropped:
        items = "".join(f"<li>{html.escape(d)}</li>" for d in answer.dropped)
        parts.append(f"<details class='dropped'><summary>Removed by verification: {len(answer.dropped)} "
                     f"unsupported sentence(s) of the model's draft</summary><ul>{items}</ul></details>")
    note = translation.label(answer)
    translated = f", {note[:1].lower()}{note[1:]}" if note else ""
    parts.append(f"<p class='meta'>mode: {answer.mode}, confidence {answer.confidence:.2f}, "
                 f"{answer.timings.get('total', 0):.1f} s{translated}</p></div>")
    return "".join(parts)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")


def escape_markdown(text: str) -> str:
    """Document text shown as text: a `# heading`, `**bold**` or `[link](x)` in a quote is not rendered."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def linked_text(text: str) -> str:
    """Answer text, escaped, with each [n] linking to its source in the panel."""
    parts = re.split(r"(\[\d+\])", text)
    return "".join(f"[[{p[1:-1]}]](#cite-{p[1:-1]})" if re.fullmatch(r"\[\d+\]", p) else escape_markdown(p)
                   for p in parts)


def _page_mark(c) -> str:
    return escape_markdown(f", p. {c.page}{' (OCR)' if c.ocr else ''}") if c.page else ""


def chat_markdown(answer: Answer) -> str:
    """The answer for the chat: [n] link to the sources panel; cited quotes (or closest passage) below."""
    text = linked_text(answer.text)
    if answer.translated_from and not answer.abstained:  # the translation, then what was verified
        text += f"\n\n_{translation.label(answer)}. The verified answer:_ {linked_text(answer.original)}"
    if answer.abstained:
        if answer.passages:
            p = answer.passages[0]
            text += f"\n\n> Closest passage ({escape_markdown(_name(p.doc_path))}): {escape_markdown(p.text[:200])}…"
        return text
    quotes = [f"> **[{c.n}]** {escape_markdown(_name(c.doc_path))}{_page_mark(c)}: "
              f"“{escape_markdown(c.quote)}”" for c in answer.citations]
    return text + "\n\n" + "\n>\n".join(quotes)


def documents_table(settings: Settings) -> list[list]:
    try:
        docs = service.list_documents(settings)
    except QAError:
        return []
    return [[_name(d["path"]), d["title"][:60], d["size"], d["chunks"],
             time.strftime("%Y-%m-%d %H:%M", time.localtime(d["indexed_at"])), d["path"]] for d in docs]


# the documents table's columns (the order of `documents_table`'s rows) and each one's cell attributes
DOC_COLUMNS = (("name", ""), ("title", ""), ("bytes", " class='num'"), ("chunks", " class='num'"), ("indexed", ""),
               ("path", " class='path'"))


def documents_html(rows: list[list]) -> str:
    """The documents table as plain HTML (rows of `documents_table`). Not Gradio's Dataframe: in 6.17 its virtual
    window kept the old rows when the row count grew (gradio-app/gradio#13744, fixed in releases that need a newer
    huggingface-hub than transformers 4.57 allows), so a new upload could stay missing even after Refresh."""
    if not rows:
        return "<div class='docs'><p class='meta'>No documents indexed yet.</p></div>"
    head = "".join(f"<th>{name}</th>" for name, _ in DOC_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td{attrs}>{html.escape(str(v))}</td>"
                                    for (_, attrs), v in zip(DOC_COLUMNS, row, strict=True)) + "</tr>" for row in rows)
    return f"<div class='docs'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def index_line(settings: Settings) -> str:
    """The live index version, read from disk at every page load, so a `qa index` run from the shell shows."""
    st = service.index_status(settings)
    if st["version"] is None:
        return f"**No index yet.** {st.get('error', 'Upload documents below or run `qa index`.')}"
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(st["built_at"]))
    return (f"Index **{st['version']}**: {st['documents']} documents, {st['chunks']} chunks "
            f"({st['index_type']}), built {built}")


def history_pairs(messages: list[dict]) -> list[tuple[str, str]]:
    """The chat's messages as (question, answer) turns."""
    pairs, question = [], None
    for m in messages:
        content = m["content"] if isinstance(m["content"], str) else str(m["content"])
        if m["role"] == "user":
            question = content
        elif question is not None:
            pairs.append((question, content))
            question = None
    return pairs


class ChatApp:
    """The handlers of the page (each a bound method Gradio calls) and its layout."""

    def __init__(self, settings: Settings, gate: Gate | None = None) -> None:
        self.settings = settings
        self.gate = gate or Gate(settings.concurrency, settings.queue_size)  # `qa serve` passes the API's
        self.presets = installed_presets() or [settings.model]

    def respond(self, question: str, messages: list[dict], mode: str, k: int, model: str, doc: str | None = None):
        question = (question or "").strip()
        if not question:
            raise gr.Error("Type a question first.")
        history = history_pairs(messages or [])
        messages = [*(messages or []), {"role": "user", "content": question},
                    {"role": "assistant", "content": "_Searching the documents…_"}]
        yield "", messages, gr.update()
        s = self.settings.replace(mode="extractive" if mode.startswith("Extract") else "generated", k=int(k),
                                  model=model)
        if self.gate.running >= self.gate.slots:
            messages[-1] = {"role": "assistant", "content": "_Waiting for a free slot: other questions are being "
                                                            "answered…_"}
            yield "", messages, gr.update()
        with self.errors(), self.gate.hold():
            messages[-1] = {"role": "assistant", "content": "_Thinking… (each sentence appears once it is verified)_"}
            yield "", messages, gr.update()
            yield from self._stream(question, s, history, doc, messages)

    @staticmethod
    @contextmanager
    def errors() -> Iterator[None]:
        """A full answering line (`Busy`) or a library error as the chat's one-line error."""
        try:
            yield
        except Busy as e:
            raise gr.Error(BUSY) from e
        except QAError as e:
            raise gr.Error(str(e)) from e

    def _stream(self, question: str, s: Settings, history: list, doc: str | None, messages: list[dict]):
        """The answer's verified sentences as they come, then the whole answer with its sources."""
        verified = ""
        for item in ask_stream(question, settings=s, history=history, doc=doc or ""):
            if isinstance(item, Answer):
                messages[-1] = {"role": "assistant", "content": chat_markdown(item)}
                yield "", messages, sources_html(item)
            else:  # only verified sentences reach the page; they never change afterwards
                verified += item
                messages[-1] = {"role": "assistant", "content": f"{linked_text(verified)} _… thinking_"}
                yield "", messages, gr.update()

    def api_ask(self, question: str, mode: str = "generated", k: int = 5) -> dict:
        """Ask a question; returns the Answer as a dict (text, abstained, citations, passages, timings)."""
        with self.errors():
            s = self.settings.replace(mode=mode, k=int(k))  # Settings checks the mode and k
            with self.gate.hold():
                return ask(question, settings=s).to_dict()

    def doc_choices(self, table: list[list] | None = None) -> list[tuple[str, str]]:
        """(name, path) of each indexed document, from `table` when the caller has just read it."""
        return [(row[0], row[5]) for row in (documents_table(self.settings) if table is None else table)]

    def refresh(self, picked: str | None = None):
        """Index line, documents table, the remove list and the "Ask about" list (keeping its choice if it stays)."""
        table = documents_table(self.settings)
        choices = self.doc_choices(table)
        kept = picked if picked in {path for _, path in choices} else ""
        return (index_line(self.settings), documents_html(table), gr.update(choices=choices, value=None),
                gr.update(choices=[(ALL_DOCUMENTS, ""), *choices], value=kept))

    def upload(self, files: list[str] | None, picked: str | None = None,
               progress=gr.Progress()):  # noqa: B008 (Gradio's way to get a progress bar)
        if not files:
            raise gr.Error("Choose one or more files first.")
        progress(0, desc="Indexing…")
        try:
            result = service.upload_documents(
                [(Path(f).name, Path(f)) for f in files], settings=self.settings,
                progress=lambda d, t, c, r, note="": progress(d / max(t, 1), desc=note or f"{c} chunks, {r:.0f}/s"))
        except QAError as e:
            raise gr.Error(str(e)) from e
        return (result.message(), *self.refresh(picked))

    def remove(self, path: str | None, picked: str | None = None):
        if not path:
            raise gr.Error("Choose a document to remove.")
        try:
            service.remove_document(path, settings=self.settings)
        except QAError as e:
            raise gr.Error(str(e)) from e
        return (f"Removed {_name(path)}.", *self.refresh(picked))

    def chat_tab(self) -> dict:
        """The chat, the question box, the "Ask about" list, the sources panel and the answer settings."""
        s, c = self.settings, {}
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                c["chat"] = gr.Chatbot(label="Chat", height=460, elem_id="chat",
                                       placeholder="Ask a question about the indexed documents.")
                with gr.Row():
                    c["box"] = gr.Textbox(placeholder="Ask a question…", show_label=False, scale=5,
                                          elem_id="question", max_length=MAX_QUESTION_CHARS)
                    c["send"] = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                gr.Examples(EXAMPLES, inputs=c["box"])
                c["about"] = gr.Dropdown([(ALL_DOCUMENTS, ""), *self.doc_choices()], value="", label="Ask about",
                                         elem_id="about", info="Limit answers and summaries to one document")
                c["clear"] = gr.ClearButton([c["chat"], c["box"]], value="Clear chat")
            with gr.Column(scale=2, min_width=280):
                c["sources"] = gr.HTML(sources_html(None), label="Sources", elem_id="sources")
                with gr.Accordion("Settings", open=False):
                    generated, extractive = "Generated (local model)", "Extractive (quotes only, fastest)"
                    c["mode"] = gr.Radio([generated, extractive], label="Answer mode", elem_id="mode",
                                         value=generated if s.mode == "generated" else extractive)
                    c["k"] = gr.Slider(1, 10, value=s.k, step=1, label="Passages to retrieve")
                    c["model"] = gr.Dropdown(self.presets, value=s.model if s.model in self.presets
                                             else self.presets[0], label="Model", interactive=len(self.presets) > 1)
        return c

    def documents_tab(self) -> dict:
        """The live index version, the documents table, upload and remove."""
        c = {}
        with gr.Row():
            c["version"] = gr.Markdown(elem_id="index-version")
            c["refresh"] = gr.Button("Refresh", size="sm", scale=0, min_width=90, elem_id="refresh")
        c["docs"] = gr.HTML(documents_html(documents_table(self.settings)), elem_id="docs")
        c["files"] = gr.File(label=f"Upload {', '.join(sorted(SUFFIXES))} (max {self.settings.max_file_mb:g} MB "
                             "each)", file_count="multiple", file_types=sorted(SUFFIXES), elem_id="upload")
        c["index"] = gr.Button("Add to index", variant="primary", elem_id="reindex")
        c["status"] = gr.Markdown(elem_id="index-status")
        with gr.Row():
            c["victim"] = gr.Dropdown(self.doc_choices(), value=None, label="Remove a document", scale=3,
                                      elem_id="remove-doc", info="Drops it from the index (files in corpus/ return "
                                      "on the next `qa index`)")
            c["remove"] = gr.Button("Remove", variant="stop", scale=1, min_width=80, elem_id="remove")
        return c

    def wire(self, app: gr.Blocks, c: dict, d: dict) -> None:
        """Events: asking (one shared limit with the API's ask), indexing (one at a time), page loads."""
        send = dict(fn=self.respond, inputs=[c["box"], c["chat"], c["mode"], c["k"], c["model"], c["about"]],
                    outputs=[c["box"], c["chat"], c["sources"]], concurrency_limit=self.settings.concurrency,
                    concurrency_id="ask", api_name=False)
        c["send"].click(**send)
        c["box"].submit(**send)
        c["clear"].click(lambda: sources_html(None), outputs=c["sources"], api_name=False)
        listed = [d["version"], d["docs"], d["victim"], c["about"]]
        # the live version and documents read from disk (no model is loaded) at every page load and by Refresh; an
        # upload or removal returns them read again after its change
        reread = dict(fn=self.refresh, inputs=c["about"], outputs=listed, api_name=False, queue=False)
        app.load(**reread)
        d["refresh"].click(**reread)
        d["index"].click(self.upload, inputs=[d["files"], c["about"]], outputs=[d["status"], *listed],
                         concurrency_limit=1, concurrency_id="index", api_name=False)
        d["remove"].click(self.remove, inputs=[d["victim"], c["about"]], outputs=[d["status"], *listed],
                          concurrency_limit=1, concurrency_id="index", api_name=False)
        gr.api(self.api_ask, api_name="ask", concurrency_limit=self.settings.concurrency, concurrency_id="ask")

    def build(self) -> gr.Blocks:
        with gr.Blocks(title="Ask your documents", analytics_enabled=False) as app:
            gr.Markdown("## Ask your documents\nAnswers come only from your documents; every sentence cites the "
                        "passage that supports it, or the answer says the documents don't cover it.")
            with gr.Tab("Chat"):
                chat = self.chat_tab()
            with gr.Tab("Documents"):
                docs = self.documents_tab()
            self.wire(app, chat, docs)
        return app


def build_app(settings: Settings, gate: Gate | None = None) -> gr.Blocks:
    """The chat page for `settings` (mounted at / by `qa serve`, sharing the API's `gate`)."""
    return ChatApp(settings, gate).build()

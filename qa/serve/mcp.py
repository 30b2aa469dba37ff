"""An MCP server over stdio (`qa mcp`): tools `ask` and `search`, the indexed documents as resources.

Agents that speak the Model Context Protocol get the same verified answers as the chat: `ask` returns
the answer text with [n] markers and its citations (document, offsets, exact quote); `search` returns
passages only. Each document is the resource `qa://documents/{id}` holding its extracted text, which
is what citation offsets point into. Library errors come back as tool errors with their message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import Resource as MCPResource
from pydantic import Field

from .. import service
from ..answer.pipeline import ask as ask_question
from ..config import K_RANGE, MAX_QUESTION_CHARS, MODES, Settings
from ..errors import QAError
from .api import answer_out, passage_out

URI = "qa://documents/{doc_id}"
# The tools' parameters, with the limits every front end shares (qa.config).
QuestionArg = Annotated[str, Field(max_length=MAX_QUESTION_CHARS,
                                   description=f"the question (up to {MAX_QUESTION_CHARS} characters)")]
QueryArg = Annotated[str, Field(max_length=MAX_QUESTION_CHARS,
                                description=f"what to search for (up to {MAX_QUESTION_CHARS} characters)")]
KArg = Annotated[int, Field(ge=K_RANGE[0], le=K_RANGE[1],
                            description=f"passages to retrieve, {K_RANGE[0]} to {K_RANGE[1]}")]
ModeArg = Annotated[Literal[MODES], Field(description="generated: the local model writes, every sentence verified; "
                                                      "extractive: quotes only")]


class QAServer(MCPServer):
    """The documents listed live from the index at each request, so a rebuild shows without a restart."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("qa-chatbot", instructions="Answers questions from the user's indexed documents with "
                         "verified citations, or says the documents don't answer. Use `ask` for an answer, "
                         "`search` for raw passages; documents are resources qa://documents/{id}.",
                         log_level="WARNING")
        self.qa_settings = settings

    async def list_resources(self) -> list[MCPResource]:
        return [MCPResource(uri=URI.format(doc_id=d["id"]), name=d["title"] or d["path"], mime_type="text/plain",
                            description=f"{d['path']} ({d['chunks']} chunks)")
                for d in service.list_documents(self.qa_settings)]


def build(settings: Settings) -> QAServer:
    server = QAServer(settings)

    @server.tool(description="Answer a question from the indexed documents. Every sentence of the answer ends "
                             "with [n] markers; `citations` give each marker's document, offsets and exact quote. "
                             "`abstained` is true when the documents don't answer.")
    def ask(question: QuestionArg, mode: ModeArg = "generated", k: KArg = 5) -> dict:
        try:
            a = ask_question(question, settings=settings.replace(mode=mode, k=k))
        except QAError as e:
            raise ToolError(str(e)) from e
        out = answer_out(a)
        return {"text": a.text, "abstained": a.abstained, "reason": a.reason, "mode": a.mode,
                "citations": out["citations"], "translated_from": a.translated_from, "original": a.original}

    @server.tool(description="Find the passages of the indexed documents closest to a query (no answer).")
    def search(query: QueryArg, k: KArg = 5) -> dict:
        try:
            return {"passages": [passage_out(p) for p in service.search(query, settings=settings, k=k)]}
        except QAError as e:
            raise ToolError(str(e)) from e

    @server.resource(URI, mime_type="text/plain", description="an indexed document's extracted text")
    def document(doc_id: str) -> str:
        try:
            return service.document_text(doc_id, settings=settings)[1]
        except QAError as e:
            raise ResourceError(str(e)) from e

    return server


def run(settings: Settings) -> None:
    """Serve over stdio; the models load and read their fixed prompts in the background meanwhile (an MCP host
    starts this process when a session opens, well before its first question)."""
    service.start_warm_up(settings)
    build(settings).run("stdio")

"""The HTTP API's request and response shapes (pydantic), so `/openapi.json` describes every reply.

Responses are built from the library's frozen dataclasses (`Answer`, `Citation`, `Passage`); the
shapes here add nothing the library does not say, only a document `id` the URLs can use.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import K_RANGE, MAX_HISTORY_TURNS, MAX_QUESTION_CHARS, MODES

Question = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S",
                 description=f"the question (up to {MAX_QUESTION_CHARS} characters)")
K = Field(None, ge=K_RANGE[0], le=K_RANGE[1], description=f"passages to retrieve, {K_RANGE[0]} to {K_RANGE[1]} "
          "(default: the server's, 5 unless QA_K says otherwise)")


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=MAX_QUESTION_CHARS)
    answer: str = Field(max_length=20000)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Question
    k: int | None = K
    mode: Literal[MODES] | None = Field(
        None, description="generated: the local model writes, every sentence verified; extractive: quotes only")
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS,
                                description="earlier turns of the chat, oldest first (resolves follow-ups)")
    doc: str = Field("", max_length=1000,
                     description="the document to answer from (its id, path or file name), also the one an overview "
                     "question (\"what is this about?\", \"summarize it\") is about; empty: every document, and for "
                     "an overview the one the question names")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Question
    k: int | None = K


class CitationOut(BaseModel):
    n: int = Field(description="the [n] marker in the text")
    doc_id: str
    doc_path: str
    title: str
    start: int = Field(description="offset of the quote in the document's extracted text")
    end: int
    quote: str = Field(description="exactly the document's text between start and end")
    page: int | None = None
    ocr: bool = Field(False, description="the quote's page is a scan whose text was read by OCR")
    score: float = Field(description="how well the quote supports its sentence, 0..1")
    passage: int = Field(description="number of the retrieved passage that holds the quote")


class PassageOut(BaseModel):
    n: int
    doc_id: str
    doc_path: str
    title: str
    start: int
    end: int
    text: str
    score: float = Field(description="fused reciprocal-rank score")
    dense: float = Field(description="cosine similarity of question and passage")


class AnswerOut(BaseModel):
    question: str
    text: str = Field(description="the answer; each sentence ends with its [n] markers")
    abstained: bool = Field(description="true when the documents don't answer the question")
    reason: str = Field(description="why the question was refused (empty when answered)")
    mode: Literal["generated", "extractive", "extractive-fallback", "refused"]
    confidence: float
    citations: list[CitationOut]
    passages: list[PassageOut]
    dropped: list[str] = Field(description="draft sentences that verification removed")
    timings: dict[str, float] = Field(description="seconds per stage: retrieve, first_token, total")
    language: str = Field("en", description="the question's language (ISO 639-1, by its script)")
    translated_from: str = Field("", description="when `text` is a translation: the language of `original`")
    original: str = Field("", description="when `text` is a translation: the verified answer in the sources' "
                          "language, with the same [n] markers")


class SearchOut(BaseModel):
    passages: list[PassageOut]


class DocumentOut(BaseModel):
    id: str
    path: str
    title: str
    size: int
    chunks: int
    indexed_at: float
    sha256: str


class IndexOut(BaseModel):
    version: str | None
    documents: int
    chunks: int
    index_type: str | None
    built_at: float | None
    error: str | None = None


class DocumentsOut(BaseModel):
    index: IndexOut
    documents: list[DocumentOut]


class UploadOut(BaseModel):
    index: IndexOut
    indexed: list[DocumentOut] = Field(description="the uploaded files now in the index")
    rejected: list[str] = Field(description="one line per file that was not indexed, with the reason")
    added: int
    updated: int
    unchanged: int
    seconds: float


class RemovedOut(BaseModel):
    removed: DocumentOut
    index: IndexOut


class ModelState(BaseModel):
    name: str
    loaded: bool


class LoadOut(BaseModel):
    running: int = Field(description="answers being computed now (chat and API together)")
    waiting: int = Field(description="questions waiting for a slot")
    slots: int = Field(description="answers computed at once (QA_CONCURRENCY)")
    limit: int = Field(description="running + waiting beyond which a question gets 503 busy (QA_QUEUE_SIZE)")


class HealthOut(BaseModel):
    status: Literal["ok", "no_index"]
    index: IndexOut
    generator: ModelState
    embedder: ModelState
    mode: str
    load: LoadOut


class ErrorBody(BaseModel):
    type: str = Field(description="invalid_request_error, authentication_error, not_found_error, busy, "
                                  "unavailable, document_error")
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


# OpenAI-compatible chat completions -------------------------------------------------------------

class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, … are accepted and ignored
    model: str = Field(max_length=200, description="an id from GET /v1/models")
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    doc: str = Field("", max_length=1000, description="extra field: the document an overview question is about "
                     "(id, path or file name)")


class ReplyMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ReplyMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    citations: list[CitationOut] = Field(description="extra field: the sources of the [n] markers in the content")
    abstained: bool = Field(description="extra field: true when the documents don't answer the question")
    translated_from: str = Field("", description="extra field: when the content is a translation, the language of "
                                 "`original`")
    original: str = Field("", description="extra field: the verified answer the content translates")


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "qa-chatbot"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]

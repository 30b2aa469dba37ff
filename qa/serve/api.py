"""The REST API under /v1: ask (JSON or server-sent events), search, documents, health.

Every route calls `qa.answer.pipeline` or `qa.service`; nothing here answers, reads files or opens a store.
Errors are JSON `{"error": {"type", "message"}}`: 4xx for anything a client sent wrong, 404 for an
unknown document, 503 with Retry-After when the queue is full or the index is missing, never a 500
for a client's input. Blocking work runs in worker threads; the server's one `Gate` bounds how much
runs and waits, shared with the chat.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import service
from ..answer.pipeline import Answer, ask_stream
from ..answer.retrieval import Passage
from ..config import MAX_UPLOAD_FILES, Settings
from ..embedding import LOADED as EMBEDDERS_LOADED
from ..errors import DocumentError, IndexStoreError, InputError, ModelError, NotFoundError, QAError
from ..generation import LOADED as GENERATORS_LOADED
from . import schemas as sc
from .gate import Busy, Gate

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5


class Unauthorized(Exception):
    pass


def error(status: int, kind: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def from_library(e: QAError) -> JSONResponse:
    """A library error as the JSON error a client sees."""
    if isinstance(e, NotFoundError):
        return error(404, "not_found_error", str(e))
    if isinstance(e, InputError):
        return error(400, "invalid_request_error", str(e))
    if isinstance(e, DocumentError):
        return error(400, "document_error", str(e))
    if isinstance(e, IndexStoreError | ModelError):
        return error(503, "unavailable", str(e), {"Retry-After": str(RETRY_AFTER_S * 6)})
    return error(503, "unavailable", str(e))


def _validation_message(e: RequestValidationError) -> str:
    first = e.errors()[0] if e.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    return f"{where}: {first.get('msg', 'invalid')}"


def install_error_handlers(app) -> None:
    app.add_exception_handler(QAError, lambda r, e: from_library(e))
    app.add_exception_handler(Busy, lambda r, e: error(503, "busy", "the server is busy; try again in a few seconds",
                                                       {"Retry-After": str(RETRY_AFTER_S)}))
    app.add_exception_handler(Unauthorized, lambda r, e: error(
        401, "authentication_error", "missing or wrong API key: send 'Authorization: Bearer KEY'",
        {"WWW-Authenticate": "Bearer"}))
    app.add_exception_handler(RequestValidationError, lambda r, e: error(
        400, "invalid_request_error", _validation_message(e)))


def api_http_errors(request: Request, e: StarletteHTTPException):
    """404/405 of the API in the API's error shape (the mounted chat keeps its own)."""
    kind = {404: "not_found_error", 405: "invalid_request_error"}.get(e.status_code, "invalid_request_error")
    return error(e.status_code, kind, str(e.detail), getattr(e, "headers", None))


def bearer(api_key: str | None):
    scheme = HTTPBearer(auto_error=False, description="the key given to `qa serve --api-key` / QA_API_KEY")

    async def check(creds: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:  # noqa: B008
        if api_key and (creds is None or not secrets.compare_digest(creds.credentials.encode(), api_key.encode())):
            raise Unauthorized()
    return check


ERRORS = {status: {"model": sc.ErrorOut, "description": why} for status, why in (
    (400, "bad input"), (401, "missing or wrong API key"), (503, "busy (see Retry-After) or no index"))}


def passage_out(p: Passage) -> dict:
    return {"n": p.n, "doc_id": service.doc_id(p.doc_path), "doc_path": p.doc_path, "title": p.title,
            "start": p.start, "end": p.end, "text": p.text, "score": p.score, "dense": p.dense}


def answer_out(a: Answer) -> dict:
    """The Answer as the API's JSON (documents carry their id)."""
    d = a.to_dict()
    for c in d["citations"]:
        c["doc_id"] = service.doc_id(c["doc_path"])
    d["passages"] = [passage_out(p) for p in a.passages]
    return d


def history_pairs(turns: list[sc.Turn]) -> list[tuple[str, str]]:
    return [(t.question, t.answer) for t in turns]


def sse_events(items: Iterator[str | Answer], gate: Gate) -> AsyncIterator[dict]:
    """Server-sent events of an answer: `sentence` for each verified piece, then `answer`; `error` on
    failure. The gate is held until the last event is sent (or the client goes away)."""
    async def events() -> AsyncIterator[dict]:
        try:
            async for item in iterate_in_threadpool(items):
                if isinstance(item, Answer):
                    yield {"event": "answer", "data": json.dumps(answer_out(item), ensure_ascii=False)}
                else:
                    yield {"event": "sentence", "data": json.dumps({"text": item}, ensure_ascii=False)}
        except QAError as e:
            body = json.loads(from_library(e).body)
            yield {"event": "error", "data": json.dumps(body)}
        finally:
            gate.release()
    return events()


async def final_answer(items: Iterator[str | Answer], gate: Gate) -> Answer:
    """Run `ask_stream`'s items to the end in a worker thread, then release the gate (already acquired)."""
    try:
        return await run_in_threadpool(lambda: [x for x in items if isinstance(x, Answer)][-1])
    finally:
        gate.release()


def router(settings: Settings, gate: Gate, api_key: str | None) -> APIRouter:
    """The API under /v1: answering (ask, search) and the index (documents, health)."""
    r = APIRouter(prefix="/v1", dependencies=[Depends(bearer(api_key))], responses=ERRORS)
    _answer_routes(r, settings, gate)
    _index_routes(r, settings, gate)
    return r


def _answer_routes(r: APIRouter, settings: Settings, gate: Gate) -> None:
    def with_request(req: sc.AskRequest) -> Settings:
        return settings.replace(k=req.k, mode=req.mode)

    @r.post("/ask", response_model=sc.AnswerOut, tags=["ask"], summary="Answer a question, with citations",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "the Answer; with ?stream=true, server-sent events `sentence` "
                                            "({text}) as each sentence is verified, then `answer` (the Answer)"}})
    async def ask(req: sc.AskRequest, stream: Annotated[bool, Query(description="send server-sent events")] = False):
        s = with_request(req)
        if service.index_status(s)["version"] is None:
            raise IndexStoreError("no index yet: upload documents or run `qa index`")
        items = ask_stream(req.question, settings=s, history=history_pairs(req.history), doc=req.doc)
        await gate.acquire()
        if stream:
            return EventSourceResponse(sse_events(items, gate), ping=15)
        return answer_out(await final_answer(items, gate))

    @r.post("/search", response_model=sc.SearchOut, tags=["ask"], summary="Retrieve passages only (no answer)")
    async def search(req: sc.SearchRequest):
        async with gate.enter():
            passages = await run_in_threadpool(service.search, req.query, settings=settings, k=req.k)
        return {"passages": [passage_out(p) for p in passages]}


def _index_routes(r: APIRouter, settings: Settings, gate: Gate) -> None:
    @r.get("/documents", response_model=sc.DocumentsOut, tags=["documents"], summary="The indexed documents")
    async def documents():
        return await run_in_threadpool(lambda: {"index": service.index_status(settings),
                                                "documents": service.list_documents(settings)})

    @r.post("/documents", response_model=sc.UploadOut, status_code=201, tags=["documents"],
            summary="Upload files and index them (txt, md, html, pdf, docx)")
    async def upload(files: Annotated[list[UploadFile], File(
            description=f"one or more files (at most {MAX_UPLOAD_FILES})",
            json_schema_extra={"minItems": 1, "maxItems": MAX_UPLOAD_FILES})]):
        if not files or len(files) > MAX_UPLOAD_FILES:
            raise InputError(f"send between 1 and {MAX_UPLOAD_FILES} files, not {len(files)}")
        named = []
        for f in files:
            named.append((f.filename or "upload", await f.read(int(settings.max_file_mb * 1e6) + 1)))
        result = await run_in_threadpool(service.upload_documents, named, settings=settings)
        if not result.saved:
            raise DocumentError("nothing was indexed: " + ("; ".join(result.rejected) or "no files"))
        status = service.index_status(settings)
        saved = set(result.saved)
        indexed = [d for d in service.list_documents(settings) if str(Path(d["path"]).resolve()) in saved]
        st = result.stats
        return {"index": status, "indexed": indexed, "rejected": result.rejected, "added": st.added,
                "updated": st.updated, "unchanged": st.unchanged, "seconds": round(st.seconds, 3)}

    @r.delete("/documents/{doc_id}", response_model=sc.RemovedOut, tags=["documents"],
              summary="Remove a document from the index (an uploaded file is deleted too)",
              responses={404: {"model": sc.ErrorOut, "description": "no such document"}})
    async def remove(doc_id: str):
        removed = await run_in_threadpool(service.remove_document, doc_id, settings=settings)
        return {"removed": removed, "index": service.index_status(settings)}

    @r.get("/health", response_model=sc.HealthOut, tags=["service"], summary="Index version, counts, models")
    async def health():
        status = await run_in_threadpool(service.index_status, settings)
        return {"status": "ok" if status["version"] else "no_index", "index": status, "mode": settings.mode,
                "generator": {"name": settings.model, "loaded": settings.model in GENERATORS_LOADED},
                "embedder": {"name": settings.embedder, "loaded": settings.embedder in EMBEDDERS_LOADED},
                "load": {"running": gate.running, "waiting": gate.waiting, "slots": gate.slots, "limit": gate.limit}}

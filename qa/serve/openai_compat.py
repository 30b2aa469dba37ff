"""OpenAI-compatible chat completions: POST /v1/chat/completions (streamed or not) and GET /v1/models.

The last user message is the question; earlier user/assistant pairs are the chat history. The reply's
content is the verified answer with its [n] markers; the sources travel beside it in the extra fields
`citations` (the same objects as /v1/ask) and `abstained`, and for an answer translated into the question's
language `translated_from` and `original` (the verified text). In a stream they ride on the last chunk.
Model ids: each installed generator preset (the model writes, verified) and `extractive` (quotes only).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Depends
from pydantic import Field, create_model
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool

from ..answer.pipeline import Answer, ask_stream, check_text
from ..config import MAX_HISTORY_TURNS, Settings
from ..errors import InputError, NotFoundError, QAError
from ..generation import installed_presets
from . import schemas as sc
from .api import ERRORS, Gate, answer_out, bearer, final_answer, from_library

EXTRACTIVE = "extractive"


def model_ids(settings: Settings) -> list[str]:
    presets = installed_presets() or [settings.model]
    default = [settings.model] if settings.model in presets else []
    return list(dict.fromkeys([*default, *presets, EXTRACTIVE]))


def _text(m: sc.ChatMessage) -> str:
    if isinstance(m.content, list):
        return "\n".join(p.text or "" for p in m.content if p.type in ("text", "input_text"))
    return m.content or ""


def question_and_history(messages: list[sc.ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The last user message, and the (user, assistant) pairs before it; system messages are ignored
    (the answer comes from the documents, not from instructions)."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise InputError("messages: no user message to answer")
    last = users[-1]
    question = _text(messages[last]).strip()
    if not question:
        raise InputError("messages: the last user message is empty")
    history, pending = [], None
    for m in messages[:last]:
        if m.role == "user":
            pending = _text(m)
        elif m.role == "assistant" and pending is not None:
            history.append((pending, _text(m)))
            pending = None
    return question, history[-MAX_HISTORY_TURNS:]


def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None, **extra) -> str:
    return json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra},
                      ensure_ascii=False)


def _stream(items: Iterator[str | Answer], gate: Gate, model: str) -> AsyncIterator[dict]:
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    async def events() -> AsyncIterator[dict]:
        try:
            yield {"data": _chunk(cid, created, model, {"role": "assistant", "content": ""})}
            async for item in iterate_in_threadpool(items):
                if isinstance(item, Answer):
                    out = answer_out(item)
                    yield {"data": _chunk(cid, created, model, {}, "stop", citations=out["citations"],
                                          abstained=item.abstained, translated_from=item.translated_from,
                                          original=item.original)}
                else:
                    yield {"data": _chunk(cid, created, model, {"content": item})}
            yield {"data": "[DONE]"}
        except QAError as e:
            yield {"data": json.dumps(json.loads(from_library(e).body))}
        finally:
            gate.release()
    return events()


def router(settings: Settings, gate: Gate, api_key: str | None) -> APIRouter:
    r = APIRouter(prefix="/v1", dependencies=[Depends(bearer(api_key))], responses=ERRORS, tags=["openai"])
    models = model_ids(settings)

    @r.get("/models", response_model=sc.ModelList, summary="Models (OpenAI-compatible)")
    async def list_models():
        return {"object": "list", "data": [{"id": m} for m in models]}

    # the request's schema lists this server's model ids
    request_model = create_model("ChatRequest", __base__=sc.ChatRequest, model=(str, Field(
        max_length=200, description="an id from GET /v1/models", json_schema_extra={"enum": models})))

    async def chat(req):
        if req.model not in models:
            raise NotFoundError(f"model {req.model[:80]!r} does not exist; use one of: {', '.join(models)}")
        question, history = question_and_history(req.messages)
        question = check_text(question)
        s = settings.replace(mode="extractive") if req.model == EXTRACTIVE else \
            settings.replace(mode="generated", model=req.model)
        items = ask_stream(question, settings=s, history=history, doc=req.doc)
        await gate.acquire()
        if req.stream:
            return EventSourceResponse(_stream(items, gate, req.model), ping=15)
        answer = await final_answer(items, gate)
        out = answer_out(answer)
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": req.model, "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                                                 "finish_reason": "stop"}],
                "citations": out["citations"], "abstained": answer.abstained,
                "translated_from": answer.translated_from, "original": answer.original}

    chat.__annotations__["req"] = request_model
    r.post("/chat/completions", response_model=sc.ChatCompletion, summary="Chat completions (OpenAI-compatible)",
           responses={200: {"content": {"text/event-stream": {}},
                            "description": "a chat.completion, or with stream=true chat.completion.chunk events; "
                                           "the last chunk carries `citations` and `abstained`, then [DONE]"},
                      404: {"model": sc.ErrorOut, "description": "unknown model"}})(chat)
    return r


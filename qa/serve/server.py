"""One server: FastAPI with the HTTP API under /v1 and the Gradio chat mounted at /, run by uvicorn.

    /                  the chat (Gradio)           /v1/ask, /v1/search, /v1/documents, /v1/health
    /docs              the API's documentation     /v1/chat/completions, /v1/models (OpenAI-compatible)
    /openapi.json      its schema

Safe by default: 127.0.0.1, bounded queues, upload size limits, analytics off. `api_key` protects
every /v1 call (Bearer), `auth` (user:password) the chat; binding another host without either warns.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import Settings
from ..errors import QAError
from . import api, openai_compat

log = logging.getLogger(__name__)
MAX_FILES_PER_UPLOAD = 20


def create_app(settings: Settings, *, api_key: str | None = None, auth: str | None = None) -> FastAPI:
    import gradio as gr

    from .web import CSS, HEAD, build_app

    app = FastAPI(title="Ask your documents", version="0.1.0", docs_url="/docs", redoc_url=None,
                  description="Answers from your documents with verified citations, or an honest refusal. "
                              "REST under /v1, OpenAI-compatible chat completions, the web chat at /.")
    gate = api.Gate(settings.concurrency, settings.queue_size)
    api.install_error_handlers(app)
    app.include_router(api.router(settings, gate, api_key))
    app.include_router(openai_compat.router(settings, gate, api_key))
    _limit_bodies(app, settings)

    @app.exception_handler(StarletteHTTPException)
    async def http_errors(request: Request, e: StarletteHTTPException):
        if request.url.path.startswith("/v1"):
            return api.api_http_errors(request, e)
        from fastapi.exception_handlers import http_exception_handler
        return await http_exception_handler(request, e)

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unknown(request: Request, rest: str):
        """Without this the chat mounted at / would answer unknown /v1 paths with its own page."""
        path = request.url.path
        if any(getattr(r, "path", None) == path for r in app.routes if getattr(r, "path", "") != "/v1/{rest:path}"):
            return api.error(405, "invalid_request_error", f"{request.method} is not allowed on {path}")
        return api.error(404, "not_found_error", f"no such endpoint: {path}")

    blocks = build_app(settings)
    blocks.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    gr.mount_gradio_app(app, blocks, path="/", auth=_credentials(auth), max_file_size=f"{settings.max_file_mb:g}mb",
                        show_error=True, footer_links=[], enable_monitoring=False, ssr_mode=False, css=CSS,
                        head=HEAD, theme=gr.themes.Soft())
    return app


def _limit_bodies(app: FastAPI, settings: Settings) -> None:
    """Refuse an oversized request body before it is read (uploads: 20 files of the size limit)."""
    limit = int(settings.max_file_mb * 1e6 * MAX_FILES_PER_UPLOAD + 1e6)

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        size = request.headers.get("content-length", "")
        if request.url.path.startswith("/v1") and size.isdigit() and int(size) > limit:
            return api.error(413, "invalid_request_error", f"the request body is larger than {limit / 1e6:.0f} MB")
        return await call_next(request)


def _credentials(auth: str | None) -> tuple[str, str] | None:
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise QAError("--auth must look like user:password")
    return user, password


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warm_up(settings: Settings) -> None:
    """Load the models in the background at start, so the first question does not wait for them."""
    from ..embedding import get_embedder
    from ..generation import get_generator

    try:
        get_embedder(settings.embedder, settings.embed_batch, settings.threads)
        if settings.mode == "generated":
            get_generator(settings.model, settings.cache_dir, settings.threads)
    except QAError as e:  # reported again, as a clear error, when a question needs the model
        log.warning("model warm-up failed: %s", e)


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          api_key: str | None = None) -> None:
    import uvicorn

    api_key = api_key or os.environ.get("QA_API_KEY") or None
    if not is_loopback(host) and not (auth or api_key):
        log.warning("warning: serving on %s with neither --auth nor --api-key: anyone on the network can ask, "
                    "upload and delete documents", host)
    app = create_app(settings, api_key=api_key, auth=auth)
    threading.Thread(target=warm_up, args=(settings,), daemon=True).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)

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
import re
import warnings

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import service
from ..config import MAX_UPLOAD_FILES, Settings
from ..errors import QAError
from . import api, openai_compat
from .gate import Gate

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, api_key: str | None = None, auth: str | None = None) -> FastAPI:
    import gradio as gr

    from .web import CSS, HEAD, build_app

    app = FastAPI(title="Ask your documents", version="0.1.0", docs_url="/docs", redoc_url=None,
                  description="Answers from your documents with verified citations, or an honest refusal. "
                              "REST under /v1, OpenAI-compatible chat completions, the web chat at /.")
    gate = Gate(settings.concurrency, settings.queue_size)  # one limit: the API, the OpenAI endpoint, the chat
    api.install_error_handlers(app)
    routers = [api.router(settings, gate, api_key), openai_compat.router(settings, gate, api_key)]
    for r in routers:
        app.include_router(r)
    _api_fallbacks(app, settings, [route for r in routers for route in r.routes])

    @app.exception_handler(StarletteHTTPException)
    async def http_errors(request: Request, e: StarletteHTTPException):
        if request.url.path.startswith("/v1"):
            return api.api_http_errors(request, e)
        from fastapi.exception_handlers import http_exception_handler
        return await http_exception_handler(request, e)

    # Gradio's queue reads Starlette's renamed 422 constant on every chat question: a warning for Gradio's
    # maintainers, not for the person running the chat (no request fails); filtered wherever the chat is mounted
    warnings.filterwarnings("ignore", message=r"'HTTP_422_UNPROCESSABLE_ENTITY' is deprecated")
    blocks = build_app(settings, gate)
    blocks.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    gr.mount_gradio_app(app, blocks, path="/", auth=_credentials(auth), max_file_size=f"{settings.max_file_mb:g}mb",
                        show_error=True, footer_links=[], enable_monitoring=False, ssr_mode=False, css=CSS,
                        head=HEAD, theme=gr.themes.Soft())
    return app


def _api_fallbacks(app: FastAPI, settings: Settings, routes: list) -> None:
    """Under /v1, before the chat mounted at / could answer with its own page: an unknown path is a JSON 404,
    a known path with another method (TRACE, QUERY, …) a 405 with Allow, an oversized body a 413."""
    from starlette.routing import compile_path

    patterns: list[tuple[re.Pattern, set[str]]] = []
    for route in routes:
        regex = compile_path(route.path)[0]
        for pattern, methods in patterns:
            if pattern.pattern == regex.pattern:
                methods.update(route.methods)
                break
        else:
            patterns.append((regex, set(route.methods) | ({"HEAD"} if "GET" in route.methods else set())))
    limit = int(settings.max_file_mb * 1e6 * MAX_UPLOAD_FILES + 1e6)

    @app.middleware("http")
    async def fallbacks(request: Request, call_next):
        path = request.url.path
        if not (path == "/v1" or path.startswith("/v1/")):
            return await call_next(request)
        methods = next((m for pattern, m in patterns if pattern.match(path)), None)
        if methods is None:
            return api.error(404, "not_found_error", f"no such endpoint: {path}")
        if request.method not in methods:
            return api.error(405, "invalid_request_error", f"{request.method} is not allowed on {path}",
                             {"Allow": ", ".join(sorted(methods))})
        size = request.headers.get("content-length", "")
        if size.isdigit() and int(size) > limit:
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


def exposure_warning(host: str, auth: str | None, api_key: str | None) -> str | None:
    if is_loopback(host) or auth or api_key:
        return None
    return (f"warning: serving on {host} with neither --auth nor --api-key: anyone who can reach it can ask, "
            "upload and delete documents")


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          api_key: str | None = None) -> None:
    import uvicorn

    api_key = api_key or settings.api_key or None
    if warning := exposure_warning(host, auth, api_key):
        log.warning(warning)
    app = create_app(settings, api_key=api_key, auth=auth)
    service.start_warm_up(settings)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)

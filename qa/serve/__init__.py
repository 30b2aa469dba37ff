"""Front ends over the one service layer (`qa.answer.pipeline`, `qa.service`).

    server.py         FastAPI + uvicorn: the API under /v1 and the chat mounted at /
    web.py            the Gradio chat
    api.py            REST: ask (JSON or server-sent events), search, documents, health
    openai_compat.py  OpenAI-compatible chat completions and models
    schemas.py        the API's request and response shapes
    mcp.py            an MCP server over stdio: tools ask and search, documents as resources
"""

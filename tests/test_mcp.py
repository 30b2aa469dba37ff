"""`qa mcp` over stdio, driven by the official MCP SDK client: tools ask and search, documents as resources."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
YEARS = "Which years were designated as the Years of High-Quality Development?"


def run(coro):
    return asyncio.run(coro)


async def session(index_dir, body):
    """`qa mcp` on the small SmolLM2 preset: the tools and resources are under test here, and the default model's
    answers are tested through every other front end (Qwen's first answer of a process took 80 s on AVX2 only)."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "qa.cli", "mcp"], cwd=str(ROOT),
                                   env={**os.environ, "QA_INDEX_DIR": str(index_dir), "HF_HUB_OFFLINE": "1",
                                        "QA_MODEL": "smollm2-135m"})
    async with Client(params, read_timeout_seconds=300) as client:
        return await body(client)


def test_mcp_ask_search_and_resources(real_settings):
    async def body(client):
        tools = {t.name for t in (await client.list_tools()).tools}
        answer = await client.call_tool("ask", {"question": YEARS})
        refused = await client.call_tool("ask", {"question": "What is the population of Uzbekistan?",
                                                 "mode": "extractive"})
        empty = await client.call_tool("ask", {"question": "  "})
        found = await client.call_tool("search", {"query": "treaty of good-neighborliness", "k": 2})
        resources = (await client.list_resources()).resources
        text = await client.read_resource(resources[0].uri)
        return tools, answer, refused, empty, found, resources, text

    tools, answer, refused, empty, found, resources, text = run(session(real_settings.index_dir, body))
    assert {"ask", "search"} <= tools
    a = answer.structured_content or json.loads(answer.content[0].text)
    assert "[1]" in a["text"] and not a["abstained"] and a["mode"] in ("generated", "extractive-fallback")
    doc = text.contents[0].text
    c = a["citations"][0]
    assert doc[c["start"]:c["end"]] == c["quote"]  # the resource is the text citation offsets point into
    r = refused.structured_content or json.loads(refused.content[0].text)
    assert r["abstained"] and r["citations"] == []
    assert empty.is_error and "empty" in empty.content[0].text
    passages = (found.structured_content or json.loads(found.content[0].text))["passages"]
    assert len(passages) == 2 and "good-neighborliness" in passages[0]["text"]
    assert len(resources) == 1 and str(resources[0].uri).startswith("qa://documents/")

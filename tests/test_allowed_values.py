"""The allowed values (mode, runtime, store kind, k range, question length, upload count) are defined once in
`qa.config` and every front end reads them: the CLI's choices, the API's schemas, the MCP tools' parameters."""

import asyncio

import pytest

from qa import config
from qa.cli import parser
from qa.config import K_RANGE, MAX_QUESTION_CHARS, MODES, RUNTIMES, Settings
from qa.errors import InputError


def _option(command: str, flag: str):
    sub = next(a for a in parser()._actions if a.dest == "command").choices[command]
    return next(a for a in sub._actions if flag in a.option_strings)


def test_the_cli_reads_them():
    for command in ("ask", "eval"):
        assert tuple(_option(command, "--mode").choices) == MODES
        assert tuple(_option(command, "--runtime").choices) == RUNTIMES
    assert all(kind_help in _option("docs", "--store").help for kind_help in config.STORE_KINDS.values())
    assert parser().parse_args(["ask", "q", "--k", str(K_RANGE[1])]).k == K_RANGE[1]
    with pytest.raises(SystemExit):
        parser().parse_args(["ask", "q", "--k", str(K_RANGE[1] + 1)])
    assert str(MAX_QUESTION_CHARS) in next(a for a in parser()._actions if a.dest == "command").choices[
        "ask"].format_help()


def test_the_api_schemas_read_them():
    from qa.serve import schemas

    ask = schemas.AskRequest.model_json_schema()["properties"]
    k = next(x for x in ask["k"]["anyOf"] if x.get("type") == "integer")
    assert (k["minimum"], k["maximum"]) == K_RANGE and ask["question"]["maxLength"] == MAX_QUESTION_CHARS
    assert tuple(next(x for x in ask["mode"]["anyOf"] if "enum" in x)["enum"]) == MODES
    assert ask["history"]["maxItems"] == config.MAX_HISTORY_TURNS
    search = schemas.SearchRequest.model_json_schema()["properties"]
    assert search["query"]["maxLength"] == MAX_QUESTION_CHARS


def test_the_api_upload_count_reads_it():
    from qa.serve.server import create_app

    spec = create_app(Settings()).openapi()
    body = spec["paths"]["/v1/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    ref = body["$ref"].rsplit("/", 1)[-1]
    files = spec["components"]["schemas"][ref]["properties"]["files"]
    assert files["maxItems"] == config.MAX_UPLOAD_FILES and str(config.MAX_UPLOAD_FILES) in files["description"]


def test_the_mcp_tools_read_them():
    from qa.serve.mcp import build

    tools = {t.name: t.input_schema for t in asyncio.run(build(Settings()).list_tools())}
    ask = tools["ask"]["properties"]
    assert tuple(ask["mode"]["enum"]) == MODES and ask["question"]["maxLength"] == MAX_QUESTION_CHARS
    assert (ask["k"]["minimum"], ask["k"]["maximum"]) == K_RANGE
    assert (tools["search"]["properties"]["k"]["minimum"], tools["search"]["properties"]["k"]["maximum"]) == K_RANGE


@pytest.mark.parametrize("bad", [{"mode": "creative"}, {"runtime": "gpu"}, {"k": K_RANGE[1] + 1},
                                 {"embed_precision": "fp16"}, {"store": "ftp://example"}])
def test_settings_refuse_anything_else(bad):
    with pytest.raises(InputError):
        Settings(**bad)


def test_every_qa_variable_is_read_through_settings_and_secrets_stay_out_of_its_repr(monkeypatch):
    import re

    from qa.config import Settings
    from tests.conftest import ROOT

    readers = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "qa").rglob("*.py")) if p.name != "config.py"
               for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"(environ|getenv)\W[^\n]*[\"']QA_", line)]
    assert not readers, f"QA_* read outside Settings: {readers}"
    monkeypatch.setenv("QA_API_KEY", "s3cret-key")
    monkeypatch.setenv("QA_MILVUS_TOKEN", "milvus-tok")
    monkeypatch.setenv("QA_RAY_KEEP", "1")
    s = Settings.from_env()
    assert (s.api_key, s.milvus_token, s.ray_keep) == ("s3cret-key", "milvus-tok", True)
    assert "s3cret-key" not in repr(s) and "milvus-tok" not in repr(s)


def test_a_misspelt_setting_is_reported_once_with_the_name_meant(monkeypatch, caplog):
    monkeypatch.setattr(config, "_WARNED", set())
    monkeypatch.setenv("QA_JUDGE_BELLOW", "0.7")
    monkeypatch.setenv("QA_MODE", "extractive")
    with caplog.at_level("WARNING", logger="qa.config"):
        s = Settings.from_env()
        Settings.from_env()  # asked again (once per question): not said again
    assert s.mode == "extractive" and s.judge_below == Settings().judge_below  # the real one read, the typo not
    [line] = [r.getMessage() for r in caplog.records]
    assert line == "QA_JUDGE_BELLOW is not a setting and is ignored (did you mean QA_JUDGE_BELOW?)"
    caplog.clear()
    monkeypatch.setenv("QA_PORT", "8080")  # someone else's variable: no far-fetched guess (not QA_OCR)
    monkeypatch.setenv("QA_MIN_COVERAGE", "0.5")  # a retired setting says so
    with caplog.at_level("WARNING", logger="qa.config"):
        Settings.from_env()
    assert sorted(r.getMessage() for r in caplog.records) == [
        "QA_MIN_COVERAGE is ignored: retired on 2026-12-02 (the coverage doubt; see README)",
        "QA_PORT is not a setting and is ignored"]

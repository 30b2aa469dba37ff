"""The README's generated parts match the code: the command line synopsis is `qa`'s own argparse usage.

Like the settings-table check in test_benchmarks.py, this fails when the README drifts; `make readme`
(`python -m qa.readme`) rewrites the region, `python -m qa.readme --check` is the same check from a shell.
"""

import pytest

from qa import readme
from qa.cli import synopsis
from tests.conftest import ROOT


def test_readme_cli_synopsis_is_the_parsers():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.render(text) == text, "the README's command line synopsis is out of date: run `make readme`"


def test_the_synopsis_names_every_command_and_shared_option():
    out = synopsis()
    for command in ("index", "docs", "ask", "model", "serve", "mcp", "eval"):
        assert f"\nqa {command} " in out
    assert out.count("[--store STORE]") == 6 and "--mode {generated,extractive}" in out
    assert "[-h]" not in out  # help is implied, not listed


def test_render_replaces_only_the_region(tmp_path):
    stale = f"# Title\n\n{readme.START}\n```sh\nqa old-command\n```\n{readme.END}\n\nProse after.\n"
    fresh = readme.render(stale)
    assert fresh.startswith("# Title\n\n") and fresh.endswith(f"{readme.END}\n\nProse after.\n")
    assert "old-command" not in fresh and synopsis() in fresh and readme.render(fresh) == fresh
    path = tmp_path / "README.md"
    path.write_text(stale)
    assert readme.main(["--check", "--readme", str(path)]) == 1 and path.read_text() == stale
    assert readme.main(["--readme", str(path)]) == 0 and path.read_text() == fresh
    assert readme.main(["--check", "--readme", str(path)]) == 0
    with pytest.raises(ValueError, match="no region"):
        readme.render("# no markers here\n")

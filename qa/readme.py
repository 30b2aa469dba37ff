"""The README's generated part: the command line's synopsis, from the argparse parser in `qa.cli`.

    python -m qa.readme           rewrite the region between the markers below (`make readme`)
    python -m qa.readme --check   exit 1, with a diff, when the README and the code differ

`tests/test_docs.py` runs the check, so the README cannot drift from `qa --help`.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from .cli import synopsis
from .config import ROOT

START = "<!-- cli:start: generated from qa/cli.py by `make readme`; edit the parser, not this block -->"
END = "<!-- cli:end -->"


def render(readme: str) -> str:
    """`readme` with the synopsis region holding the current synopsis; a one-line error when a marker is missing."""
    head, found, rest = readme.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise ValueError(f"the README has no region between {START!r} and {END!r}")
    return f"{head}{START}\n```sh\n{synopsis()}\n```\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qa.readme", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only report drift (exit 1), change nothing")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = p.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    fresh = render(text)
    if fresh == text:
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), fresh.splitlines(True), "README.md",
                                                   "README.md (from the code)"))
        print(f"\n{args.readme} is out of date: run `make readme`", file=sys.stderr)
        return 1
    args.readme.write_text(fresh, encoding="utf-8")
    print(f"rewrote the command line synopsis in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

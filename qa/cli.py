"""Command line: `qa index | docs | ask | model | serve | mcp | eval`. Errors print one line and exit non-zero."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from .config import K_RANGE, MAX_QUESTION_CHARS, MODES, RUNTIMES, STORE_KINDS, Settings
from .errors import QAError


def _rel(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(index_dir=getattr(args, "index_dir", None), k=getattr(args, "k", None),
                             mode=getattr(args, "mode", None), model=getattr(args, "model", None),
                             runtime=getattr(args, "runtime", None), store=getattr(args, "store", None))


def cmd_index(args: argparse.Namespace) -> int:
    from .ingest.indexing import update_index

    s = _settings(args)
    opts = {"settings": s, "progress": not args.quiet, "ray_address": args.ray}
    if args.add:
        stats = update_index(args.add, action="add", **opts)
    elif args.remove:
        stats = update_index(args.remove, action="remove", **opts)
    else:
        default = [s.corpus_dir] + ([s.upload_dir] if Path(s.upload_dir).is_dir() else [])
        stats = update_index(args.paths or default, action="sync", **opts)
    for line in stats.errors:
        print(f"skipped: {line}", file=sys.stderr)
    print(f"{stats.documents} documents, {stats.chunks} chunks ({stats.index_type}) in {stats.version}: "
          f"{stats.added} added, {stats.updated} updated, {stats.removed} removed, {stats.unchanged} unchanged; "
          f"{stats.chunks_embedded} chunks embedded in {stats.seconds:.1f} s")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from .service import list_documents

    docs = list_documents(_settings(args))  # the whole settings: the store named by --store, not only index_dir
    if args.json:
        print(json.dumps(docs, indent=1))
    for d in docs if not args.json else []:
        print(f"{d['id']}\t{_rel(d['path'])}\t{d['size']} bytes\t{d['chunks']} chunks\t{d['title'][:60]}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .answer import translation
    from .answer.pipeline import Answer, ask_stream

    s = _settings(args)
    answer = None
    stream_out = not args.json and sys.stdout.isatty()
    for item in ask_stream(args.question, settings=s):
        if isinstance(item, Answer):
            answer = item
        elif stream_out:
            print(item, end="", flush=True)
    assert answer is not None
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return 0
    if stream_out:  # the verified sentences were printed as they came: they are the answer
        print()
    else:
        print(answer.text)
    if note := translation.label(answer):
        print(f"  ({note}; the verified answer: {answer.original})")
    for c in answer.citations:
        page = f", {c.where}" if c.page else ""
        print(f"  [{c.n}] {_rel(c.doc_path)}:{c.start}-{c.end}{page} (support {c.score:.2f}): \"{c.quote}\"")
    for sentence in answer.dropped:
        print(f"  removed by verification (unsupported): {sentence}")
    if answer.abstained and answer.passages:
        print("Closest passages:")
        for p in answer.passages[:3]:
            print(f"  - {_rel(p.doc_path)}:{p.start}-{p.end}: {p.text[:160]}...")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    """Convert the model once (with progress), so the first question does not wait for it."""
    import time

    from .generation import installed_presets, load_generator

    s = _settings(args)
    for name in ([s.model] if not args.all else installed_presets()):
        t0 = time.perf_counter()
        gen = load_generator(name, cache_dir=s.cache_dir, threads=s.threads, runtime=s.runtime,
                             report=lambda msg, n=name: print(f"{n}: {msg}", flush=True))
        print(f"{name}: ready on {getattr(gen, 'runtime', '?')} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve.server import serve

    url = f"http://{args.host}:{args.port}"
    print(f"Serving the chat on {url} and the API on {url}/v1 (docs: {url}/docs); Ctrl+C to stop", flush=True)
    serve(_settings(args), host=args.host, port=args.port, auth=args.auth, api_key=args.api_key)
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from .serve.mcp import run

    run(_settings(args))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, format_drafts_report, format_report

    report = evaluate(Path(args.questions), corpus=[Path(c) for c in args.corpus] if args.corpus else None,
                      settings=_settings(args), limit=args.limit, use_history=not args.no_history)
    print(format_drafts_report(report) if "drafts" in report else format_report(report))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1))
    return 0


def _default(name: str) -> object:
    return next(f.default for f in dataclasses.fields(Settings) if f.name == name)


def _k(text: str) -> int:
    lo, hi = K_RANGE
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not lo <= k <= hi:
        raise argparse.ArgumentTypeError(f"k must be between {lo} and {hi}, not {k}")
    return k


def _options() -> dict[str, argparse.ArgumentParser]:
    """The options several commands share, each group a parent parser (its help text written once)."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--index-dir", metavar="DIR", help="the local index's folder (default: index/, or QA_INDEX_DIR)")
    where.add_argument("--store", help="where the index lives (default: QA_STORE): "
                       + "; ".join(STORE_KINDS.values()))
    mode = argparse.ArgumentParser(add_help=False)
    mode.add_argument("--mode", choices=MODES,
                      help=f"how answers are written (default: {_default('mode')}, or QA_MODE)")
    k = argparse.ArgumentParser(add_help=False)
    k.add_argument("--k", type=_k, metavar="N", help=f"passages to retrieve, {K_RANGE[0]} to {K_RANGE[1]} "
                   f"(default: {_default('k')}, or QA_K)")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", metavar="PRESET|PATH", help="model preset (qwen2.5-coder-1.5b, smollm2-135m), or a "
                       "local .gguf file or model folder (default: QA_MODEL, else the default preset)")
    model.add_argument("--runtime", choices=RUNTIMES, help=f"generation runtime (default: {_default('runtime')}, "
                       "or QA_RUNTIME)")
    return {"where": where, "mode": mode, "k": k, "model": model}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa", description="Offline question answering with verified citations.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True)
    o = _options()

    def command(name: str, help: str, func, *parents: str, description: str = "") -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=description or help, parents=[o[x] for x in parents])
        c.set_defaults(func=func)
        return c

    i = command("index", "build or update the index (incremental)", cmd_index, "where",
                description="Index exactly the files under PATH (default: corpus/ and uploads/), or add or remove "
                "some with --add / --remove; unchanged files cost nothing.")
    i.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to index")
    i.add_argument("--add", nargs="+", metavar="PATH", help="add or update these, keep the rest")
    i.add_argument("--remove", nargs="+", metavar="PATH", help="remove these (files, or everything under folders)")
    i.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    i.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="parse, chunk and embed on Ray: a local runtime, or ADDRESS (auto, ray://HOST:10001)")

    d = command("docs", "list the indexed documents (id, path, size, chunks, title)", cmd_docs, "where")
    d.add_argument("--json", action="store_true", help="print them as JSON")

    a = command("ask", "ask a question", cmd_ask, "where", "mode", "k", "model")
    a.add_argument("question", metavar="QUESTION", help=f"the question (up to {MAX_QUESTION_CHARS} characters)")
    a.add_argument("--json", action="store_true", help="print one JSON object with the fields of Answer")

    m = command("model", "convert the generator model once (done on first use otherwise)", cmd_model, "model")
    m.add_argument("--all", action="store_true", help="every installed preset")

    v = command("serve", "start the web chat at / and the HTTP API under /v1 (its docs at /docs)", cmd_serve,
                "where", "mode")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    v.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    v.add_argument("--auth", metavar="USER:PASSWORD", help="required to open the chat")
    v.add_argument("--api-key", metavar="KEY",
                   help="require 'Authorization: Bearer KEY' on every /v1 call (default: QA_API_KEY)")

    command("mcp", "run an MCP server over stdio (tools: ask, search; documents as resources)", cmd_mcp,
            "where", "mode")

    e = command("eval", "measure retrieval, answers, refusals, citations and latency", cmd_eval,
                "where", "mode", "k", "model")
    e.add_argument("questions", metavar="QUESTIONS", help='a JSONL file of {"q", "gold": [str], "answerable": bool}')
    e.add_argument("--corpus", nargs="+", metavar="DIR", help="index these folders into a temporary index first")
    e.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    e.add_argument("--no-history", action="store_true", help="ignore the questions' chat history (baseline)")
    e.add_argument("--json-out", metavar="FILE", help="also write the report as JSON here")
    return p


def synopsis(width: int = 100) -> str:
    """The usage of `qa` and of each command, with its one-line help, as the README shows them."""
    p = parser()
    lines = [_usage(p, width), ""]
    commands = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in commands._choices_actions}
    for name, c in commands.choices.items():
        lines += [f"# {helps[name]}", _usage(c, width)]
    return "\n".join(lines)


def _usage(p: argparse.ArgumentParser, width: int) -> str:
    f = argparse.HelpFormatter(p.prog, width=width)
    f.add_usage(None, [a for a in p._actions if not isinstance(a, argparse._HelpAction)],
                p._mutually_exclusive_groups, prefix="")
    return f.format_help().strip()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return args.func(args)
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

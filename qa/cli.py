"""Command line: `qa index | docs | ask | model | serve | mcp | eval`. Errors print one line and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .config import MODES, RUNTIMES, Settings
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
    from .indexing import update_index

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
    from .pipeline import Answer, ask_stream

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


STORE_HELP = "where the index lives: empty = --index-dir (default), x.db = Milvus Lite, http://HOST:PORT = Milvus"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa", description="Offline question answering with verified citations.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("index", help="build or update the index (incremental)")
    i.add_argument("paths", nargs="*", help="files or folders to index (default: corpus/)")
    i.add_argument("--add", nargs="+", metavar="PATH", help="add or update these, keep the rest")
    i.add_argument("--remove", nargs="+", metavar="PATH", help="remove these from the index")
    i.add_argument("--index-dir", help="index folder (default: index/)")
    i.add_argument("--store", help=STORE_HELP)
    i.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    i.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="parse, chunk and embed on Ray: a local runtime, or ADDRESS (auto, ray://HOST:10001)")
    i.set_defaults(func=cmd_index)

    d = sub.add_parser("docs", help="list the indexed documents")
    d.add_argument("--index-dir")
    d.add_argument("--store", help=STORE_HELP)
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_docs)

    a = sub.add_parser("ask", help="ask a question")
    a.add_argument("question")
    a.add_argument("--json", action="store_true", help="print one JSON object with the fields of Answer")
    a.add_argument("--k", type=int, help="passages to retrieve (default 5)")
    a.add_argument("--mode", choices=MODES)
    a.add_argument("--model", help="model preset (qwen2.5-coder-1.5b, smollm2-135m) or local .gguf / model folder")
    a.add_argument("--runtime", choices=RUNTIMES, help="generation runtime")
    a.add_argument("--index-dir")
    a.add_argument("--store", help=STORE_HELP)
    a.set_defaults(func=cmd_ask)

    m = sub.add_parser("model", help="convert the generator model once (done on first use otherwise)")
    m.add_argument("--model", help="preset or local .gguf / model folder (default: QA_MODEL or the default preset)")
    m.add_argument("--runtime", choices=RUNTIMES)
    m.add_argument("--all", action="store_true", help="every installed preset")
    m.set_defaults(func=cmd_model)

    v = sub.add_parser("serve", help="start the web chat")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=7860)
    v.add_argument("--auth", help="user:password required to open the chat")
    v.add_argument("--api-key", default=os.environ.get("QA_API_KEY"),
                   help="require 'Authorization: Bearer KEY' on every /v1 call (default: QA_API_KEY)")
    v.add_argument("--mode", choices=MODES, help="default answer mode")
    v.add_argument("--index-dir")
    v.add_argument("--store", help=STORE_HELP)
    v.set_defaults(func=cmd_serve)

    mc = sub.add_parser("mcp", help="run an MCP server over stdio (tools: ask, search; documents as resources)")
    mc.add_argument("--mode", choices=MODES, help="default answer mode of the ask tool")
    mc.add_argument("--index-dir")
    mc.add_argument("--store", help=STORE_HELP)
    mc.set_defaults(func=cmd_mcp)

    e = sub.add_parser("eval", help="measure retrieval, answers, refusals, citations and latency")
    e.add_argument("questions", help='JSONL lines of {"q", "gold": [str], "answerable": bool}')
    e.add_argument("--corpus", nargs="+", help="index these folders into a temporary index first")
    e.add_argument("--mode", choices=MODES)
    e.add_argument("--model")
    e.add_argument("--runtime", choices=RUNTIMES)
    e.add_argument("--k", type=int)
    e.add_argument("--limit", type=int, help="only the first N questions")
    e.add_argument("--no-history", action="store_true", help="ignore the questions' chat history (baseline)")
    e.add_argument("--json-out", help="also write the report as JSON here")
    e.add_argument("--index-dir")
    e.add_argument("--store", help=STORE_HELP)
    e.set_defaults(func=cmd_eval)
    return p


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

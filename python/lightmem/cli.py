"""The `lightmem` command: demo, ingest conversation files, search, list, stats, consolidate, history."""

from __future__ import annotations

import argparse
import contextlib
import importlib.resources
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional

from tqdm import tqdm  # type: ignore[import-untyped]

from lightmem.config import path_from_env
from lightmem.conversations import Conversation, load_conversations
from lightmem.limits import quoted
from lightmem.service.arguments import add_mcp_arguments, add_serve_arguments
from lightmem.types import MemoryNotFoundError

if TYPE_CHECKING:
    from lightmem.memory import Memory
    from lightmem.types import MemoryItem

logger = logging.getLogger("lightmem")

DEFAULT_USER = "default"
DEMO_LIMIT = 5
DEMO_QUERIES = (
    "Where does Maya live now?",
    "What is the name of Tom's dog?",
    "When is Lena's wedding?",
    "Which marathon is Tom running?",
)
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE, what shells report for a command whose reader left (`lightmem get-all | head`)."""


class CliError(ValueError):
    """A problem with the command line itself (e.g. a memory id that does not exist)."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the `lightmem` command with `argv` (default: sys.argv[1:]) and returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        _check_not_empty(args)
        args.command(args)
    except KeyboardInterrupt:
        print("lightmem: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of the output left: it read what it wanted, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush writes nowhere
        return EXIT_BROKEN_PIPE
    except Exception as err:
        if not isinstance(err, _user_errors()):
            raise
        if args.verbose:
            traceback.print_exc()
        print(f"lightmem: error: {_describe(err)}", file=sys.stderr)
        return EXIT_ERROR
    return 0


# --- argument parsing ------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightmem",
        description="A lightweight memory for LLM agents. Try `lightmem demo`.",
        parents=[_global_options()],
    )
    parser.add_argument("--version", action="version", version=f"lightmem {_version()}")
    parser.set_defaults(path=None, user=None, json=False, verbose=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    common = [_global_options()]

    demo = commands.add_parser(
        "demo", parents=common, help="ingest a small bundled conversation and search it"
    )
    demo.set_defaults(command=_demo)

    ingest = commands.add_parser(
        "ingest", parents=common, help="add conversation files (LoCoMo, JSON, JSONL)"
    )
    ingest.add_argument("files", nargs="+", metavar="FILE", help="conversation file(s)")
    ingest.add_argument(
        "--user-per-file", action="store_true", help="store each conversation under its own name as user id"
    )
    ingest.set_defaults(command=_ingest)

    search = commands.add_parser("search", parents=common, help="search the memories of a user")
    search.add_argument("query", metavar="QUERY", help="what to look for, in plain words")
    search.add_argument("--limit", type=_positive_int, default=10, metavar="N", help="results (default 10)")
    search.set_defaults(command=_search)

    get_all = commands.add_parser("get-all", parents=common, help="list the memories of a user, oldest first")
    get_all.add_argument("--limit", type=_positive_int, default=None, metavar="N", help="at most N memories")
    get_all.set_defaults(command=_get_all)

    stats = commands.add_parser(
        "stats",
        parents=common,
        help="memories, pending messages and lifetime counters (LLM calls, tokens, words pruned) of a user "
        "(the whole store unless --user)",
    )
    stats.set_defaults(command=_stats)

    consolidate = commands.add_parser(
        "consolidate", parents=common, help="merge duplicates and resolve conflicts (all users unless --user)"
    )
    consolidate.set_defaults(command=_consolidate)

    worker = commands.add_parser(
        "worker",
        parents=common,
        help="flush buffers and consolidate new memories as they come, sharing the work with other workers "
        "(stops after the current job on SIGTERM)",
    )
    worker.add_argument("--idle", type=float, default=30.0, metavar="S", help="flush a buffer idle for S s")
    worker.add_argument(
        "--threshold",
        type=_positive_int,
        default=None,
        metavar="WORDS",
        help="flush a buffer past WORDS words",
    )
    worker.add_argument("--poll", type=float, default=1.0, metavar="S", help="look for work every S s")
    worker.add_argument("--flush-only", action="store_true", help="flush, leave consolidation to others")
    worker.add_argument("--once", action="store_true", help="do what is due now, then exit")
    worker.set_defaults(command=_worker)

    history = commands.add_parser("history", parents=common, help="the recorded changes of one memory")
    history.add_argument("memory_id", metavar="ID", help="a memory id, as `get-all` and `search` show them")
    history.set_defaults(command=_history)

    serve = commands.add_parser("serve", parents=common, help="an HTTP API over the memory (extra [server])")
    add_serve_arguments(serve)
    serve.set_defaults(command=_serve)
    mcp = commands.add_parser(
        "mcp", parents=common, help="an MCP server over the memory, stdio or --http (extra [mcp])"
    )
    add_mcp_arguments(mcp)
    mcp.set_defaults(command=_mcp)
    return parser


def _worker(args: argparse.Namespace) -> None:
    from lightmem.worker import run_worker

    stats = run_worker(
        _location(args.path, create=False),
        threshold=args.threshold,
        idle_s=args.idle,
        poll_s=args.poll,
        consolidate=not args.flush_only,
        once=args.once,
    )
    if args.json:
        _print_json(stats.as_dict())
    else:
        _print_mapping(stats.as_dict())


def _serve(args: argparse.Namespace) -> None:
    _needs_extra("serve", "server", "uvicorn", "starlette")
    from lightmem.service.serve import run

    run(args)


def _mcp(args: argparse.Namespace) -> None:
    _needs_extra("mcp", "mcp", "mcp")
    from lightmem.service.mcp_server import run

    run(args)


def _needs_extra(command: str, extra: str, *modules: str) -> None:
    """CliError naming the pip command unless `modules` can be imported."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise CliError(f"`lightmem {command}` needs {', '.join(missing)}: pip install 'lightmem-rs[{extra}]'")


def _version() -> str:
    from lightmem import __version__

    return __version__


def _global_options() -> argparse.ArgumentParser:
    """The options accepted both before and after the command (SUPPRESS: an absent one keeps its value)."""
    options = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument(
        "--path",
        metavar="DIR",
        help="memory directory or postgresql:// URL (default: $LIGHTMEM_PATH or ./lightmem-data; `demo`: "
        "a temporary one)",
    )
    options.add_argument("--user", metavar="USER", help=f"user id (default {DEFAULT_USER!r})")
    options.add_argument("--json", action="store_true", help="machine-readable output")
    options.add_argument("-v", "--verbose", action="store_true", help="log progress, tracebacks on errors")
    return options


def _check_not_empty(args: argparse.Namespace) -> None:
    """CliError for a --path or --user given empty: `--user "$NAME"` with NAME unset searched, listed
    and stored the default user's memories, `--path "$DIR"` the default directory's."""
    for option, default in (("path", "$LIGHTMEM_PATH or ./lightmem-data"), ("user", repr(DEFAULT_USER))):
        value = getattr(args, option, None)
        if value is not None and not value.strip():
            raise CliError(f"--{option} is empty: give a value, or leave --{option} out for {default}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


# --- errors ----------------------------------------------------------------------------------------
def _user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions reported as one line: bad input, missing files, store and LLM failures."""
    from lightmem.llm import LLMError
    from lightmem.store import StoreError

    return (ValueError, OSError, KeyError, StoreError, LLMError)


def _describe(err: BaseException) -> str:
    if isinstance(err, FileNotFoundError) and err.filename:
        return f"{err.filename}: no such file or directory"
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err) or type(err).__name__


# --- commands --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _open(path: Optional[str], create: bool = False) -> Iterator[Memory]:
    """The memory at `path` (or $LIGHTMEM_PATH, or the default); only `create` makes a new one. Its
    extraction is inline: a command is a batch, which ends when its work is stored (and `ingest` reports
    every unit it made)."""
    from lightmem.memory import Memory

    with Memory(_location(path, create), extraction="inline") as memory:
        yield memory


def _location(path: Optional[str], create: bool) -> str:
    """`path`, or $LIGHTMEM_PATH, or the default; CliError unless it is a URL, holds a memory or `create`:
    a read or a worker on a directory without one made an empty store in it (any directory, a typo's)."""
    from lightmem.memory import DEFAULT_PATH
    from lightmem.store.postgres import is_postgres_url

    location = path or path_from_env() or DEFAULT_PATH
    if (
        not create
        and not is_postgres_url(location)
        and not os.path.isfile(os.path.join(location, "memory.db"))
    ):
        raise CliError(
            f"no memory at {location!r} (no memory.db there): add conversations with `lightmem ingest "
            "FILE`, or pass --path"
        )
    return location


def _user(args: argparse.Namespace) -> str:
    return args.user or DEFAULT_USER


def _demo(args: argparse.Namespace) -> None:
    resource = importlib.resources.files("lightmem") / "data" / "demo_conversation.json"
    with importlib.resources.as_file(resource) as path:
        conversations = load_conversations(path)
    with contextlib.ExitStack() as stack:
        directory = args.path or stack.enter_context(tempfile.TemporaryDirectory(prefix="lightmem-demo-"))
        memory = stack.enter_context(_open(directory, create=True))
        report = _add_conversations(memory, conversations, lambda _: _user(args), quiet=args.json)
        results = {
            query: memory.search(query, user_id=_user(args), limit=DEMO_LIMIT) for query in DEMO_QUERIES
        }
        stats = memory.stats(user_id=_user(args)).as_dict()
    if args.json:
        searches = [{"query": q, "results": [asdict(i) for i in items]} for q, items in results.items()]
        _print_json({"path": args.path, "ingest": report, "searches": searches, "stats": stats})
        return
    where = args.path or "a temporary directory (use --path DIR to keep it)"
    print(f"Demo: three chats between Maya and Tom (March to June 2024), stored in {where}.")
    _print_ingest(report)
    for query, items in results.items():
        print(f"\n> {query}")
        _print_items(items, "  (no results)")
    print()
    _print_mapping(stats)


def _ingest(args: argparse.Namespace) -> None:
    conversations = [c for file in args.files for c in load_conversations(file)]

    def user_of(conversation: Conversation) -> str:
        return conversation.name if args.user_per_file else _user(args)

    with _open(args.path, create=True) as memory:
        report = _add_conversations(memory, conversations, user_of, quiet=args.json)
    if args.json:
        _print_json(report)
    else:
        _print_ingest(report)


def _add_conversations(
    memory: Memory, conversations: Sequence[Conversation], user_of: Callable[[Conversation], str], quiet: bool
) -> dict[str, Any]:
    """Adds every session of every conversation, then flushes; returns counts and timing."""
    turns = sum(c.turns for c in conversations)
    stored = 0
    start = time.perf_counter()
    # The size is given because tqdm draws nothing on a terminal that reports 0 columns and rows (some
    # ptys do); shutil falls back to 80 x 24 there.
    columns, rows = shutil.get_terminal_size()
    bar_options = {"ncols": columns, "nrows": rows, "disable": True if quiet else None}
    with tqdm(total=turns, unit="turn", desc="ingest", **bar_options) as bar:
        for conversation in conversations:
            for session in conversation.sessions:
                stored += len(memory.add(session, user_id=user_of(conversation)))
                bar.update(len(session))
        bar.set_postfix_str("extracting what is left in the buffer")
        stored += len(memory.flush())
    elapsed = time.perf_counter() - start
    return {
        "users": sorted({user_of(c) for c in conversations}),
        "conversations": len(conversations),
        "sessions": sum(len(c.sessions) for c in conversations),
        "turns": turns,
        "memories_added": stored,
        "elapsed_s": round(elapsed, 3),
        "turns_per_s": round(turns / elapsed, 1) if elapsed > 0 else None,
    }


def _search(args: argparse.Namespace) -> None:
    with _open(args.path) as memory:
        items = memory.search(args.query, user_id=_user(args), limit=args.limit)
    _show_items(args, items, f"no memories of user {_user(args)!r} match")


def _get_all(args: argparse.Namespace) -> None:
    with _open(args.path) as memory:
        items = memory.get_all(user_id=_user(args), limit=args.limit)
    _show_items(args, items, f"no memories for user {_user(args)!r} (add some with `lightmem ingest FILE`)")


def _stats(args: argparse.Namespace) -> None:
    with _open(args.path) as memory:
        stats = memory.stats(user_id=args.user).as_dict()
    if args.json:
        _print_json({"user": args.user, **stats})
        return
    print(f"user {args.user!r}:" if args.user else "the whole store (all users; --user USER for one):")
    _print_mapping(stats)


def _consolidate(args: argparse.Namespace) -> None:
    with _open(args.path) as memory:
        consolidate = getattr(memory, "consolidate", None)
        if consolidate is None:
            raise CliError("consolidate is not available in this version of lightmem")
        report = consolidate(user_id=args.user)
    fields = (
        asdict(report) if is_dataclass(report) and not isinstance(report, type) else {"report": str(report)}
    )
    if args.json:
        _print_json(fields)
    else:
        _print_mapping(fields)


def _history(args: argparse.Namespace) -> None:
    with _open(args.path) as memory:
        try:
            entries = memory.history(args.memory_id, user_id=args.user)  # any user's without --user
        except MemoryNotFoundError:
            raise CliError(
                f"no memory with id {quoted(args.memory_id)} (`lightmem get-all` lists the ids)"
            ) from None
    if args.json:
        _print_json([asdict(entry) for entry in entries])
        return
    for entry in entries:
        change = f"{entry.old_text!r} -> {entry.new_text!r}" if entry.old_text else repr(entry.new_text)
        reason = f"  ({entry.reason})" if entry.reason else ""
        print(f"{_date(entry.created_at, '%Y-%m-%d %H:%M')}  {entry.event:<7} {change}{reason}")


# --- output ----------------------------------------------------------------------------------------
def _show_items(args: argparse.Namespace, items: Sequence[MemoryItem], empty: str) -> None:
    if args.json:
        _print_json([asdict(item) for item in items])
    else:
        _print_items(items, empty)


def _print_items(items: Sequence[MemoryItem], empty: str) -> None:
    if not items:
        print(empty)
    for item in items:
        score = f"{item.score:.3f}  " if item.score is not None else ""
        print(f"{score}{_date(item.event_time, '%Y-%m-%d')}  {item.text}")
        print(f"{'':{len(score)}}id {item.id}  source {', '.join(item.source) or '-'}")


def _print_ingest(report: dict[str, Any]) -> None:
    rate = f" ({report['turns_per_s']} turns/s)" if report["turns_per_s"] else ""
    counts = f"{report['conversations']} conversation(s), {report['turns']} turns"
    users = report["users"]
    named = ", ".join(repr(user) for user in users)
    print(f"{counts} -> {report['memories_added']} memories in {report['elapsed_s']:.1f} s{rate}")
    print(f"stored for user{'s' if len(users) > 1 else ''} {named} (the --user of later commands)")


def _print_mapping(mapping: dict[str, Any]) -> None:
    width = max((len(key) for key in mapping), default=0)
    for key, value in mapping.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")


def _print_json(value: Any) -> None:
    print(json.dumps(value, default=_json_default, ensure_ascii=False, indent=2))


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _date(value: Optional[datetime], fmt: str) -> str:
    return value.strftime(fmt) if value else "-" * len(datetime(2000, 1, 1).strftime(fmt))


if __name__ == "__main__":
    sys.exit(main())
